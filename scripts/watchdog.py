"""Run a command in its own process group and kill that group if the machine runs low on memory.

    python scripts/watchdog.py [--min-available-gb 1.5] -- <command ...>

For the heavy `source: arch` runs on a shared machine: an out-of-memory in our job should end our
job, not whatever the kernel's OOM killer picks. Prints the peak RSS of the command's process tree.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def mem_available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def tree_rss_gb(root: int) -> float:
    """Sum of VmRSS over ``root`` and its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields["PPid"].strip()), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-available-gb", type=float, default=1.5)
    parser.add_argument("--require-available-gb", type=float, default=0.0,
                        help="refuse to start unless MemAvailable is at least this (the machine is shared)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if mem_available_gb() < args.require_available_gb:
        print(f"watchdog: only {mem_available_gb():.1f} GB available, {args.require_available_gb} GB required: "
              "not starting (other work is using this machine's memory; try again later)", file=sys.stderr)
        return 75
    process = subprocess.Popen(command, start_new_session=True)
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, tree_rss_gb(process.pid))
        if mem_available_gb() < args.min_available_gb:
            print(f"watchdog: MemAvailable below {args.min_available_gb} GB, killing process group {process.pid} "
                  f"(peak tree RSS {peak:.1f} GB)", file=sys.stderr, flush=True)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return 137
        time.sleep(0.5)
    print(f"watchdog: exit {process.returncode}, peak tree RSS {peak:.1f} GB", file=sys.stderr, flush=True)
    return process.returncode


if __name__ == "__main__":
    raise SystemExit(main())
