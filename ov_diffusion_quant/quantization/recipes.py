"""The recipe registry: every quantization recipe, its knobs and the NNCF calls it makes, in one place.

A component's recipe in params (``variants.<v>.quantize.components.<component>``) is a name, or a mapping with
``recipe:`` and knobs, e.g. ``{recipe: int8, overflow_fix: enable, ignored_scope: [notebook, attention_scores]}``.
params.py validates it against :data:`RECIPES` (:func:`parse_component`); the quantize stage and the recipe search
apply it with :func:`apply`. Adding a recipe is one ``@register`` here: params, the search and the docs' table
(``python -m ov_diffusion_quant.quantization.recipes``) take it from the registry.

NNCF is imported inside the recipes only: params validation reads this module without loading NNCF.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from ov_diffusion_quant.common.errors import UserError

WEIGHTED_OPS = ("MatMul", "Convolution", "GroupConvolution", "ConvolutionBackpropData", "Gather")
# Ops between a weight constant and the op that uses it (decompression, FakeQuantize, layout).
WEIGHT_PATH_OPS = ("Convert", "Subtract", "Multiply", "Reshape", "Transpose", "FakeQuantize", "Unsqueeze")
# The PixArt notebook turns dynamic quantization off for diffusion models with compressed weights.
NO_DYNAMIC_QUANTIZATION = {"DYNAMIC_QUANTIZATION_GROUP_SIZE": "0"}


# -- knobs -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Knob:
    """One setting of a recipe: its default, what is allowed (for the one-line error) and what it does."""
    name: str
    default: Any
    rule: str
    accept: Callable[[Any], bool]
    doc: str

    def check(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            value = tuple(value)
        if not self.accept(value):
            raise UserError(f"params.yaml: {where}.{self.name} = {_shown(value)}: {self.rule}")
        return value


def _shown(value: Any) -> str:
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _alpha(value: Any) -> bool:
    return value is None or (_is_number(value) and (value == -1 or 0 <= value <= 1))


def _strings(value: Any) -> bool:
    return isinstance(value, tuple) and all(isinstance(item, str) and item.strip() for item in value)


def _one_of(*choices: Any) -> Callable[[Any], bool]:
    return lambda value: value in choices


PRESETS = ("performance", "mixed")
OVERFLOW_FIXES = ("disable", "first_layer", "enable")
BIAS_CORRECTIONS = ("fast", "full", "off")

PTQ_KNOBS = (
    Knob("preset", None, "use null (NNCF's default for transformers: mixed), performance or mixed",
         _one_of(None, *PRESETS), "symmetric (performance) or asymmetric (mixed) activations"),
    Knob("smooth_quant_matmul", None, "use null (NNCF's default, 0.95), -1 (off) or a number in [0, 1]", _alpha,
         "SmoothQuant alpha for MatMul inputs"),
    Knob("smooth_quant_convolution", None, "use null (NNCF's default: off), -1 (off) or a number in [0, 1]", _alpha,
         "SmoothQuant alpha for Convolution inputs"),
    Knob("overflow_fix", None, f"use null (NNCF's default, first_layer) or one of {', '.join(OVERFLOW_FIXES)}",
         _one_of(None, *OVERFLOW_FIXES), "7-bit weights against saturating int16 sums on CPUs without VNNI"),
    Knob("attention_overflow_fix", "disable", "use disable or enable", _one_of("disable", "enable"),
         "the overflow fix for INT8 attention: its keys' quantizers in half range (7 bits), see "
         "half_range_attention_keys"),
    Knob("bias_correction", "fast", f"use one of {', '.join(BIAS_CORRECTIONS)}", _one_of(*BIAS_CORRECTIONS),
         "NNCF's fast bias correction, the full one (slower, per layer) or none"),
    Knob("ignored_scope", None, "use null (the family's default) or a list of the family's scope names",
         lambda value: value is None or _strings(value),
         "named parts of the graph the family defines (sdxl unet: notebook, attention_scores, attention, "
         "embeddings, first_and_last_blocks) kept in float"),
    Knob("ignored_patterns", (), "use a list of regular expressions over op names", _strings,
         "more ops kept in float, by name pattern"),
    Knob("ignored_types", (), "use a list of OpenVINO op types, e.g. [ScaledDotProductAttention]", _strings,
         "more ops kept in float, by op type"),
    Knob("ignored_names", (), "use a list of op names", _strings,
         "more ops kept in float, by exact name (what accuracy_control reverted)"),
)
INT4_KNOBS = (
    Knob("group_size", 64, "use a positive group size (e.g. 64) or -1 (per channel)",
         lambda value: isinstance(value, int) and not isinstance(value, bool) and (value == -1 or value >= 1),
         "weights per INT4 scale"),
    Knob("ratio", 1.0, "must be a number in (0, 1]", lambda value: _is_number(value) and 0 < value <= 1,
         "share of the weighted layers in INT4 (the rest INT8)"),
)
ACCURACY_CONTROL_KNOBS = PTQ_KNOBS + (
    Knob("max_drop", None, "use null (the variant's gate.adherence_drop_max) or a number in (0, 1)",
         lambda value: value is None or (_is_number(value) and 0 < value < 1),
         "the validation metric's allowed drop NNCF restores quantizers against"),
    Knob("max_iterations", 8, "must be a positive integer", lambda value: isinstance(value, int) and value >= 1,
         "quantizer groups NNCF may revert at most"),
    Knob("ranking_prompts", 8, "must be a positive integer", lambda value: isinstance(value, int) and value >= 1,
         "validation captions whose denoiser inputs NNCF ranks the quantizer groups on"),
)


# -- the registry --------------------------------------------------------------------------------------------
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


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    needs_calibration: bool
    knobs: tuple[Knob, ...]
    apply: Callable[[Any, dict[str, Any], RecipeContext], RecipeResult]
    needs_validation: bool = False


@dataclass(frozen=True)
class ComponentRecipe:
    """A component's recipe with every knob resolved (defaults filled in)."""
    recipe: str
    knobs: dict[str, Any] = field(default_factory=dict)

    @property
    def definition(self) -> Recipe:
        return RECIPES[self.recipe]

    def to_json(self) -> dict[str, Any]:
        return {"recipe": self.recipe, **{k: list(v) if isinstance(v, tuple) else v for k, v in self.knobs.items()}}

    def label(self) -> str:
        """The recipe and the knobs that differ from its defaults, e.g. "int8(overflow_fix=enable)"."""
        defaults = {knob.name: knob.default for knob in self.definition.knobs}
        changed = [f"{k}={_shown(v)}" for k, v in self.knobs.items() if v != defaults[k]]
        return f"{self.recipe}({', '.join(changed)})" if changed else self.recipe


