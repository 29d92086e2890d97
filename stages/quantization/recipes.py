"""NNCF recipes, one function per recipe name in params (``variants.<v>.quantize.components``).

- int8:         full post-training quantization (nncf.quantize, ModelType.TRANSFORMER), the SDXL notebook's
- hybrid:       INT8 weights of MatMul/Embedding, then PTQ of the remaining activations, the PixArt notebook's
- int8_weights: weight-only INT8 (nncf.compress_weights)
- int4_sym / int4_asym: weight-only INT4, group-wise
- none:         the component stays as exported
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import nncf
import openvino as ov

from stages.common.errors import UserError
from stages.config.specs import QuantizeSpec

NEEDS_CALIBRATION = ("int8", "hybrid")
WEIGHTED_OPS = ("MatMul", "Convolution", "GroupConvolution", "ConvolutionBackpropData", "Gather")
# Ops between a weight constant and the op that uses it (decompression, FakeQuantize, layout).
WEIGHT_PATH_OPS = ("Convert", "Subtract", "Multiply", "Reshape", "Transpose", "FakeQuantize", "Unsqueeze")
# The PixArt notebook turns dynamic quantization off for diffusion models with compressed weights.
NO_DYNAMIC_QUANTIZATION = {"DYNAMIC_QUANTIZATION_GROUP_SIZE": "0"}


# NNCF collects statistics on an f32 copy of the model (INFERENCE_PRECISION_HINT=f32): twice an FP16 IR's
# weights. Up to this much FP16 weight (the tiny models, PixArt's 0.6 B transformer) it stays f32, as NNCF
# intends; above it (the 2.6 B SDXL UNet: a 10 GB f32 copy beside the model being rewritten) statistics
# are collected at the CPU's default precision, bf16 on AMX, which is also the precision inference runs in,
# and the smoothed model is continued from disk (smoothed_model_on_disk), and statistics are collected
# over a few hundred nodes at a time (statistics_in_chunks).
F32_STATISTICS_MAX_WEIGHT_BYTES = 2 * 2**30
LARGE_MODEL_NODES_PER_STATISTICS_CHUNK = 400


@dataclass
class RecipeResult:
    model: ov.Model
    compile_config: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # how it was done, for quantize.json


def constant_bytes(model: ov.Model) -> int:
    return sum(op.get_byte_size() for op in model.get_ops() if op.get_type_name() == "Constant")


def statistics_precision_for(model: ov.Model) -> str:
    return "f32" if constant_bytes(model) <= F32_STATISTICS_MAX_WEIGHT_BYTES else "bf16"


@contextlib.contextmanager
def statistics_precision(precision: str):
    """Compile NNCF's statistics models in ``precision``: "f32" (NNCF's default) or "bf16".

    NNCF compiles the model it collects statistics on with INFERENCE_PRECISION_HINT=f32, which
    turns an FP16 IR's weights into an f32 copy (2x the IR). "bf16" leaves the CPU at its default
    precision (bf16 on AMX): the weights stay 2 bytes each.
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
    """Keep SmoothQuant's rescaled weights in their constant's dtype (f16 for an FP16 IR), not f32.

    NNCF computes every rescaled MatMul weight as f32 and holds all of them until it rewrites the
    model, then converts each to the constant's dtype. For the SDXL UNet that is ~2 B weights x 4 bytes
    held at once plus the converted copies: the step where nncf.quantize ran out of 24 GB. Casting each
    weight as soon as it is computed gives the same constants (the cast happens anyway), at half the
    memory, and lets the new constants share the array instead of copying it.
    """
    import numpy as np
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
    """Write the model SmoothQuant returns to a scratch IR and continue from a memory-mapped read of it.

    SmoothQuant's rescaled weights are new in-memory constants (5 GB for the SDXL UNet) that would stay
    resident beside the statistics model NNCF compiles next; read back from disk they are file-backed
    pages the kernel can drop. The constants are saved as they are (no fp16 compression), so the model
    is the same one. The scratch file may be deleted while mapped (Linux keeps the mapping).
    """
    import tempfile

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
    """Collect NNCF's statistics with at most ``nodes_per_chunk`` observed nodes per compiled model.

    NNCF adds every statistic point of a step to one model (4,603 extra outputs for the SDXL UNet's
    MinMax + FastBiasCorrection step) and compiles it once; compiling that model took ~19 GB on top of
    the weights. In chunks, each compiled model observes a part of the nodes and the calibration set is
    run once per chunk: more time, bounded memory, the same statistics.
    """
    import gc

    from nncf.common.tensor_statistics.aggregator import StatisticsAggregator
    from nncf.common.tensor_statistics.statistic_point import StatisticPointsContainer

    original = StatisticsAggregator.collect_statistics

    def collect_statistics(self, model, graph):
        points = self.statistic_points
        names = list(points.keys())
        if len(names) <= nodes_per_chunk:
            return original(self, model, graph)
        try:
            for start in range(0, len(names), nodes_per_chunk):
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


