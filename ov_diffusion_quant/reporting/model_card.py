"""What an optimized model directory says about itself, where the ecosystem looks for it.

- ``openvino_config.json``: the ``quantization_config`` optimum-intel writes. optimum-intel 2.2.0 saves one such file
  at the root of a diffusion pipeline (``OVDiffusionPipeline.save_pretrained`` and ``OVQuantizer`` both call
  ``OVConfig(quantization_config=...).save_pretrained(save_directory)``), holding an ``OVPipelineQuantizationConfig``
  with one config per quantized OpenVINO model, named as the model's sub-directory. Written here with optimum-intel's
  own classes, so that ``OVConfig.from_pretrained`` reads it back. A recipe maps to optimum's config as
  optimum would have quantized the component: int8 to ``OVQuantizationConfig`` (its family's ignored scope resolved
  to node names), hybrid to ``OVWeightQuantizationConfig(quant_method="hybrid")``, the weight-only recipes to
  ``OVWeightQuantizationConfig``; ``none`` is left out (optimum: not quantized). What optimum has no field for
  (bias correction off, SmoothQuant on convolutions) goes into ``advanced_parameters``, as optimum writes NNCF's;
  ``attention_overflow_fix`` (ours, applied after NNCF) only into quantization.json beside it, which has every knob.
- ``README.md``: a model card as the Hugging Face hub shows it: the recipe, the host class it was quantized on, its
  source and size, how to load it, and the files where the quality gate's metrics and the speed are (later stages
  write those, so the card names them instead of holding numbers the quantize stage cannot know).
"""

from __future__ import annotations

from pathlib import Path

from ov_diffusion_quant.common.artifacts import read_ir, read_json
from ov_diffusion_quant.config.recipes import ComponentRecipe

OPENVINO_CONFIG = "openvino_config.json"  # optimum-intel's OVConfig.CONFIG_NAME
MODEL_CARD = "README.md"
NOT_IN_OPTIMUM = ("attention_overflow_fix",)  # knobs with no place in optimum-intel's config


def ignored_scope(recipe: ComponentRecipe, family, component: str, fp_dir: Path) -> dict | None:
    """The PTQ recipe's ignored scope as nncf.IgnoredScope fields, as quantization/recipes.py builds it: the family's
    named parts resolved on the exported model, plus the recipe's own names, patterns and types."""
    knobs = recipe.knobs
    family_scope = family.ignored_scope(component, read_ir(fp_dir / component / "openvino_model.xml"),
                                        knobs["ignored_scope"])
    fields = {"names": [*(family_scope.names if family_scope else []), *knobs["ignored_names"]],
              "patterns": [*(family_scope.patterns if family_scope else []), *knobs["ignored_patterns"]],
              "types": [*(family_scope.types if family_scope else []), *knobs["ignored_types"]]}
    return {key: values for key, values in fields.items() if values} or None


def optimum_config(recipe: ComponentRecipe, scope: dict | None, samples: int | None):
    """The optimum-intel config of one component's recipe; None for a component left as exported."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters
    from optimum.intel.openvino.configuration import OVQuantizationConfig, OVWeightQuantizationConfig

    knobs = recipe.knobs
    if recipe.recipe == "none":
        return None
    if recipe.recipe == "int8_weights":
        return OVWeightQuantizationConfig(bits=8, sym=False)
    if recipe.recipe in ("int4_sym", "int4_asym"):
        return OVWeightQuantizationConfig(bits=4, sym=recipe.recipe == "int4_sym", group_size=knobs["group_size"],
                                          ratio=knobs["ratio"])
    if recipe.recipe == "hybrid":
        return OVWeightQuantizationConfig(bits=8, quant_method="hybrid", num_samples=samples, ignored_scope=scope)
    extra = {}
    if knobs["bias_correction"] == "off" or knobs["smooth_quant_convolution"] is not None:
        smooth = AdvancedSmoothQuantParameters()
        for op, knob in (("matmul", "smooth_quant_matmul"), ("convolution", "smooth_quant_convolution")):
            if knobs[knob] is not None:
                setattr(smooth, op, float(knobs[knob]))
        extra["advanced_parameters"] = AdvancedQuantizationParameters(
            smooth_quant_alphas=smooth, disable_bias_correction=knobs["bias_correction"] == "off")
    return OVQuantizationConfig(
        bits=8, sym=knobs["preset"] == "performance", ignored_scope=scope, num_samples=samples,
        model_type=nncf.ModelType.TRANSFORMER.value, fast_bias_correction=knobs["bias_correction"] != "full",
        overflow_fix=knobs["overflow_fix"] or "first_layer",  # None: NNCF's default
        smooth_quant_alpha=knobs["smooth_quant_matmul"], **extra)


def write_openvino_config(out_dir: Path, family, fp_dir: Path, recipes: dict[str, ComponentRecipe],
                          samples: dict[str, int | None]) -> dict:
    """``out_dir``/openvino_config.json for the components' recipes; returns what it wrote."""
    from optimum.intel.openvino.configuration import OVConfig, OVPipelineQuantizationConfig

    configs = {}
    for component, recipe in recipes.items():
        scope = (ignored_scope(recipe, family, component, fp_dir)
                 if recipe.recipe in ("int8", "hybrid", "accuracy_control") else None)
        config = optimum_config(recipe, scope, samples.get(component))
        if config is not None:
            configs[component] = config
    if not configs:
        return {}
    OVConfig(quantization_config=OVPipelineQuantizationConfig(configs)).save_pretrained(out_dir)  # optimum's own writer
    return read_json(out_dir / OPENVINO_CONFIG)


