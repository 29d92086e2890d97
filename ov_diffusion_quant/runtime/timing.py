"""Timing helpers: latency summaries, time spent compiling, how busy the machine was, and one model timed at the
static input shapes of a recorded input (the recipe search, `ovdq profile`, scripts/recipe_speed.py)."""

from __future__ import annotations

import contextlib
import resource
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import openvino as ov
import psutil

from ov_diffusion_quant.runtime.recording import input_shapes


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """Median, p90, min and max of wall times, in seconds."""
    values = np.asarray(seconds, dtype=float)
    return {
        "median": round(float(np.median(values)), 5),
        "p90": round(float(np.percentile(values, 90)), 5),
        "min": round(float(values.min()), 5),
        "max": round(float(values.max()), 5),
    }


def median(values: list[float]) -> float:
    return round(float(np.median(np.asarray(values, dtype=float))), 5)


def ratio(baseline: float | None, candidate: float | None) -> float | None:
    """How many times faster ``candidate`` is than ``baseline`` (None when either is missing)."""
    if not baseline or not candidate:
        return None
    return round(baseline / candidate, 3)


@contextlib.contextmanager
def timed_compiles(sink: list[float]) -> Iterator[None]:
    """Append the wall time of every ``ov.Core.compile_model`` call made inside the block to ``sink``.

    Both families (and optimum-intel) compile through ``openvino.Core``, so this separates
    compilation from the rest of loading a pipeline (library imports, reading IR, wiring).
    """
    original = ov.Core.compile_model

    def compile_model(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            sink.append(time.perf_counter() - started)

    ov.Core.compile_model = compile_model
    try:
        yield
    finally:
        ov.Core.compile_model = original


class OtherProcessesCpu:
    """Share of the machine's CPU that anything but this process and its children used in the block.

    Timings on a busy machine are noisy; this says how busy it was (hypervisor steal included).
    """

    def __enter__(self):
        self._busy, self._own, self._started = self._system_busy(), self._own_cpu(), time.perf_counter()
        self.share = 0.0
        return self

    def __exit__(self, *exc):
        other = (self._system_busy() - self._busy) - (self._own_cpu() - self._own)
        capacity = (time.perf_counter() - self._started) * psutil.cpu_count()
        self.share = round(max(other, 0.0) / capacity, 3)

    @staticmethod
    def _system_busy() -> float:
        times = psutil.cpu_times()
        return times.user + times.nice + times.system + sum(getattr(times, name, 0.0)
                                                            for name in ("irq", "softirq", "steal"))

    @staticmethod
    def _own_cpu() -> float:
        """CPU seconds of this process and its finished children."""
        return sum(usage.ru_utime + usage.ru_stime for usage in
                   (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


class StaticShapeModel:
    """A model compiled for the input shapes of one recorded input and called on that input: what OpenVINO's CPU
    plugin runs fastest, and the same work on every call, so that two models (FP and INT8, two recipes) compare.

        timed = StaticShapeModel(xml, sample, "CPU", compile_config(), warmup=2)
        timed.median_ms(10)               # or timed.call_seconds() round by round, interleaved with another model
        timed.request.profiling_info      # with {"PERF_COUNT": True} in ``config``
    """

    def __init__(self, model: ov.Model | Path | str, sample: dict[str, np.ndarray], device: str = "CPU",
                 config: dict | None = None, warmup: int = 1, core: ov.Core | None = None):
        core = core or ov.Core()
        model = model if isinstance(model, ov.Model) else core.read_model(Path(model))
        model.reshape(input_shapes(model, sample))
        self.sample = sample
        self.compiled = core.compile_model(model, device, config or {})
        self.request = self.compiled.create_infer_request()
        for _ in range(warmup):  # the first calls allocate and tune: outside the timing
            self.request.infer(sample)

    def call_seconds(self) -> float:
        """Wall seconds of one call."""
        started = time.perf_counter()
        self.request.infer(self.sample)
        return time.perf_counter() - started

    def seconds(self, runs: int) -> list[float]:
        return [self.call_seconds() for _ in range(runs)]

    def median_ms(self, runs: int) -> float:
        return round(float(np.median(self.seconds(runs))) * 1000, 3)

    @property
    def precision(self) -> str:
        """The inference precision the compiled model runs in (e.g. bf16, f32)."""
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        return getattr(hint, "get_type_name", lambda: str(hint))()
