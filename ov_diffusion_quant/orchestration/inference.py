"""The inference API: load an exported or optimized variant on a device and generate.

    from ov_diffusion_quant.orchestration.inference import load_variant
    pipe = load_variant("tiny-sdxl-turbo", device="CPU", optimized=True)
    image = pipe.text_to_image("cute cat", pipe.generation, seed=987)
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import replace

import numpy as np
import openvino as ov

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.artifacts import read_json
from ov_diffusion_quant.runtime.devices import compile_config
from ov_diffusion_quant.runtime.recording import input_shapes
from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.families import LoadedPipeline, family_for
from ov_diffusion_quant.config.params import GenerationSpec, Params, load


def model_dir_for(variant: str, device: str, optimized: bool, peer: str | None = None):
    if peer is not None:
        return paths.peer_model(variant, device, peer)
    return paths.optimized_model(variant, device) if optimized else paths.fp_model(variant)


def dvc_target_for(variant: str, device: str, optimized: bool, peer: str | None = None) -> str:
    if peer is not None:
        return f"peers@{variant}-{device}"
    return f"quantize@{variant}-{device}" if optimized else f"export@{variant}"


def made_peers(variant: str, device: str) -> list[str]:
    """The peers the peers stage made for ``variant`` on ``device`` (none before it ran)."""
    record = paths.peers_record(variant, device)
    return list(read_json(record)["peers"]) if record.exists() else []


def load_variant(variant: str, device: str = "CPU", optimized: bool = False, f32: bool = False,
                 params: Params | None = None, static_shapes: bool = False,
                 parts: tuple[str, ...] | None = None, peer: str | None = None) -> LoadedPipeline:
    """Load a variant's FP export, its optimized model or optimum-intel's quantization ``peer`` of it
    (config/optimum_peers.py) for ``device``; ``f32`` forces f32 execution; ``static_shapes`` compiles every component for the
    variant's size only (see specialize_to_static_shapes); ``parts``: only these components
    (ModelFamily.encodes_apart)."""
    params = params or load()
    spec = params.variant(variant)
    model_dir = model_dir_for(variant, device, optimized, peer)
    if not model_dir.is_dir():
        hint = (f"add it to benchmark.peers and run `dvc repro {dvc_target_for(variant, device, optimized, peer)}`"
                if peer else f"run `dvc repro {dvc_target_for(variant, device, optimized)}`")
        raise UserError(f"{model_dir} does not exist yet: {hint}")
    family = family_for(spec)
    if static_shapes and parts is not None:
        raise UserError("static shapes are recorded from a whole text-to-image run: they need every component loaded "
                        "(set benchmark.static_shapes: false, or benchmark.text_encoder_apart: never)")
    pipeline = family.load(model_dir, device, f32=f32, **({"parts": parts} if parts is not None else {}))
    pipeline.generation = spec.generation
    if static_shapes:
        per_component = family.read_compile_config(model_dir)
        specialize_to_static_shapes(pipeline, spec.generation, model_dir, device,
                                    {name: compile_config(f32, per_component.get(name)) for name in family.components})
    return pipeline


class StaticShapeCompiledModel(ov.CompiledModel):
    """A model compiled for fixed input shapes; a 0-d input for a one-element port (the pipelines pass
    the timestep as a scalar) is given the port's shape."""

    def __init__(self, compiled: ov.CompiledModel):
        super().__init__(compiled)
        self.shapes = {name: list(port.get_shape()) for port in compiled.inputs for name in port.get_names()}

    def __call__(self, inputs, *args, **kwargs):
        inputs = {name: np.reshape(np.asarray(value), self.shapes[name])
                  if np.ndim(value) == 0 and name in self.shapes else value for name, value in inputs.items()}
        return super().__call__(inputs, *args, **kwargs)


def specialize_to_static_shapes(pipeline: LoadedPipeline, generation: GenerationSpec, model_dir, device: str,
                                configs: dict[str, dict]) -> None:
    """Recompile every component for the input shapes one text-to-image run at ``generation`` feeds it.

    OpenVINO's CPU plugin runs statically shaped graphs faster than dynamic ones (what GenAI does with
    its reshape). The shapes are recorded from a run rather than written down per family; afterwards
    the pipeline runs at this size only. Each old compiled model is dropped before its replacement is
    compiled, so that a 2.6 B UNet is never held twice. ``configs``: compile properties per component.
    """
    from ov_diffusion_quant.runtime.recording import RecordingCompiledModel, hooked

    slots = pipeline.compiled_model_slots()
    recorded: dict[str, list] = {name: [] for name in slots}
    with contextlib.ExitStack() as stack:
        for name in slots:
            stack.enter_context(hooked(pipeline, name, lambda compiled, sink=recorded[name]:
                                       RecordingCompiledModel(compiled, sink)))
        pipeline.text_to_image("a photo", generation, seed=generation.seed)
    core = ov.Core()
    for name, (holder, attribute) in slots.items():
        if not recorded[name]:
            continue  # not called in text-to-image
        sample = recorded[name][0]
        model = core.read_model(model_dir / name / "openvino_model.xml")
        model.reshape(input_shapes(model, sample))
        setattr(holder, attribute, None)
        gc.collect()
        setattr(holder, attribute,
                StaticShapeCompiledModel(core.compile_model(model, device, configs.get(name, {}))))


def generation_with(base: GenerationSpec, family, steps: int | None = None, height: int | None = None,
                    width: int | None = None) -> GenerationSpec:
    """``base`` with overrides, validated like params (steps and sizes the family allows)."""
    spec = replace(base, steps=base.steps if steps is None else steps, height=base.height if height is None else height,
                   width=base.width if width is None else width)
    family.check_size(spec.height, spec.width)
    family.check_steps(spec.steps)
    return spec