RECIPES: dict[str, Recipe] = {}


def register(name: str, summary: str, knobs: tuple[Knob, ...] = (), needs_calibration: bool = False,
             needs_validation: bool = False):
    def decorate(apply):
        RECIPES[name] = Recipe(name, summary, needs_calibration, knobs, apply, needs_validation)
        return apply
    return decorate


def parse_component(raw: Any, where: str) -> ComponentRecipe:
    """A component's recipe from params: a recipe name or a mapping with ``recipe`` and knobs."""
    if isinstance(raw, str):
        raw = {"recipe": raw}
    if not isinstance(raw, dict) or "recipe" not in raw:
        raise UserError(f"params.yaml: {where} = {raw!r}: use a recipe name ({', '.join(RECIPES)}) or a mapping "
                        "with `recipe:` and its knobs")
    name = raw["recipe"]
    if not isinstance(name, str) or name not in RECIPES:
        raise UserError(f"unknown recipe {name!r} at {where}: allowed are {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    allowed = {knob.name: knob for knob in recipe.knobs}
    for key in raw:
        if key != "recipe" and key not in allowed:
            raise UserError(f"params.yaml: unknown key '{where}.{key}': recipe {name} takes "
                            f"{', '.join(allowed) or 'no knobs'}")
    return ComponentRecipe(name, {knob.name: knob.check(raw.get(knob.name, knob.default), where)
                                 for knob in recipe.knobs})


def apply(component_recipe: ComponentRecipe, model, context: RecipeContext) -> RecipeResult:
    recipe = component_recipe.definition
    if recipe.needs_calibration and context.calibration is None:
        raise UserError(f"recipe {recipe.name!r} needs calibration data for {context.component}: record its inputs "
                        "with calibrate.other_components, or use a weight-only recipe")
    if recipe.needs_validation and context.validate is None:
        raise UserError(f"recipe {recipe.name!r} for {context.component} runs only inside the recipe search "
                        "(quantize.search), which validates each candidate")
    return recipe.apply(model, dict(component_recipe.knobs), context)


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


@register("int8", "full post-training quantization (nncf.quantize, ModelType.TRANSFORMER) on the recorded "
                  "calibration data: INT8 weights and activations; the SDXL notebook's recipe",
          PTQ_KNOBS, needs_calibration=True)
def _int8(model, knobs, context):
    import nncf

    quantized = nncf.quantize(model, nncf.Dataset(context.calibration), **_ptq_arguments(knobs, context))
    return RecipeResult(_attention_overflow_fix(quantized, knobs))


@register("hybrid", "INT8 weights of MatMuls and embeddings, then PTQ of the remaining activations: the PixArt "
                    "notebook's, as optimum-intel 2.2.0 builds it (_get_hybrid_mixed_quantization_config)",
          PTQ_KNOBS, needs_calibration=True)
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


@register("accuracy_control", "int8, then NNCF's quantize_with_accuracy_control reverts the quantizers that hurt "
                              "the validation metric most until its drop is within max_drop; recorded as int8 with "
                              "those ops ignored (search only: it needs the validation split)",
          ACCURACY_CONTROL_KNOBS, needs_calibration=True, needs_validation=True)
def _accuracy_control(model, knobs, context):
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    ptq = {k: v for k, v in knobs.items() if k not in ("max_drop", "max_iterations", "ranking_prompts")}
    arguments = _ptq_arguments(ptq, context)
    max_drop = knobs["max_drop"] if knobs["max_drop"] is not None else context.default_max_drop
    if max_drop is None:
        raise UserError(f"accuracy_control for {context.component} needs max_drop (or a gate.adherence_drop_max)")
    before = int8_op_names(nncf.quantize(model.clone(), nncf.Dataset(context.calibration), **arguments))
    restored = nncf.quantize_with_accuracy_control(
        model, nncf.Dataset(context.calibration), nncf.Dataset(context.validation_items), context.validate,
        max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE, subset_size=arguments.pop("subset_size"),
        advanced_quantization_parameters=arguments.pop("advanced_parameters"),
        advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
            max_num_iterations=knobs["max_iterations"], ranking_subset_size=len(context.validation_items),
            num_ranking_workers=1),
        **arguments)
    restored = _attention_overflow_fix(restored, knobs)
    reverted = sorted(before - int8_op_names(restored))
    equivalent = ComponentRecipe("int8", {**ptq, "ignored_names": tuple(sorted({*ptq["ignored_names"], *reverted}))})
    return RecipeResult(restored, details={"reverted_ops": reverted}, equivalent=equivalent)


