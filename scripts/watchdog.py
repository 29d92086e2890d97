"""Run a command in its own process group and kill that group if the machine runs low on memory.

    python scripts/watchdog.py [--min-available-gb 1.5] -- <command ...>

For the heavy `source: arch` runs on a shared machine: an out-of-memory in our job should end our
job, not whatever the kernel's OOM killer picks. Prints the peak RSS of the command's process tree.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import time

import psutil

from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.resources import GB, mem_available_gb, tree_memory_bytes

log = logging.getLogger(__name__)


@main_with_clear_errors
def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--min-available-gb", type=float, default=1.5)
    parser.add_argument("--require-available-gb", type=float, default=0.0,
                        help="refuse to start unless MemAvailable is at least this (the machine is shared)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if mem_available_gb() < args.require_available_gb:
        log.error("watchdog: only %.1f GB available, %s GB required: not starting (other work is using this "
                  "machine's memory; try again later)", mem_available_gb(), args.require_available_gb)
        return 75
    process = subprocess.Popen(command, start_new_session=True)
    tree = psutil.Process(process.pid)
    peak = 0.0
    try:
        while process.poll() is None:
            peak = max(peak, tree_memory_bytes(tree)[0] / GB)
            if mem_available_gb() < args.min_available_gb:
                log.error("watchdog: MemAvailable below %s GB, killing process group %d (peak tree RSS %.1f GB)",
                          args.min_available_gb, process.pid, peak)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return 137
            time.sleep(0.5)
    except BaseException:  # interrupted: the command runs in its own session, so it would outlive us
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()
        raise
    log.info("watchdog: exit %d, peak tree RSS %.1f GB", process.returncode, peak)
    return process.returncode

if __name__ == "__main__":
    raise SystemExit(main())
