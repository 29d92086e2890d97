"""How each recipe of the schema (ov_diffusion_quant/config/recipes.py) is applied: the NNCF calls, one function
per recipe name. The quantize stage and the recipe search call :func:`apply`.

NNCF is imported inside the recipes only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.config.recipes import ComponentRecipe
from ov_diffusion_quant.quantization.ir_analysis import half_range_attention_keys, int8_op_names

# The PixArt notebook turns dynamic quantization off for diffusion models with compressed weights.
NO_DYNAMIC_QUANTIZATION = {"DYNAMIC_QUANTIZATION_GROUP_SIZE": "0"}


@dataclass
class RecipeResult:
    model: Any  # ov.Model
    compile_config: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # how it was done, for quantize.json
    # the recipe to record instead of the one applied (accuracy_control: int8 with the reverted ops ignored)
    equivalent: ComponentRecipe | None = None


@dataclass
class RecipeContext:
    """What a recipe may need beside the model and its knobs."""
    component: str
    calibration: list | None
    target_device: Any  # nncf.TargetDevice
    ignored_scope: Callable[[tuple[str, ...] | None], Any]  # family scope names -> nncf.IgnoredScope | None
    # accuracy_control: (compiled component, prompts) -> (metric, per-prompt values), and the prompts to use
    validate: Callable[[Any, list], tuple[float, list[float]]] | None = None
    validation_items: list | None = None
    default_max_drop: float | None = None
    # NNCF's statistics of this component, collected once for every recipe that shares them (shared_statistics.py)
    statistics: Any = None


APPLIERS: dict[str, Callable[[Any, dict[str, Any], RecipeContext], RecipeResult]] = {}


def applies(name: str):
    """Register the function that applies the schema's recipe ``name``."""
    def decorate(function):
        APPLIERS[name] = function
        return function
    return decorate


def apply(component_recipe: ComponentRecipe, model, context: RecipeContext) -> RecipeResult:
    recipe = component_recipe.definition
    if recipe.needs_calibration and context.calibration is None:
        raise UserError(f"recipe {recipe.name!r} needs calibration data for {context.component}: record its inputs "
                        "with calibrate.other_components, or use a weight-only recipe")
    if recipe.needs_validation and context.validate is None:
        raise UserError(f"recipe {recipe.name!r} for {context.component} runs only inside the recipe search "
                        "(quantize.search), which validates each candidate")
    return APPLIERS[recipe.name](model, dict(component_recipe.knobs), context)


def shares_statistics(component_recipe: ComponentRecipe) -> bool:
    """Whether the recipe's statistics can come from a shared collection (shared_statistics.py): int8 but with full
    bias correction, whose per-layer raw activations are too large to keep (it makes its own passes)."""
    return component_recipe.recipe == "int8" and component_recipe.knobs["bias_correction"] != "full"


def own_pass_reason(component_recipe: ComponentRecipe) -> str | None:
    """Why a calibrated recipe makes its own statistics passes (None: it shares them, or needs none)."""
    if not component_recipe.definition.needs_calibration or shares_statistics(component_recipe):
        return None
    return {"hybrid": "its weights are compressed first, which changes the activations",
            "accuracy_control": "NNCF's accuracy control quantizes and re-runs the model itself",
            }.get(component_recipe.recipe, "full bias correction keeps raw activations per layer")


def ptq_arguments(component_recipe: ComponentRecipe, context: RecipeContext) -> dict:
    """nncf.quantize's keyword arguments of a recipe that shares statistics: what the statistics stage collects for."""
    return _ptq_arguments(dict(component_recipe.knobs), context)


# -- the recipes -----------------------------------------------------------------------------------------------
def _attention_overflow_fix(model, knobs: dict[str, Any]):
    if knobs["attention_overflow_fix"] == "enable":
        half_range_attention_keys(model)
    return model


def _ptq_arguments(knobs: dict[str, Any], context: RecipeContext, extra_ignored: dict | None = None) -> dict:
    """nncf.quantize's keyword arguments for the PTQ knobs."""
    import nncf
    from nncf.quantization.advanced_parameters import (AdvancedQuantizationParameters, AdvancedSmoothQuantParameters,
                                                       OverflowFix)

    smooth = AdvancedSmoothQuantParameters()
    for op, knob in (("matmul", "smooth_quant_matmul"), ("convolution", "smooth_quant_convolution")):
        if knobs[knob] is not None:
            setattr(smooth, op, float(knobs[knob]))
    advanced = AdvancedQuantizationParameters(
        smooth_quant_alphas=smooth, disable_bias_correction=knobs["bias_correction"] == "off",
        overflow_fix=None if knobs["overflow_fix"] is None else {
            "disable": OverflowFix.DISABLE, "first_layer": OverflowFix.FIRST_LAYER,
            "enable": OverflowFix.ENABLE}[knobs["overflow_fix"]])
    family_scope = context.ignored_scope(knobs["ignored_scope"]) or nncf.IgnoredScope()
    extra = extra_ignored or {}
    scope = nncf.IgnoredScope(
        names=[*family_scope.names, *knobs["ignored_names"], *extra.get("names", ())],
        patterns=[*family_scope.patterns, *knobs["ignored_patterns"]],
        types=[*family_scope.types, *knobs["ignored_types"]], validate=False)
    return dict(
        model_type=nncf.ModelType.TRANSFORMER, subset_size=len(context.calibration), ignored_scope=scope,
        target_device=context.target_device, fast_bias_correction=knobs["bias_correction"] != "full",
        preset=None if knobs["preset"] is None else {"performance": nncf.QuantizationPreset.PERFORMANCE,
                                                     "mixed": nncf.QuantizationPreset.MIXED}[knobs["preset"]],
        advanced_parameters=advanced,
    )


