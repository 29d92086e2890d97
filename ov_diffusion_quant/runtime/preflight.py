"""Pre-flight check of a heavy stage: refuse, in one line and before any work, when the machine clearly has less
memory or disk than the stage will need.

The memory estimate is, in this order: the peak the same stage reached for the same variant and device on this host
class and precision (the machine's run history, ``ov_diffusion_quant/common/resources.py``; a run stopped or killed
for memory counts with the peak it had reached), the peak in the stage's committed metrics when they come from this
host class and precision (``git show HEAD:metrics/...``, since DVC removes the workspace's copy before it runs the
stage), and otherwise the model's size times the stage's factor below. Disk is estimated from the model's size.
A record counts only when it was made on a model of the same size (within ``SAME_SIZE``): when a variant's model
changes, its old peaks say nothing. The stage refuses when less than ``REFUSE_BELOW`` of the estimate is available:
an estimate is not a promise.

``OVDQ_PREFLIGHT=warn`` logs the shortfall and goes ahead; ``off`` skips the check.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import ResourceError, UserError
from ov_diffusion_quant.common.outputs import dir_size_bytes
from ov_diffusion_quant.common.resources import (GB, RunRecord, disk_free_gb, guarded, history, mem_available_gb,
                                                 mount_point, report_unfinished_runs)

PREFLIGHT_ENV = "OVDQ_PREFLIGHT"
MODES = ("check", "warn", "off")
REFUSE_BELOW = 0.8
SAME_SIZE = 0.1  # relative difference in model size under which a recorded peak still applies

# Peak RSS of a stage over the size of what it loads, measured on the full-size architectures (reports/scaling/ and
# metrics/*-arch/, 2-core AMD EPYC avx512_bf16 and AMX Xeon): calibrate 2.2 (SDXL, bf16) to 2.9 (PixArt) times
# the FP IR, 3.2 with f32 forced; quantize 3.2 (SDXL's UNet) times the calibrated component's IR, 2.1 (T5-XXL to
# INT4) for weight-only; benchmark (its f32 configuration is the largest) 3.3 to 4.1; export 2.2 times the weights in
# 16 bit. Activations are not in these: PixArt's transformer at 1024² peaked at 15 times its IR while quantizing.
MEMORY_FACTORS = {
    "export": {"bf16": 2.2, "f32": 2.2},
    "calibrate": {"bf16": 2.2, "f32": 3.2},
    "quantize": {"bf16": 3.0, "f32": 3.0},  # weight-only recipes: WEIGHT_ONLY_QUANTIZE_FACTOR
    "statistics": {"bf16": 3.0, "f32": 3.0},  # quantize's statistics passes, for several recipes at once
    "benchmark": {"bf16": 3.3, "f32": 3.3},
}
WEIGHT_ONLY_QUANTIZE_FACTOR = 2.0  # the model and its compressed copy
BASE_GB = 1.0  # the interpreter with torch, OpenVINO and NNCF loaded: the tiny models' stages peak at about 0.8 GB


@dataclass
class Estimate:
    memory_gb: float | None
    memory_basis: str
    disk_gb: float | None = None
    disk_path: Path | None = None

    model_gb: float | None = None

    def to_json(self) -> dict:
        return {"memory_gb": self.memory_gb, "memory_basis": self.memory_basis, "disk_gb": self.disk_gb,
                "disk_path": str(self.disk_path) if self.disk_path else None,
                "model_gb": round(self.model_gb, 2) if self.model_gb is not None else None}


def _same_size(recorded_gb: float | None, model_gb: float | None) -> bool:
    """Unknown on either side counts as the same (records from before sizes were kept)."""
    if recorded_gb is None or model_gb is None:
        return True
    return abs(recorded_gb - model_gb) <= SAME_SIZE * max(recorded_gb, model_gb)


def mode() -> str:
    value = os.environ.get(PREFLIGHT_ENV, "check") or "check"
    if value not in MODES:
        raise UserError(f"{PREFLIGHT_ENV}={value!r}: expected one of {', '.join(MODES)}")
    return value


def _recorded_in_metrics(stage: str, variant: str, device: str | None, isa: str, precision: str,
                         model_gb: float | None) -> float | None:
    """The peak in the stage's metrics file (the workspace's, else the committed one) when made on this host class."""
    path = paths.metrics(variant, f"{stage}.json", device)
    try:
        text = path.read_text() if path.exists() else subprocess.run(
            ["git", "show", f"HEAD:{path.as_posix()}"], capture_output=True, text=True, check=True, timeout=30).stdout
        data = json.loads(text)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    host, resources = data.get("host") or {}, data.get("resources") or {}
    peak, recorded_gb = resources.get("peak_rss_gb"), (resources.get("estimate") or {}).get("model_gb")
    if peak and host.get("isa_class") == isa and host.get("precision") == precision and _same_size(recorded_gb,
                                                                                                   model_gb):
        return float(peak)
    return None


def estimate(stage: str, variant: str, device: str | None, isa: str, precision: str, model_gb: float | None,
             factor: float | None = None, disk_gb: float | None = None, disk_path: Path | None = None,
             largest_part: tuple[str, float] | None = None) -> Estimate:
    """``model_gb``: the size of what the stage loads (None when unknown: no size-based estimate).
    ``largest_part``: (name, GB) of the largest part when the stage loads the parts one at a time (quantize): the
    size-based estimate is then of that part."""
    key = (stage, variant, device, isa, precision)
    records: list[RunRecord] = [record for record in history()
                                if record.key == key and _same_size(record.model_gb, model_gb)]
    if records:
        last = records[-1]
        killed = [record for record in records if record.outcome in ("killed", "stopped")]
        peak = max([last.peak_rss_gb] + [record.peak_rss_gb for record in killed if record.started >= last.started])
        how = "its peak" if last.outcome == "finished" else f"the peak it reached before it was {last.outcome}"
        memory = Estimate(round(peak, 1), f"{how} on this host ({isa}, {precision}) on {last.started[:10]}")
    elif (peak := _recorded_in_metrics(stage, variant, device, isa, precision, model_gb)) is not None:
        memory = Estimate(round(peak, 1), f"its committed metrics from this host class ({isa}, {precision})")
    elif model_gb is not None:
        factor = factor if factor is not None else MEMORY_FACTORS[stage][precision if precision == "f32" else "bf16"]
        name, size = largest_part or ("the model", model_gb)
        memory = Estimate(round(BASE_GB + factor * size, 1),
                          f"{BASE_GB:g} GB + {factor:g} x the model's {size:.2f} GB" if largest_part is None else
                          f"{BASE_GB:g} GB + {factor:g} x its largest part, {name}, of {size:.2f} GB")
    else:
        memory = Estimate(None, "no record and no model size")
    memory.disk_gb, memory.disk_path = (round(disk_gb, 2) if disk_gb is not None else None), disk_path
    memory.model_gb = model_gb
    return memory


def check(label: str, need: Estimate) -> dict:
    """Refuse (``ResourceError``) when the machine clearly lacks the memory or disk of ``need``; returns the estimate
    with what was available, for the stage's metrics."""
    how = mode()
    available = round(mem_available_gb(), 1)
    record = {**need.to_json(), "available_memory_gb": available, "mode": how}
    needs, remedies = [], []
    if need.memory_gb is not None and available < REFUSE_BELOW * need.memory_gb:
        needs.append(f"about {need.memory_gb:.1f} GB of memory ({need.memory_basis}), {available:.1f} GB available")
        remedies.append("close other programs")
    if need.disk_gb is not None and need.disk_path is not None:
        free = round(disk_free_gb(need.disk_path), 1)
        record["available_disk_gb"] = free
        if free < need.disk_gb:
            needs.append(f"about {need.disk_gb:.1f} GB of disk for {need.disk_path}, {free:.1f} GB free on "
                         f"{mount_point(need.disk_path)}")
            remedies.append("free disk space (`dvc gc` drops cache no commit uses)")
    if needs and how != "off":
        message = f"{label} needs {'; and '.join(needs)}"
        if how == "check":
            raise ResourceError(f"{message}: {' and '.join(remedies)}, or set {PREFLIGHT_ENV}=warn to go ahead anyway")
        logging.getLogger(__name__).warning("warning: %s: going ahead (%s=warn)", message, PREFLIGHT_ENV)
    return record