@register("int8_weights", "weight-only INT8 (nncf.compress_weights, INT8_ASYM): activations stay in float")
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


register("int4_sym", "weight-only INT4, symmetric, group-wise (the PixArt notebook's for T5 and the VAE)",
         INT4_KNOBS)(_int4("INT4_SYM"))
register("int4_asym", "weight-only INT4, asymmetric, group-wise", INT4_KNOBS)(_int4("INT4_ASYM"))


@register("none", "left as exported")
def _none(model, knobs, context):
    return RecipeResult(model)


# -- what a quantized model holds --------------------------------------------------------------------------------
def _weight_precision(op) -> str | None:
    """Element type of the constant feeding ``op``'s weight input, walking through decompression ops."""
    for port in range(1, op.get_input_size()) if op.get_type_name() != "Gather" else (0,):
        node = op.input_value(port).get_node()
        while node.get_type_name() in WEIGHT_PATH_OPS:
            node = node.input_value(0).get_node()
        if node.get_type_name() == "Constant":
            return node.get_element_type().get_type_name()
    return None


def count_quantized_ops(model) -> dict[str, Any]:
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


COMPUTE_OPS = ("MatMul", "Convolution", "GroupConvolution", "ScaledDotProductAttention")
LAYOUT_OPS = ("Convert", "Reshape", "Transpose", "Unsqueeze", "Squeeze", "Multiply", "Subtract")


