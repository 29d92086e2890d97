"""The recipe schema: every quantization recipe's name, what it needs and its knobs, as data.

A component's recipe in params (``variants.<v>.quantize.components.<component>``) is a name, or a mapping with
``recipe:`` and knobs, e.g. ``{recipe: int8, overflow_fix: enable, ignored_scope: [notebook, attention_scores]}``.
params.py validates it against :data:`RECIPES` (:func:`parse_component`); how each recipe is applied (the NNCF
calls) is ov_diffusion_quant/quantization/recipes.py, one function per name here. Adding a recipe is one entry here
and one function there; params, the search and the docs' table (``python -m ov_diffusion_quant.config.recipes``) take it from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ov_diffusion_quant.common.errors import UserError


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
@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    knobs: tuple[Knob, ...] = ()
    needs_calibration: bool = False
    needs_validation: bool = False  # runs only inside the recipe search, which validates each candidate


RECIPES: dict[str, Recipe] = {recipe.name: recipe for recipe in (
    Recipe("int8", "full post-training quantization (nncf.quantize, ModelType.TRANSFORMER) on the recorded "
           "calibration data: INT8 weights and activations; the SDXL notebook's recipe",
           PTQ_KNOBS, needs_calibration=True),
    Recipe("hybrid", "INT8 weights of MatMuls and embeddings, then PTQ of the remaining activations: the PixArt "
           "notebook's, as optimum-intel 2.2.0 builds it (_get_hybrid_mixed_quantization_config)",
           PTQ_KNOBS, needs_calibration=True),
    Recipe("accuracy_control", "int8, then NNCF's quantize_with_accuracy_control reverts the quantizers that hurt "
           "the validation metric most until its drop is within max_drop; recorded as int8 with those ops ignored "
           "(search only: it needs the validation split)",
           ACCURACY_CONTROL_KNOBS, needs_calibration=True, needs_validation=True),
    Recipe("int8_weights", "weight-only INT8 (nncf.compress_weights, INT8_ASYM): activations stay in float"),
    Recipe("int4_sym", "weight-only INT4, symmetric, group-wise (the PixArt notebook's for T5 and the VAE)",
           INT4_KNOBS),
    Recipe("int4_asym", "weight-only INT4, asymmetric, group-wise", INT4_KNOBS),
    Recipe("none", "left as exported"),
)}


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


def describe() -> str:
    """The registry as a markdown table (recipe, calibration, knobs, what it does)."""
    lines = ["| recipe | calibration | knobs | what |", "|---|---|---|---|"]
    for recipe in RECIPES.values():
        knobs = ", ".join(f"`{knob.name}`" for knob in recipe.knobs) or "-"
        lines.append(f"| `{recipe.name}` | {'yes' if recipe.needs_calibration else 'no'} | {knobs} | {recipe.summary} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
