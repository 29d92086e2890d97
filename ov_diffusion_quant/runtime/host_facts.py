"""The facts about this host that decide stage results, and the inference precision they imply.

DVC's cache key is made of a stage's command, deps and params. The host a stage runs on is none
of these, yet it decides results: OpenVINO runs an FP16 IR in bf16 on CPUs with AMX or
avx512_bf16 and in f32 elsewhere (calibration data, NNCF statistics and similarity change with
it), and latency is a property of the CPU. The `host` stage therefore writes these facts to small
files that the host-dependent stages list as deps:

    data/host/libraries.json   versions of the libraries that produce outputs      every stage
    data/host/runtime.json     ISA class and the inference precision to use         calibrate, quantize, evaluate, benchmark
    data/host/cpu.json         the CPU model and core count                         benchmark

so a result restored from a cache was produced by the same library versions, on the same ISA class
and precision (and, for latency, the same CPU). The precision is explicit: params `host.precision`
(`auto` = OpenVINO's default for this CPU, or `f32` / `bf16`), resolved here and applied to every
compile by ov_diffusion_quant.runtime.devices.compile_config.

`OVDQ_HOST_ISA` (one of ISA_CLASSES) overrides the detected ISA class: it emulates a
host of that class where the precision follows from it (a class without bf16 runs f32), for tests
and for measuring what a smaller host would get.
"""

from __future__ import annotations

import functools
import json
import os
from importlib import metadata
from pathlib import Path

from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.config.specs import PRECISIONS

HOST_DIR = Path("data/host")
LIBRARIES_FILE = HOST_DIR / "libraries.json"
RUNTIME_FILE = HOST_DIR / "runtime.json"
CPU_FILE = HOST_DIR / "cpu.json"

# Distributions whose version changes what a stage writes (exporters, tracers, kernels, NNCF, metrics).
LIBRARIES = ("openvino", "openvino-tokenizers", "openvino-genai", "nncf", "optimum", "optimum-intel", "diffusers",
             "transformers", "tokenizers", "torch", "torchvision", "torchmetrics", "safetensors", "numpy", "datasets",
             "huggingface-hub", "pillow")
ISA_CLASSES = ("amx", "avx512_bf16", "avx512_vnni", "avx512", "avx2")
BF16_CLASSES = ("amx", "avx512_bf16")  # where OpenVINO runs FP16 IR in bf16 by default
# Where INT8 dot products saturate: without VNNI the CPU sums each pair of u8×s8 products in 16 bits (vpmaddubsw),
# saturating (OpenVINO's "saturation issue"; tests/test_emulation.py reproduces it). Conservative for AVX2 CPUs
# with AVX-VNNI, which are in class avx2.
SATURATING_INT8_CLASSES = ("avx512", "avx2")
ISA_OVERRIDE_ENV = "OVDQ_HOST_ISA"  # set by `ovdq emulate` (orchestration/emulation.py)


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def isa_class(flags: set[str] | None = None) -> str:
    """The CPU's class for what OpenVINO does with it (see ISA_CLASSES), most capable first."""
    override = os.environ.get(ISA_OVERRIDE_ENV)
    if override:
        if override not in ISA_CLASSES:
            raise UserError(f"{ISA_OVERRIDE_ENV}={override!r}: allowed are {', '.join(ISA_CLASSES)}")
        return override
    flags = cpu_flags() if flags is None else flags
    if {"amx_int8", "amx_bf16"} <= flags:
        return "amx"
    if "avx512_bf16" in flags:
        return "avx512_bf16"
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags:
        return "avx512"
    return "avx2"


def host_label() -> str:
    """The host class, marked when `ovdq emulate` set it: names a measurement's file per kind of CPU."""
    return isa_class() + ("-emulated" if os.environ.get(ISA_OVERRIDE_ENV) else "")


def has_bf16(isa: str) -> bool:
    return isa in BF16_CLASSES


def int8_sums_saturate(isa: str) -> bool:
    return isa in SATURATING_INT8_CLASSES


def resolve_precision(requested: str, isa: str) -> str:
    """The inference precision for FP16 IR: what OpenVINO picks on this class (auto), or the one asked for."""
    if requested not in PRECISIONS:
        raise UserError(f"host.precision = {requested!r}: allowed are {', '.join(PRECISIONS)}")
    if requested == "auto":
        return "bf16" if has_bf16(isa) else "f32"
    if requested == "bf16" and not has_bf16(isa):
        raise UserError(f"host.precision = 'bf16' but this host ({isa}) has no bf16: use auto or f32")
    return requested


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def facts(requested_precision: str = "auto") -> dict[str, dict]:
    """What the host stage writes, one mapping per file."""
    isa = isa_class()
    return {
        "libraries": library_versions(),
        "runtime": {"isa_class": isa, "precision": resolve_precision(requested_precision, isa)},
        "cpu": {"model": cpu_model(), "cores": os.cpu_count(), "isa_class": isa},
    }


def recorded_runtime() -> dict | None:
    """data/host/runtime.json of the workspace in the current directory, as the host stage wrote it, or None
    outside a pipeline run."""
    return _read_runtime(RUNTIME_FILE.resolve())


@functools.lru_cache(maxsize=8)
def _read_runtime(path: Path) -> dict | None:
    if not path.exists():
        return None
    return json.loads(path.read_text())


def inference_precision() -> str | None:
    """The precision every compile uses: the host stage's resolution, or None (the device's default)."""
    runtime = recorded_runtime()
    if runtime is None:
        return None
    if runtime.get("isa_class") != isa_class():
        raise UserError(f"{RUNTIME_FILE} was written for a {runtime.get('isa_class')} host, this one is "
                        f"{isa_class()}: run `dvc repro` (its host stage rewrites it)")
    return runtime["precision"]


def provenance() -> dict:
    """The host block every metrics file carries: where and how its numbers were made."""
    runtime = recorded_runtime() or {}
    isa = isa_class()
    recorded_here = runtime.get("isa_class") == isa
    return {
        "cpu": cpu_model(),
        "isa_class": isa,
        "precision": runtime["precision"] if recorded_here else resolve_precision("auto", isa),
        "openvino": library_versions()["openvino"],
        "nncf": library_versions()["nncf"],
    }


def measured(variant, recipes: dict[str, str] | None) -> dict:
    """What a result measured, so that a committed figure reads without its commit message: the variant and its
    model's source, the size and steps it generated at, the inference precision that ran, and the recipes of the
    optimized model (component -> label; None where none was recorded)."""
    return {"variant": variant.name, "family": variant.model.family, "source": variant.model.source,
            "revision": variant.model.revision, "height": variant.generation.height,
            "width": variant.generation.width, "steps": variant.generation.steps,
            "precision": provenance()["precision"], "recipes": recipes}