def _advanced(spec: QuantizeSpec, matmul_alpha: float | None = None):
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters

    alpha = spec.smooth_quant_alpha if matmul_alpha is None else matmul_alpha
    if alpha is None:
        return None
    return AdvancedQuantizationParameters(smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=alpha))


def _int4(mode, model, spec: QuantizeSpec) -> RecipeResult:
    from nncf.quantization.advanced_parameters import AdvancedCompressionParameters, GroupSizeFallbackMode

    return RecipeResult(nncf.compress_weights(
        model, mode=mode, group_size=spec.int4_group_size, ratio=spec.int4_ratio,
        advanced_parameters=AdvancedCompressionParameters(group_size_fallback_mode=GroupSizeFallbackMode.ADJUST),
    ))


def apply_recipe(recipe: str, model: ov.Model, spec: QuantizeSpec, *, component: str, calibration: list | None,
                 ignored_scope: nncf.IgnoredScope | None, target_device: nncf.TargetDevice) -> RecipeResult:
    if recipe in NEEDS_CALIBRATION and calibration is None:
        raise UserError(f"recipe {recipe!r} needs calibration data for {component}: record its inputs with "
                        f"calibrate.other_components, or use int8_weights, int4_sym or int4_asym")
    scope = ignored_scope or nncf.IgnoredScope()
    if recipe in NEEDS_CALIBRATION:
        precision = statistics_precision_for(model)
        large = precision != "f32"
        with contextlib.ExitStack() as lean:
            lean.enter_context(statistics_precision(precision))
            lean.enter_context(smooth_quant_weights_in_their_own_dtype())
            if large:
                lean.enter_context(smoothed_model_on_disk())
                lean.enter_context(statistics_in_chunks(LARGE_MODEL_NODES_PER_STATISTICS_CHUNK))
            result = _calibrated_recipe(recipe, model, spec, calibration, scope, target_device)
        result.details.update(statistics_precision=precision, smoothed_model_on_disk=large,
                              statistics_nodes_per_chunk=LARGE_MODEL_NODES_PER_STATISTICS_CHUNK if large else None)
        return result
    if recipe == "int8_weights":
        return RecipeResult(nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM),
                            dict(NO_DYNAMIC_QUANTIZATION))
    if recipe == "int4_sym":
        return _int4(nncf.CompressWeightsMode.INT4_SYM, model, spec)
    if recipe == "int4_asym":
        return _int4(nncf.CompressWeightsMode.INT4_ASYM, model, spec)
    if recipe == "none":
        return RecipeResult(model)
    raise UserError(f"unknown recipe {recipe!r}")


def _calibrated_recipe(recipe: str, model: ov.Model, spec: QuantizeSpec, calibration: list,
                       scope: nncf.IgnoredScope, target_device: nncf.TargetDevice) -> RecipeResult:
    if recipe == "int8":
        return RecipeResult(nncf.quantize(
            model, nncf.Dataset(calibration), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration),
            ignored_scope=scope, target_device=target_device, advanced_parameters=_advanced(spec),
        ))
    if recipe == "hybrid":
        from optimum.intel.openvino.quantization import _collect_ops_with_weights

        # The same op list optimum-intel's hybrid mode uses: MatMuls with constant weights and embeddings.
        weighted = _collect_ops_with_weights(model)
        compressed = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM,
                                           ignored_scope=nncf.IgnoredScope(types=["Convolution"]))
        quantized = nncf.quantize(
            compressed, nncf.Dataset(calibration), model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(calibration), target_device=target_device,
            ignored_scope=nncf.IgnoredScope(names=list(scope.names) + weighted, patterns=list(scope.patterns),
                                            types=list(scope.types), validate=False),
            # SmoothQuant off for MatMul: their weights are already compressed
            advanced_parameters=_advanced(spec, matmul_alpha=-1),
        )
        return RecipeResult(quantized, dict(NO_DYNAMIC_QUANTIZATION))
    raise UserError(f"unknown recipe {recipe!r}")


def _weight_precision(op) -> str | None:
    """Element type of the constant feeding ``op``'s weight input, walking through decompression ops."""
    for port in range(1, op.get_input_size()) if op.get_type_name() != "Gather" else (0,):
        node = op.input_value(port).get_node()
        while node.get_type_name() in WEIGHT_PATH_OPS:
            node = node.input_value(0).get_node()
        if node.get_type_name() == "Constant":
            return node.get_element_type().get_type_name()
    return None


def count_quantized_ops(model: ov.Model) -> dict[str, Any]:
    """FakeQuantize count and the weight precision of every weighted op (as saved on disk)."""
    weights: Counter[str] = Counter()
    fake_quantize = 0
    for op in model.get_ops():
        kind = op.get_type_name()
        if kind == "FakeQuantize":
            fake_quantize += 1
        elif kind in WEIGHTED_OPS:
            precision = _weight_precision(op)
            if precision is not None:
                weights[precision] += 1
    return {"fake_quantize": fake_quantize, "weights_by_precision": dict(sorted(weights.items()))}
