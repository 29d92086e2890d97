"""Run a command as if on a smaller host: `python scripts/emulate_host.py avx512 -- make test`.

For measuring what a host class this machine is not would get (docs/hosts-and-caching.md#emulating-a-host):
- OVDQ_HOST_ISA makes the pipeline's host stage report the class, so its precision (f32 without bf16) applies;
- ONEDNN_MAX_CPU_ISA caps the kernels oneDNN picks, in OpenVINO and in torch (e.g. avx512: no VNNI, no AMX:
  INT8 runs in brgemm_avx512_i8 instead of brgemm_avx512_amx_i8);
- every openvino.Core gets the CPU defaults OpenVINO would pick on such a CPU by itself, which it otherwise reads
  from CPUID past the cap (emulate_host/sitecustomize.py): f32 on classes without bf16; on avx2 no dynamic
  quantization of weight-compressed layers (it needs VNNI; with the cap and AVX-512 CPUID the plugin asks oneDNN
  for a kernel the cap forbids, and compile fails).
What it cannot emulate: the other CPU's clock, caches and memory bandwidth. Compare as ratios on one machine.

Standard library only, and not behind the entry points' setup (ov_diffusion_quant.common.errors), which would put its quiet
logging variables into the environment the command inherits.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# host class (ov_diffusion_quant/runtime/host_facts.py ISA_CLASSES) -> oneDNN's cap (oneDNN docs, "CPU Dispatcher Controls")
ONEDNN_ISA = {
    "avx2": "AVX2",
    "avx512": "AVX512_CORE",
    "avx512_vnni": "AVX512_CORE_VNNI",
    "avx512_bf16": "AVX512_CORE_BF16",
}
WITHOUT_BF16 = {"avx2", "avx512", "avx512_vnni"}  # the classes not in ov_diffusion_quant/runtime/host_facts.py BF16_CLASSES (tested)
# the CPU flag each class needs (/proc/cpuinfo): a cap only takes features away, so the CPU must have the class
REQUIRED_FLAG = {"avx2": "avx2", "avx512": "avx512f", "avx512_vnni": "avx512_vnni", "avx512_bf16": "avx512_bf16"}
# OpenVINO's CPU properties each class gets by default (sitecustomize.py sets them on every Core): the ones the
# plugin would choose by itself on such a CPU but decides from CPUID, past oneDNN's cap
CPU_DEFAULTS = {name: {"INFERENCE_PRECISION_HINT": "f32"} for name in WITHOUT_BF16}
CPU_DEFAULTS["avx2"]["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = 0
# What OpenVINO 2026.4.1 cannot run under a class's cap on a bigger CPU (a JIT reorder of a u8 constant to i32,
# compiled past the cap, crashes): said before the command starts, since the crash itself is a segfault
CANNOT_RUN = {"avx2": "the PixArt transformer (OpenVINO's CPU plugin segfaults compiling it under the AVX2 cap "
                      "on an AVX-512 CPU): emulate avx2 for SDXL variants only"}


def refuse(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)  # one line, as the entry points' errors
    return 2


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return next((set(line.split(":", 1)[1].split()) for line in text.splitlines() if line.startswith("flags")), set())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("host_class", help=f"one of {', '.join(ONEDNN_ISA)}")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="after --, the command to run")
    args = parser.parse_args(argv)
    if args.host_class not in ONEDNN_ISA:
        return refuse(f"cannot emulate {args.host_class!r} (not a host class): allowed are {', '.join(ONEDNN_ISA)}")
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        return refuse("no command: give it after --, e.g. `-- make test`")
    if REQUIRED_FLAG[args.host_class] not in cpu_flags():
        return refuse(f"cannot emulate {args.host_class!r} on this CPU: it lacks {REQUIRED_FLAG[args.host_class]} "
                      "(emulation only takes features away; run on the host class itself)")
    if args.host_class in CANNOT_RUN:
        print(f"note: emulated {args.host_class} cannot run {CANNOT_RUN[args.host_class]}", file=sys.stderr)
    env = dict(os.environ, OVDQ_HOST_ISA=args.host_class, ONEDNN_MAX_CPU_ISA=ONEDNN_ISA[args.host_class])
    if args.host_class in CPU_DEFAULTS:
        env["OVDQ_EMULATED_CPU_DEFAULTS"] = json.dumps(CPU_DEFAULTS[args.host_class])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent / "emulate_host"),
                                                      env.get("PYTHONPATH")]))
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    sys.exit(main())