def model_card(variant, device: str, family, recipes: dict[str, ComponentRecipe], components: dict[str, dict],
               measured: dict, host: dict, saturating: dict[str, int]) -> str:
    """The README.md of an optimized model directory."""
    source = measured["source"] + (f"@{measured['revision']}" if measured.get("revision") else "")
    hub_id = variant.model.kind.value == "pretrained" and not Path(measured["source"]).exists()
    labels = sorted({recipe.recipe for recipe in recipes.values() if recipe.recipe != "none"})
    header = ["---", "library_name: openvino", "pipeline_tag: text-to-image",
              *([f"base_model: {measured['source']}"] if hub_id else []),
              "tags: [" + ", ".join(["openvino", "nncf", family.name, *labels]) + "]", "---", ""]
    rows = ["| component | recipe | calibration samples | size, MB: FP → optimized |", "|---|---|---|---|"]
    rows += [f"| {component} | `{recipe.label()}` | {components[component].get('calibration_samples', '-')} | "
             f"{components[component]['fp_mb']:.1f} → {components[component]['optimized_mb']:.1f} |"
             for component, recipe in recipes.items()]
    outside = sorted({knob for recipe in recipes.values() for knob in NOT_IN_OPTIMUM
                      if recipe.knobs.get(knob, "disable") != "disable"})
    metrics, report = f"metrics/{variant.name}/{device}", f"reports/{variant.name}/{device}"
    genai = ("; the directory also loads in OpenVINO GenAI (`openvino_genai.Text2ImagePipeline(path, \"CPU\")`)"
             if family.supports_genai else "")
    return "\n".join([
        *header,
        f"# {variant.name}, optimized for {device}",
        "",
        f"The `{family.name}` model `{source}` exported to OpenVINO IR and quantized with NNCF by "
        f"ov-diffusion-quant for {device}, generating {measured['width']}×{measured['height']} "
        f"in {measured['steps']} steps. Components with the recipe `none`, and those not listed, are as exported "
        "(FP16 IR).",
        "",
        "## Recipe",
        "",
        *rows,
        "",
        f"Every knob: `quantization.json`; in optimum-intel's form: `{OPENVINO_CONFIG}` (`quantization_config`)"
        + (f", except {', '.join(outside)}, which optimum-intel has no field for." if outside else "."),
        "",
        "## Quantized on",
        "",
        f"Host class `{host['isa_class']}` ({host['cpu']}), inference precision {host['precision']}, OpenVINO "
        f"{host['openvino']}, NNCF {host['nncf']}. Calibration statistics depend on the host class and precision: "
        "a model quantized on another class is another model."
        + (f" On CPUs without VNNI its INT8 sums saturate ({', '.join(f'{n} {c}' for c, n in saturating.items())})."
           if saturating else ""),
        "",
        "## Quality gate and speed",
        "",
        "Measured by the pipeline's later stages, in the repository that made this model:",
        "",
        f"- `{metrics}/evaluate.json`: FP against this model on the same prompts and seeds (SSIM, PSNR, CLIP; prompt "
        f"adherence for judged variants), images in `{report}/grid.png`;",
        f"- `reports/gate.md`: the gate's verdict against `variants.{variant.name}.gate` in params.yaml;",
        f"- `{metrics}/benchmark.json`: latency per image and per component, FP and this model, and the speedup.",
        "",
        "## Use",
        "",
        "```python",
        "from ov_diffusion_quant.orchestration.inference import load_variant",
        f"pipe = load_variant(\"{variant.name}\", \"{device}\", optimized=True)",
        "image = pipe.text_to_image(\"a photo of a cat\", pipe.generation, seed=0)",
        "```",
        "",
        f"or `ovdq generate {variant.name} {device} \"a photo of a cat\" --optimized`{genai}.",
        ""])