def _source(op, port: int):
    """What feeds ``op``'s input ``port``: the first node that is not a layout op (None past 8 layout ops)."""
    node = op.input_value(port).get_node()
    for _ in range(8):
        if node.get_type_name() not in LAYOUT_OPS:
            return node
        node = node.input_value(0).get_node()
    return None


def _quantized_input(op, port: int) -> bool:
    """Whether ``op``'s input ``port`` is INT8 data: a FakeQuantize (or an i8/u8 constant) before any compute."""
    node = _source(op, port)
    if node is None:
        return False
    if node.get_type_name() == "Constant":
        return node.get_element_type().get_type_name() in ("i8", "u8")
    return node.get_type_name() == "FakeQuantize"


def runs_in_int8(op) -> bool:
    """An op the CPU plugin can run as an INT8 kernel: both its operands (Q and K for attention) are quantized."""
    return _quantized_input(op, 0) and _quantized_input(op, 1)


def int8_op_names(model) -> set[str]:
    return {op.get_friendly_name() for op in model.get_ops()
            if op.get_type_name() in COMPUTE_OPS and runs_in_int8(op)}


def _macs(op) -> int:
    """Multiply-accumulates of one compute op with static shapes."""
    import math

    out = list(op.get_output_shape(0))
    if op.get_type_name() == "ScaledDotProductAttention":
        q, k = list(op.get_input_shape(0)), list(op.get_input_shape(1))
        return 2 * math.prod(q) * k[-2]  # Q·Kᵀ and the weights times V
    if op.get_type_name() == "MatMul":
        a = list(op.get_input_shape(0))
        transpose_a = op.get_attributes().get("transpose_a", False)
        return math.prod(out) * (a[-2] if transpose_a and len(a) > 1 else a[-1])
    weight = list(op.get_input_shape(1))  # [Cout, Cin, k...], grouped: [G, Cout/G, Cin/G, k...]
    per_output = math.prod(weight[2:]) if op.get_type_name() == "GroupConvolution" else math.prod(weight[1:])
    return math.prod(out) * per_output


# Without VNNI an INT8 op's pair of u8×s8 products is summed in 16 bits, saturating (host_facts.SATURATING_INT8_CLASSES):
# weights within ±64 keep a pair within 255·128 = 32640 < 2¹⁵ (NNCF's overflow fix gives 7-bit weights); a product
# of two activations (attention's Q·Kᵀ) is bounded only where the keys are in half range (attention_overflow_fix).
SATURATION_FREE_WEIGHT = 64
# NNCF's half range (nncf.quantization.fake_quantize._calculate_scaled_parameters, applied to weights by overflow_fix):
# 7-bit levels spread over the 8-bit quantizer, i.e. its range times (127 - -128) / (63 - -64).
HALF_RANGE_SCALE = 255 / 127
# where the model records (as JSON) its attentions with keys in half range: node rt_info is not saved, the model's is
HALF_RANGE_KEYS_INFO = ["ov_diffusion_quant", "attention_keys_in_half_range"]


