"""NNCF recipes, one function per recipe name in params (``variants.<v>.quantize.components``).

- int8:         full post-training quantization (nncf.quantize, ModelType.TRANSFORMER), the SDXL notebook's
- hybrid:       INT8 weights of MatMul/Embedding, then PTQ of the remaining activations, the PixArt notebook's
- int8_weights: weight-only INT8 (nncf.compress_weights)
- int4_sym / int4_asym: weight-only INT4, group-wise
- none:         the component stays as exported
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import nncf
import openvino as ov

from stages.common.errors import UserError
from stages.config.specs import QuantizeSpec
from stages.quantization.nncf_patches import large_model_path

NEEDS_CALIBRATION = ("int8", "hybrid")
WEIGHTED_OPS = ("MatMul", "Convolution", "GroupConvolution", "ConvolutionBackpropData", "Gather")
# Ops between a weight constant and the op that uses it (decompression, FakeQuantize, layout).
WEIGHT_PATH_OPS = ("Convert", "Subtract", "Multiply", "Reshape", "Transpose", "FakeQuantize", "Unsqueeze")
# The PixArt notebook turns dynamic quantization off for diffusion models with compressed weights.
NO_DYNAMIC_QUANTIZATION = {"DYNAMIC_QUANTIZATION_GROUP_SIZE": "0"}


@dataclass
class RecipeResult:
    model: ov.Model
    compile_config: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # how it was done, for quantize.json


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
                 ignored_scope: nncf.IgnoredScope | None, target_device: nncf.TargetDevice,
                 variant: str = "<variant>") -> RecipeResult:
    """Apply ``recipe`` to ``component``'s model; calibrated recipes of a large model take the large-model path
    (stages/quantization/nncf_patches.py, switched by ``variants.<variant>.quantize.large_model_path``)."""
    if recipe in NEEDS_CALIBRATION and calibration is None:
        raise UserError(f"recipe {recipe!r} needs calibration data for {component}: record its inputs with "
                        f"calibrate.other_components, or use int8_weights, int4_sym or int4_asym")
    scope = ignored_scope or nncf.IgnoredScope()
    if recipe in NEEDS_CALIBRATION:
        with large_model_path(model, spec.large_model_path, f"variants.{variant}.quantize.large_model_path") as done:
            result = _calibrated_recipe(recipe, model, spec, calibration, scope, target_device)
        result.details.update(done)
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
