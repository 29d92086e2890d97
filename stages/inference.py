"""The inference API: load an exported or optimized variant on a device and generate.

    from stages.inference import load_variant
    pipe = load_variant("tiny-sdxl-turbo", device="CPU", optimized=True)
    image = pipe.text_to_image("cute cat", pipe.generation, seed=987)
"""

from __future__ import annotations

from dataclasses import replace

from stages import paths
from stages.errors import UserError
from stages.families import LoadedPipeline, get_family
from stages.params import GenerationSpec, Params, load


def model_dir_for(variant: str, device: str, optimized: bool):
    return paths.optimized_model(variant, device) if optimized else paths.fp_model(variant)


def dvc_target_for(variant: str, device: str, optimized: bool) -> str:
    return f"quantize@{variant}-{device}" if optimized else f"export@{variant}"


def load_variant(variant: str, device: str = "CPU", optimized: bool = False, f32: bool = False,
                 params: Params | None = None) -> LoadedPipeline:
    """Load a variant's FP export or its optimized model for ``device``; ``f32`` forces f32 execution."""
    params = params or load()
    spec = params.variant(variant)
    model_dir = model_dir_for(variant, device, optimized)
    if not model_dir.is_dir():
        raise UserError(f"{model_dir} does not exist yet: run `dvc repro {dvc_target_for(variant, device, optimized)}`")
    pipeline = get_family(spec.model.family).load(model_dir, device, f32=f32)
    pipeline.generation = spec.generation
    return pipeline


def generation_with(base: GenerationSpec, family: str, steps: int | None = None, height: int | None = None,
                    width: int | None = None) -> GenerationSpec:
    """``base`` with overrides, validated like params (positive steps, sizes the family allows)."""
    from stages.families import family_class

    for label, value in (("steps", steps), ("height", height), ("width", width)):
        if value is not None and value <= 0:
            raise UserError(f"{label} {value} is not allowed: use a positive integer")
    spec = replace(base, steps=steps or base.steps, height=height or base.height, width=width or base.width)
    family_class(family).check_size(spec.height, spec.width)
    return spec
