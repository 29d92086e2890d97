"""The large-model path: patches of NNCF 3.4.0 internals that make full INT8 PTQ of the SDXL UNet fit in 24 GB.

Switched by ``variants.<v>.quantize.large_model_patches``: ``auto`` (the default) takes it for a model with more
than 2 GiB of weights, ``on`` always, ``off`` never (NNCF as released). Each patch works around one upstream
behaviour (measured per NNCF phase with scripts/nncf_memory_probe.py on the 2.6 B-parameter UNet):

- statistics_precision:     NNCF compiles its statistics model in f32, an f32 copy of an FP16 IR (12.3 -> 7.4 GB)
- smooth_quant_weights_in_their_own_dtype: SmoothQuant holds every rescaled weight in f32 until the end (22+ -> 4.8 GB)
- smoothed_model_on_disk:   SmoothQuant's new constants stay resident beside the next statistics model
- statistics_in_chunks:     NNCF observes every statistic point in one model (4,603 extra outputs, ~19 GB to compile)

They reach into NNCF's private classes, so they are written for one NNCF version and refuse any other
(:func:`check_nncf_version`); the tiny models never take this path under ``auto``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
import tempfile
from typing import Iterator

import nncf
import numpy as np
import openvino as ov
from tqdm import tqdm

from ov_diffusion_quant.common.errors import UserError

log = logging.getLogger(__name__)

NNCF_VERSION = "3.4.0"  # the version whose internals these patches were written against and measured with
# Up to this much FP16 weight (the tiny models, PixArt's 0.6 B transformer) NNCF runs as released; above it
# (the 2.6 B SDXL UNet: a 10 GB f32 copy beside the model being rewritten) the large-model path is taken.
LARGE_MODEL_MIN_WEIGHT_BYTES = 2 * 2**30
LARGE_MODEL_NODES_PER_STATISTICS_CHUNK = 400
LARGE_MODEL_SWITCHES = ("auto", "on", "off")


def check_nncf_version(switch: str) -> None:
    """Refuse an NNCF these patches were not written for, naming ``switch`` (the param that turns them off)."""
    if nncf.__version__ != NNCF_VERSION:
        raise UserError(f"the large-model path patches NNCF {NNCF_VERSION} internals "
                        f"(ov_diffusion_quant/quantization/nncf_patches.py) and this is NNCF {nncf.__version__}: install "
                        f"nncf=={NNCF_VERSION}, or set {switch}: off to quantize with NNCF unpatched (a model "
                        f"with more than {LARGE_MODEL_MIN_WEIGHT_BYTES / 2**30:g} GiB of weights may then run "
                        f"out of memory)")


def constant_bytes(model: ov.Model) -> int:
    return sum(op.get_byte_size() for op in model.get_ops() if op.get_type_name() == "Constant")


def takes_large_model_patches(model: ov.Model, switch_value: str) -> bool:
    if switch_value not in LARGE_MODEL_SWITCHES:
        raise UserError(f"unknown large_model_patches {switch_value!r}: allowed are {', '.join(LARGE_MODEL_SWITCHES)}")
    if switch_value == "auto":
        return constant_bytes(model) > LARGE_MODEL_MIN_WEIGHT_BYTES
    return switch_value == "on"


@contextlib.contextmanager
def large_model_patches(model: ov.Model, switch_value: str, switch: str) -> Iterator[dict]:
    """Run the block with every patch applied when ``switch_value`` (auto/on/off) says so for ``model``.

    Yields what was done, for quantize.json. ``switch`` names the param in messages.
    """
    if not takes_large_model_patches(model, switch_value):
        if constant_bytes(model) > LARGE_MODEL_MIN_WEIGHT_BYTES:
            log.warning("%s is off for a model with %.1f GiB of weights: NNCF runs unpatched and may need about "
                        "twice the memory", switch, constant_bytes(model) / 2**30)
        yield {"large_model_patches": False, "statistics_precision": "f32", "smoothed_model_on_disk": False,
               "statistics_nodes_per_chunk": None}
        return
    check_nncf_version(switch)
    log.info("large-model path (%s: %s, %.1f GiB of weights): NNCF %s patched", switch, switch_value,
             constant_bytes(model) / 2**30, NNCF_VERSION)
    # The statistics run in the precision the host resolved (host.precision): bf16 where the CPU has it, f32
    # otherwise (or when f32 is forced) - recorded as what ran, not what was hoped for.
    from ov_diffusion_quant.runtime.host_facts import provenance

    precision = provenance()["precision"]
    with contextlib.ExitStack() as patches:
        patches.enter_context(statistics_precision(precision))
        patches.enter_context(smooth_quant_weights_in_their_own_dtype())
        patches.enter_context(smoothed_model_on_disk())
        patches.enter_context(statistics_in_chunks(LARGE_MODEL_NODES_PER_STATISTICS_CHUNK))
        yield {"large_model_patches": True, "statistics_precision": precision, "smoothed_model_on_disk": True,
               "statistics_nodes_per_chunk": LARGE_MODEL_NODES_PER_STATISTICS_CHUNK}


@contextlib.contextmanager
def statistics_precision(precision: str):
    """Works around: NNCF compiles the model it collects statistics on with INFERENCE_PRECISION_HINT=f32.

    That turns an FP16 IR's weights into an f32 copy (2x the IR). "bf16" leaves the CPU at its default
    precision (bf16 on AMX, also the precision inference runs in): the weights stay 2 bytes each.
    "f32" is NNCF's own behaviour.
    """
    from nncf.openvino import engine

    if precision == "f32":
        yield
        return
    if precision != "bf16":
        raise UserError(f"unknown statistics precision {precision!r}: allowed are f32, bf16")
    original = engine.OVNativeEngine

    class DevicePrecisionEngine(original):
        def __init__(self, model, use_fp32_precision: bool = True):
            super().__init__(model, use_fp32_precision=False)

    engine.OVNativeEngine = DevicePrecisionEngine
    try:
        yield
    finally:
        engine.OVNativeEngine = original


@contextlib.contextmanager
def smooth_quant_weights_in_their_own_dtype():
    """Works around: SmoothQuant computes every rescaled MatMul weight in f32 and holds all of them until the end.

    NNCF converts each to the constant's dtype only when it rewrites the model. For the SDXL UNet that
    is ~2 B weights x 4 bytes held at once plus the converted copies: the step where nncf.quantize ran
    out of 24 GB. Casting each weight as soon as it is computed gives the same constants (the cast
    happens anyway), at half the memory, and lets the new constants share the array instead of copying it.
    """
    from nncf.quantization.algorithms.smooth_quant.openvino_backend import OVSmoothQuantAlgoBackend

    original = OVSmoothQuantAlgoBackend.__dict__["weight_update_command"]
    dtypes = {"f16": np.float16, "f32": np.float32}

    def weight_update_command(node_with_weight, nncf_graph, weight_value):
        port = OVSmoothQuantAlgoBackend.get_weight_tensor_port_id(node_with_weight)
        dtype = dtypes.get(node_with_weight.layer_attributes.constant_attributes[port].get("dtype"))
        if dtype is not None and weight_value.dtype != dtype:
            weight_value = weight_value.astype(dtype)
        return original.__func__(node_with_weight, nncf_graph, weight_value)

    OVSmoothQuantAlgoBackend.weight_update_command = staticmethod(weight_update_command)
    try:
        yield
    finally:
        OVSmoothQuantAlgoBackend.weight_update_command = original


@contextlib.contextmanager
def smoothed_model_on_disk():
    """Works around: the model SmoothQuant returns keeps its rescaled weights as new in-memory constants.

    Those (5 GB for the SDXL UNet) would stay resident beside the statistics model NNCF compiles next;
    written to a scratch IR and read back memory-mapped they are file-backed pages the kernel can drop.
    The constants are saved as they are (no fp16 compression), so the model is the same one. The
    scratch file may be deleted while mapped (Linux keeps the mapping).
    """
    from nncf.quantization.algorithms.smooth_quant.algorithm import SmoothQuant

    original = SmoothQuant.apply
    with tempfile.TemporaryDirectory(prefix="smoothed-") as scratch:
        def apply(self, model, *args, **kwargs):
            smoothed = original(self, model, *args, **kwargs)
            path = f"{scratch}/smoothed_{id(smoothed)}.xml"
            ov.save_model(smoothed, path, compress_to_fp16=False)
            del smoothed
            return ov.Core().read_model(path)

        SmoothQuant.apply = apply
        try:
            yield
        finally:
            SmoothQuant.apply = original


@contextlib.contextmanager
def statistics_in_chunks(nodes_per_chunk: int):
    """Works around: NNCF adds every statistic point of a step to one model and compiles it once.

    For the SDXL UNet's MinMax + FastBiasCorrection step that is 4,603 extra outputs, and compiling that
    model took ~19 GB on top of the weights. In chunks, each compiled model observes at most
    ``nodes_per_chunk`` nodes and the calibration set is run once per chunk: more time, bounded memory,
    the same statistics. A progress bar counts the chunks.
    """
    from nncf.common.tensor_statistics.aggregator import StatisticsAggregator
    from nncf.common.tensor_statistics.statistic_point import StatisticPointsContainer

    original = StatisticsAggregator.collect_statistics

    def collect_statistics(self, model, graph):
        points = self.statistic_points
        names = list(points.keys())
        if len(names) <= nodes_per_chunk:
            return original(self, model, graph)
        starts = range(0, len(names), nodes_per_chunk)
        try:
            for start in tqdm(starts, desc=f"NNCF statistics, {nodes_per_chunk} nodes per chunk", unit="chunk",
                              file=sys.stderr):
                chunk = StatisticPointsContainer()
                for name in names[start:start + nodes_per_chunk]:
                    chunk[name] = points[name]
                self.statistic_points = chunk
                original(self, model, graph)
                gc.collect()
        finally:
            self.statistic_points = points

    StatisticsAggregator.collect_statistics = collect_statistics
    try:
        yield
    finally:
        StatisticsAggregator.collect_statistics = original
