"""Patches of NNCF 3.4.0 internals: the large-model path that makes full INT8 PTQ of the SDXL UNet fit in 24 GB, and
accuracy control that reverts the right ops (:func:`accuracy_restorer_patches`).

Switched by ``variants.<v>.quantize.large_model_patches``: ``auto`` (the default) takes it for a model with more
than 2 GiB of weights, ``on`` always, ``off`` never (NNCF as released). Each patch works around one upstream
behaviour (measured per NNCF phase on sdxl-turbo-arch's 2.6 B-parameter UNet; reports/nncf_statistics/):

- statistics_precision:     NNCF compiles its statistics model in f32, an f32 copy of an FP16 IR (12.3 -> 7.4 GB)
- smooth_quant_weights_in_their_own_dtype: SmoothQuant holds every rescaled weight in f32 until the end (22+ -> 4.8 GB)
- smoothed_model_on_disk:   SmoothQuant's new constants stay resident beside the next statistics model
- weight_statistics_from_constants: NNCF observes constant weights through its statistics model (1,582 of the
                            UNet's 4,608 extra outputs; ~22 GB to compile), here reduced once in numpy

:func:`statistics_record` observes every calibrated quantization (patched or not) for quantize.json: passes over the
calibration set, the statistics models' precision read back, seconds per NNCF phase.

They reach into NNCF's private classes, so they are written for one NNCF version and refuse any other
(:func:`check_nncf_version`); the tiny models never take this path under ``auto``.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from typing import Iterator

import nncf
import numpy as np
import openvino as ov
from ov_diffusion_quant.common.errors import UserError

log = logging.getLogger(__name__)

NNCF_VERSION = "3.4.0"  # the version whose internals these patches were written against and measured with
# Up to this much FP16 weight (the tiny models, PixArt's 0.6 B transformer) NNCF runs as released; above it
# (the 2.6 B SDXL UNet: a 10 GB f32 copy beside the model being rewritten) the large-model path is taken.
LARGE_MODEL_MIN_WEIGHT_BYTES = 2 * 2**30
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
        yield {"large_model_patches": False, "smoothed_model_on_disk": False, "weight_statistics": "nncf"}
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
        patches.enter_context(weight_statistics_from_constants())
        yield {"large_model_patches": True, "smoothed_model_on_disk": True, "weight_statistics": "constants"}


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


def weight_constant(op, port_id: int) -> tuple[ov.Node, np.dtype] | None:
    """The Constant behind input ``port_id`` of ``op`` and the dtype the model computes with, when the input is a
    Constant or a Convert of one (an FP16 IR's weights); None otherwise."""
    source = op.input_value(port_id).get_node()
    if source.get_type_name() == "Constant":
        return source, source.get_element_type().to_dtype()
    if source.get_type_name() == "Convert" and source.input_value(0).get_node().get_type_name() == "Constant":
        return source.input_value(0).get_node(), source.get_element_type().to_dtype()
    return None


@contextlib.contextmanager
def weight_statistics_from_constants():
    """Works around: NNCF observes weights through the statistics model, as ReduceMin/Max on each weight's Convert.

    For the SDXL UNet's MinMax + FastBiasCorrection step those are 1,582 of 4,608 extra outputs, and they, not
    the activation outputs, are what made compiling that model take ~22 GB (reports/nncf_statistics/). A weight's
    statistic is the same on every sample, so here it is reduced once from the constant in numpy, by the same
    reducer and registered with the same aggregators as NNCF's loop would; the activation points of the step
    stay in one compiled model: one pass over the calibration set per statistics step (two with SmoothQuant).
    A point whose weight is not a Constant (or a Convert of one) stays in the model.
    """
    from nncf.common.tensor_statistics.collectors import AxesMode
    from nncf.common.tensor_statistics.statistic_point import StatisticPointsContainer
    from nncf.openvino.statistics.aggregator import OVStatisticsAggregator
    from nncf.tensor import Tensor

    original = OVStatisticsAggregator.collect_statistics

    def on_constant(point, ops: dict) -> bool:
        target = point.target_point
        if not target.is_weight_target_point() or weight_constant(ops[target.target_node_name], target.port_id) is None:
            return False
        return all(reducer.inplace and reducer._axes_mode == AxesMode.REDUCTION
                   for collectors in point.algorithm_to_tensor_collectors.values()
                   for collector in collectors for reducer in collector.reducers)

    def collect_statistics(self, model, graph):
        ops = {op.get_friendly_name(): op for op in model.get_ops()}
        on_weights, on_activations = StatisticPointsContainer(), StatisticPointsContainer()
        for points in self.statistic_points.values():
            for point in points:
                (on_weights if on_constant(point, ops) else on_activations).add_statistic_point(point)
        if not on_weights:
            return original(self, model, graph)
        everything, self.statistic_points = self.statistic_points, on_activations
        try:
            if on_activations:
                original(self, model, graph)
        finally:
            self.statistic_points = everything
        samples = self._get_iterations_number() or 1
        merged = self._get_merged_statistic_points(on_weights, model, graph)
        for _, point, collector in merged.get_tensor_collectors():
            constant, dtype = weight_constant(ops[point.target_point.target_node_name], point.target_point.port_id)
            weight = Tensor(constant.get_data().astype(dtype, copy=False))
            reduced = {hash(reducer): reducer._reduce_out_of_place([weight]) for reducer in collector.reducers}
            for _ in range(samples):  # as NNCF's loop registers it; an aggregator of one sample keeps the first
                collector.register_inputs(reduced)
            del constant, weight, reduced

    OVStatisticsAggregator.collect_statistics = collect_statistics
    try:
        yield
    finally:
        OVStatisticsAggregator.collect_statistics = original


@contextlib.contextmanager
def statistics_record() -> Iterator[dict]:
    """Observes NNCF without changing it: passes over the calibration set, the precision its statistics models
    were compiled in (read back from the compiled model), and seconds per phase. Yields the record it fills."""
    from nncf.common.tensor_statistics.aggregator import StatisticsAggregator
    from nncf.openvino import engine
    from nncf.quantization.algorithms.bias_correction.algorithm import BiasCorrection
    from nncf.quantization.algorithms.fast_bias_correction.algorithm import FastBiasCorrection
    from nncf.quantization.algorithms.smooth_quant.algorithm import SmoothQuant

    record = {"statistics_passes": 0, "samples_per_pass": [], "statistics_precision": None,
              "phase_seconds": {"statistics": 0.0, "smooth_quant": 0.0, "bias_correction": 0.0}}
    collecting = []  # non-empty while a statistics pass runs: its engines are the statistics models

    def timed(original, phase: str, statistics: bool = False):
        def wrapper(self, *args, **kwargs):
            if statistics and self.statistic_points:
                record["statistics_passes"] += 1
                record["samples_per_pass"].append(self._get_iterations_number())
            started = time.perf_counter()
            collecting.append(statistics)
            try:
                return original(self, *args, **kwargs)
            finally:
                collecting.pop()
                record["phase_seconds"][phase] += time.perf_counter() - started
        return wrapper

    def reading_precision(original):
        def wrapper(self, compiled_model, *args, **kwargs):
            if collecting and collecting[-1]:
                record["statistics_precision"] = compiled_model.get_property("INFERENCE_PRECISION_HINT").to_string()
            original(self, compiled_model, *args, **kwargs)
        return wrapper

    wrapped = {(StatisticsAggregator, "collect_statistics"): lambda f: timed(f, "statistics", statistics=True),
               (SmoothQuant, "apply"): lambda f: timed(f, "smooth_quant"),
               (FastBiasCorrection, "apply"): lambda f: timed(f, "bias_correction"),
               (BiasCorrection, "apply"): lambda f: timed(f, "bias_correction"),
               (engine.OVCompiledModelEngine, "__init__"): reading_precision}
    originals = {key: key[0].__dict__[key[1]] for key in wrapped}
    for (owner, method), wrap in wrapped.items():
        setattr(owner, method, wrap(originals[(owner, method)]))
    try:
        yield record
    finally:
        for (owner, method), original in originals.items():
            setattr(owner, method, original)
        record["phase_seconds"] = {phase: round(seconds, 2) for phase, seconds in record["phase_seconds"].items()}


@contextlib.contextmanager
def accuracy_restorer_patches() -> Iterator[None]:
    """NNCF 3.4.0's accuracy restorer (quantize_with_accuracy_control, OpenVINO backend) made to revert the right ops,
    to what they computed in float. Two upstream behaviours, each measured on trained-sdxl-snapshot's UNet:

    - Reverting a group restores each op's weights from the initial model, i.e. from before SmoothQuant, and leaves
      the SmoothQuant scale NNCF inserted on the op's input: the reverted MatMul computes (x / s)·W instead of x·W.
      Here only the biases are restored (undoing bias correction); an op keeps the float weights the quantized model
      feeds its weight FakeQuantize, which the revert removes: SmoothQuant's, consistent with the scale on its input.
      (Reverting add_embedding.linear_2 alone took the validation adherence drop from 0.048 to 0.512.)
    - With a validation_fn that returns the model's outputs per item (output mode), a group's ranking score is the
      NMSE to the FP outputs after reverting it, and the highest is reverted first: the group whose revert leaves the
      outputs furthest from FP (metric mode scores the metric after the revert, higher is better, and is right).
      Here output mode's order is reversed. (Reverting add_embedding.linear_1 takes the NMSE from 0.028 to 0.0024;
      NNCF ranked it last of 123 and reverted add_embedding.linear_2 first, 0.028 -> 0.032.)
    """
    from nncf.quantization.algorithms.accuracy_control.algorithm import QuantizationAccuracyRestorer
    from nncf.quantization.algorithms.accuracy_control.ranker import Ranker

    if nncf.__version__ != NNCF_VERSION:
        raise UserError(f"accuracy_control patches NNCF {NNCF_VERSION}'s accuracy restorer "
                        f"(ov_diffusion_quant/quantization/nncf_patches.py) and this is NNCF {nncf.__version__}: "
                        f"install nncf=={NNCF_VERSION}, or check its restorer and ranker and update the patch")

    def original_biases_only(initial_model_graph, quantized_model_graph, initial_model, algo_backend) -> None:
        for node in initial_model_graph.get_all_nodes():
            if algo_backend.is_node_with_bias(node, initial_model_graph):
                quantized_model_graph.get_node_by_name(node.node_name).attributes["original_bias"] = (
                    algo_backend.get_bias_value(node, initial_model_graph, initial_model))

    rank = Ranker.rank_groups_of_quantizers

    def lowest_error_last(self, *args, **kwargs):
        ranked = rank(self, *args, **kwargs)
        return ranked if self._evaluator.is_metric_mode() else ranked[::-1]

    collect = QuantizationAccuracyRestorer.__dict__["_collect_original_biases_and_weights"]
    QuantizationAccuracyRestorer._collect_original_biases_and_weights = staticmethod(original_biases_only)
    Ranker.rank_groups_of_quantizers = lowest_error_last
    try:
        yield
    finally:
        QuantizationAccuracyRestorer._collect_original_biases_and_weights = collect
        Ranker.rank_groups_of_quantizers = rank