def dir_gb(path: Path | str) -> float:
    return dir_size_bytes(path) / GB


class HeavyRun:
    """What ``heavy_stage`` yields: the estimate checked before the work and the guard watching it."""

    def __init__(self, checked: dict, guard):
        self.checked, self.guard = checked, guard

    def metrics(self) -> dict:
        """The stage's ``resources`` metrics: the pre-flight estimate beside the peak it reached."""
        return self.guard.metrics(self.checked)


@contextlib.contextmanager
def heavy_stage(stage: str, variant: str, device: str | None, model_gb: float | None, *, host: dict,
                factor: float | None = None,
                disk_gb: float | None = None, disk_path: Path | None = None,
                largest_part: tuple[str, float] | None = None) -> Iterator[HeavyRun]:
    """Report runs the last one left unfinished, check the estimate, then run the block under the memory watchdog.
    ``host``: the host facts (runtime/host_facts.provenance()), whose class keys the recorded peaks."""
    report_unfinished_runs()
    facts = host
    label = " ".join(part for part in (stage, variant, device) if part)
    need = estimate(stage, variant, device, facts["isa_class"], facts["precision"], model_gb, factor, disk_gb, disk_path,
                    largest_part)
    checked = check(label, need)
    with guarded(stage, variant, device, facts=facts, model_gb=model_gb) as guard:
        yield HeavyRun(checked, guard)