def half_range_attention_keys(model) -> list[str]:
    """NNCF's overflow fix for the keys of INT8 attention: every ScaledDotProductAttention whose Q and K are quantized
    gets its key quantizer's range times HALF_RANGE_SCALE, so that keys within their calibrated range are integers
    within ±64 and a pair of u8×s8 products of Q·Kᵀ fits 16 bits on a CPU without VNNI (the same bits as with VNNI:
    tests/test_emulate_host.py). NNCF applies half range to weights only; its activation quantizers refuse it, since
    keys beyond the calibrated range are then clipped at twice it, not at it (and can saturate there). Changes
    ``model`` in place; returns the attentions' names."""
    import numpy as np
    from openvino import opset13 as ops

    widened, done = [], set()
    for op in model.get_ordered_ops():
        if op.get_type_name() != "ScaledDotProductAttention" or not runs_in_int8(op):
            continue
        keys = _source(op, 1)
        widened.append(op.get_friendly_name())
        if keys.get_friendly_name() in done:  # one quantizer shared by two attentions: widened once
            continue
        done.add(keys.get_friendly_name())
        low, high, out_low, out_high = (keys.input_value(i).get_node().get_data() for i in range(1, 5))
        if (keys.get_attributes()["levels"] != 256 or not np.allclose(low, -high * 128 / 127, rtol=1e-4)
                or not (np.array_equal(low, out_low) and np.array_equal(high, out_high))):
            raise UserError(f"attention_overflow_fix needs signed symmetric 8-bit key quantizers (as NNCF makes for "
                            f"transformers); {keys.get_friendly_name()} has {keys.get_attributes()['levels']} levels "
                            f"over [{float(np.min(low)):.4g}, {float(np.max(high)):.4g}]")
        for port in range(1, 5):
            bound = keys.input_value(port).get_node().get_data()
            widened_bound = ops.constant((bound * HALF_RANGE_SCALE).astype(bound.dtype))
            keys.input(port).replace_source_output(widened_bound.output(0))
    model.set_rt_info(json.dumps(widened), HALF_RANGE_KEYS_INFO)
    return widened


def _attention_keys_in_half_range(model) -> set[str]:
    if not model.has_rt_info(HALF_RANGE_KEYS_INFO):
        return set()
    return set(json.loads(model.get_rt_info(HALF_RANGE_KEYS_INFO).astype(str)))


def _weight_magnitude(op) -> int | None:
    """The largest |integer| of ``op``'s INT8 weights (input 1), or None when that input is an activation."""
    import numpy as np

    node = _source(op, 1)
    kind = node.get_type_name() if node is not None else None
    if kind == "Constant":
        return int(np.abs(node.get_data().astype(np.int32)).max())
    if kind == "FakeQuantize" and node.input_value(0).get_node().get_type_name() == "Constant":
        # weights not yet compressed: ±levels/2 (NNCF's overflow fix gives them 7 bits, 128 levels)
        return node.get_attributes()["levels"] // 2
    return None


def saturating_int8_ops(model) -> dict[str, int]:
    """The INT8 ops of ``model`` whose sums can saturate on a CPU without VNNI, counted by cause (empty: none)."""
    found: Counter[str] = Counter()
    half_range_keys = _attention_keys_in_half_range(model)
    for op in model.get_ops():
        if op.get_type_name() in COMPUTE_OPS and runs_in_int8(op):
            magnitude = _weight_magnitude(op)
            if magnitude is None and op.get_friendly_name() in half_range_keys:
                continue
            if magnitude is None:
                found["INT8 products of two activations (attention)"] += 1
            elif magnitude > SATURATION_FREE_WEIGHT:
                found["INT8 weights beyond ±64 (overflow_fix is not enable)"] += 1
    return dict(found)


def int8_compute_share(model, sample: dict) -> dict[str, Any]:
    """The share of ``model``'s multiply-accumulates (at the shapes of ``sample``, one recorded input) that run in
    INT8: what ranks candidate recipes by speed where latency at the trained model's 64 px says little."""
    import openvino as ov

    static = model.clone()
    shapes = {}
    for port in static.inputs:
        name = next(iter(port.get_names() & sample.keys()), None)
        if name is not None:
            shapes[port] = ov.PartialShape(list(sample[name].shape))
    static.reshape(shapes)
    total = int8 = 0
    for op in static.get_ops():
        if op.get_type_name() in COMPUTE_OPS and op.get_output_partial_shape(0).is_static:
            macs = _macs(op)
            total += macs
            if runs_in_int8(op):
                int8 += macs
    return {"int8_macs_share": round(int8 / total, 4) if total else 0.0, "gmacs": round(total / 1e9, 4)}


def describe() -> str:
    """The registry as a markdown table (recipe, calibration, knobs, what it does)."""
    lines = ["| recipe | calibration | knobs | what |", "|---|---|---|---|"]
    for recipe in RECIPES.values():
        knobs = ", ".join(f"`{knob.name}`" for knob in recipe.knobs) or "-"
        lines.append(f"| `{recipe.name}` | {'yes' if recipe.needs_calibration else 'no'} | {knobs} | {recipe.summary} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