@applies("int8")
def _int8(model, knobs, context):
    import nncf

    arguments = _ptq_arguments(knobs, context)
    if context.statistics is None or knobs["bias_correction"] == "full":
        quantized = nncf.quantize(model, nncf.Dataset(context.calibration), **arguments)
        return RecipeResult(_attention_overflow_fix(quantized, knobs), details={"statistics": "own passes"})
    from ov_diffusion_quant.quantization.shared_statistics import MissingStatistics, quantize_from

    try:
        quantized = quantize_from(model, context.statistics, **arguments)
    except MissingStatistics as error:
        raise UserError(f"the shared statistics of {context.component} do not cover this recipe ({error}): collect "
                        "them for it (the statistics stage collects for the variant's components and its search's "
                        "candidates)") from error
    return RecipeResult(_attention_overflow_fix(quantized, knobs), details={"statistics": "shared"})


@applies("hybrid")
def _hybrid(model, knobs, context):
    import nncf
    from optimum.intel.openvino.quantization import _collect_ops_with_weights

    # the ops optimum-intel's hybrid mode compresses: MatMuls with constant weights and embeddings
    weighted = _collect_ops_with_weights(model)
    compressed = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM,
                                       ignored_scope=nncf.IgnoredScope(types=["Convolution"]))
    # optimum-intel turns SmoothQuant off here (its weights are already compressed)
    knobs = {**knobs, "smooth_quant_matmul": -1 if knobs["smooth_quant_matmul"] is None else knobs["smooth_quant_matmul"]}
    quantized = nncf.quantize(compressed, nncf.Dataset(context.calibration),
                              **_ptq_arguments(knobs, context, {"names": weighted}))
    return RecipeResult(_attention_overflow_fix(quantized, knobs), dict(NO_DYNAMIC_QUANTIZATION))


@applies("accuracy_control")
def _accuracy_control(model, knobs, context):
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    from ov_diffusion_quant.quantization.nncf_patches import accuracy_restorer_patches

    ptq = {k: v for k, v in knobs.items() if k not in ("max_drop", "max_iterations", "ranking_prompts")}
    arguments = _ptq_arguments(ptq, context)
    max_drop = knobs["max_drop"] if knobs["max_drop"] is not None else context.default_max_drop
    if max_drop is None:
        raise UserError(f"accuracy_control for {context.component} needs max_drop (or a gate.adherence_drop_max)")
    before = int8_op_names(nncf.quantize(model.clone(), nncf.Dataset(context.calibration), **arguments))
    # NNCF's restorer, patched to revert an op to what it computed in float and to revert the op that helps most
    with accuracy_restorer_patches():
        restored = nncf.quantize_with_accuracy_control(
            model.clone(), nncf.Dataset(context.calibration), nncf.Dataset(context.validation_items),
            context.validate, max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE,
            subset_size=arguments.pop("subset_size"),
            advanced_quantization_parameters=arguments.pop("advanced_parameters"),
            advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
                max_num_iterations=knobs["max_iterations"], ranking_subset_size=len(context.validation_items),
                num_ranking_workers=1),
            **arguments)
    reverted = sorted(before - int8_op_names(restored))
    del restored
    equivalent = ComponentRecipe("int8", {**ptq, "ignored_names": tuple(sorted({*ptq["ignored_names"], *reverted}))})
    # The model is the recorded recipe quantized afresh, what the quantize stage reproduces: the search measures the
    # model it records, not NNCF's restored one (built another way: FakeQuantizes removed from the all-INT8 model)
    reproduced = _int8(model, dict(equivalent.knobs), context)
    return RecipeResult(reproduced.model, details={"reverted_ops": reverted, **reproduced.details},
                        equivalent=equivalent)


@applies("int8_weights")
def _int8_weights(model, knobs, context):
    import nncf

    return RecipeResult(nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM),
                        dict(NO_DYNAMIC_QUANTIZATION))


def _int4(mode_name: str):
    def apply_int4(model, knobs, context):
        import nncf
        from nncf.quantization.advanced_parameters import AdvancedCompressionParameters, GroupSizeFallbackMode

        return RecipeResult(nncf.compress_weights(
            model, mode=getattr(nncf.CompressWeightsMode, mode_name), group_size=knobs["group_size"],
            ratio=knobs["ratio"],
            advanced_parameters=AdvancedCompressionParameters(group_size_fallback_mode=GroupSizeFallbackMode.ADJUST)))
    return apply_int4


applies("int4_sym")(_int4("INT4_SYM"))
applies("int4_asym")(_int4("INT4_ASYM"))


@applies("none")
def _none(model, knobs, context):
    return RecipeResult(model)
