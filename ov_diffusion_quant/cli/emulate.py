"""ovdq emulate <host class> -- <command ...>: run a command as if on a smaller host class.

    ovdq emulate avx512 -- make test
    ovdq emulate avx2 -- ovdq profile sdxl-turbo-arch

Host classes: avx2, avx512, avx512_vnni, avx512_bf16, on a CPU that has the class. The command gets the class's ISA
cap, host class and OpenVINO CPU defaults (ov_diffusion_quant/orchestration/emulation.py has the details); it cannot get
the other CPU's clock, caches or memory bandwidth, so compare as ratios on one machine.
"""

from __future__ import annotations

import argparse
import os
import sys

# standard library only, and not the entry points' setup: see orchestration/emulation.py
from ov_diffusion_quant.orchestration.emulation import CANNOT_RUN, ONEDNN_ISA, CannotEmulate, emulated_environment


def refuse(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)  # one line, as the entry points' errors
    return 2


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("host_class", help=f"one of {', '.join(ONEDNN_ISA)}")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="after --, the command to run")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = arguments().parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command and args.host_class in ONEDNN_ISA:
        return refuse("no command: give it after --, e.g. `-- make test`")
    try:
        env = emulated_environment(args.host_class)
    except CannotEmulate as error:
        return refuse(str(error))
    if args.host_class in CANNOT_RUN:
        print(f"note: emulated {args.host_class} cannot run {CANNOT_RUN[args.host_class]}", file=sys.stderr)
    sys.stdout.flush()
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    raise SystemExit(main())
