"""The host a benchmark ran on, recorded beside its numbers: OpenVINO version, device, cores, ISA flags."""

from __future__ import annotations

import os
from pathlib import Path

CPU_FLAGS = ("amx_int8", "amx_bf16", "avx512_vnni", "avx_vnni")


def cpu_flags() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return {flag: "unknown (no /proc/cpuinfo)" for flag in CPU_FLAGS}
    flags = set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return {flag: "yes" if flag in flags else "no" for flag in CPU_FLAGS}


def environment(device: str, runtimes: set[str]) -> dict:
    import openvino as ov

    core = ov.Core()
    env = {
        "openvino": ov.get_version(),
        "device": device,
        "device_name": str(core.get_property(device, "FULL_DEVICE_NAME")),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_flags": cpu_flags(),
    }
    if "genai" in runtimes:
        import openvino_genai

        env["openvino_genai"] = openvino_genai.get_version()
    return env
