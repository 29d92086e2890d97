"""Tiny models, export of both families, inference through the project's API and optimum-intel's."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.families import get_family


def tree_digest(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file() and p.suffix == ".safetensors"}


@pytest.mark.parametrize("variant_name", ["tiny-sdxl-turbo", "tiny-pixart-lcm"])
def test_tiny_models_are_deterministic_and_small(params, tmp_path, variant_name):
    variant = params.variant(variant_name)
    family = get_family(variant.model.family)
    family.build_tiny(variant.model, tmp_path / "a")
    family.build_tiny(variant.model, tmp_path / "b")
    first, second = tree_digest(tmp_path / "a"), tree_digest(tmp_path / "b")
    assert first and first == second
    size = sum(p.stat().st_size for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert size < 20 * 2**20


def test_tiny_sdxl_uses_the_real_classes(params, tmp_path):
    from diffusers import StableDiffusionXLPipeline

    variant = params.variant("tiny-sdxl-turbo")
    get_family("sdxl").build_tiny(variant.model, tmp_path)
    pipe = StableDiffusionXLPipeline.from_pretrained(tmp_path, use_safetensors=True)
    assert type(pipe.text_encoder).__name__ == "CLIPTextModel"
    assert type(pipe.text_encoder_2).__name__ == "CLIPTextModelWithProjection"
    assert pipe.unet.config.addition_embed_type == "text_time"
    assert type(pipe.scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    assert pipe.scheduler.config.timestep_spacing == "trailing"
    assert type(pipe.vae).__name__ == "AutoencoderKL"
    assert json.loads((tmp_path / "taesd" / "config.json").read_text())["_class_name"] == "AutoencoderTiny"


def test_tiny_pixart_uses_the_real_classes(params, tmp_path):
    from diffusers import PixArtAlphaPipeline

    variant = params.variant("tiny-pixart-lcm")
    get_family("pixart").build_tiny(variant.model, tmp_path)
    pipe = PixArtAlphaPipeline.from_pretrained(tmp_path, use_safetensors=True)
    assert type(pipe.text_encoder).__name__ == "T5EncoderModel"
    assert type(pipe.transformer).__name__ == "PixArtTransformer2DModel"
    assert pipe.transformer.use_additional_conditions
    assert type(pipe.scheduler).__name__ == "LCMScheduler"
    assert type(pipe.vae).__name__ == "AutoencoderKL"


def test_sdxl_export_is_self_contained_and_uses_the_tiny_autoencoder(sdxl_export):
    for part in ("text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder", "tokenizer", "tokenizer_2",
                 "scheduler"):
        assert (sdxl_export / part).is_dir(), part
    assert not list(sdxl_export.rglob("*.safetensors")), "no torch weights in an export"
    assert json.loads((sdxl_export / "vae_decoder" / "config.json").read_text())["_class_name"] == "AutoencoderTiny"


def test_sdxl_export_generates_in_optimum_intels_own_pipelines(sdxl_export, sdxl_variant):
    import torch
    from optimum.intel import OVStableDiffusionXLImg2ImgPipeline, OVStableDiffusionXLPipeline

    generation = sdxl_variant.generation
    text2image = OVStableDiffusionXLPipeline.from_pretrained(sdxl_export, device="CPU")
    image = text2image("cute cat", num_inference_steps=1, guidance_scale=0.0, height=generation.height,
                       width=generation.width, generator=torch.Generator().manual_seed(1)).images[0]
    assert image.size == (generation.width, generation.height)
    image2image = OVStableDiffusionXLImg2ImgPipeline.from_pretrained(sdxl_export, device="CPU")
    edited = image2image("a cute cat with bow tie", image=image, num_inference_steps=2, strength=0.5,
                         guidance_scale=0.0, generator=torch.Generator().manual_seed(2)).images[0]
    assert edited.size == image.size


def test_pixart_export_has_the_notebook_components(pixart_export):
    import openvino as ov

    transformer = ov.Core().read_model(pixart_export / "transformer" / "openvino_model.xml")
    names = {port.get_any_name() for port in transformer.inputs}
    assert names == {"hidden_states", "timestep", "encoder_hidden_states", "encoder_attention_mask", "resolution",
                     "aspect_ratio"}
    for part in ("text_encoder", "vae_decoder", "tokenizer", "scheduler"):
        assert (pixart_export / part).is_dir(), part
    assert not list(pixart_export.rglob("*.safetensors"))


@pytest.mark.parametrize("family_name", ["sdxl", "pixart"])
def test_text_to_image_shape_and_determinism(request, family_name):
    pipeline = request.getfixturevalue(f"{family_name}_pipeline")
    variant = request.getfixturevalue(f"{family_name}_variant")
    first = np.asarray(pipeline.text_to_image("a small cactus", variant.generation, seed=7))
    again = np.asarray(pipeline.text_to_image("a small cactus", variant.generation, seed=7))
    other_seed = np.asarray(pipeline.text_to_image("a small cactus", variant.generation, seed=8))
    assert first.shape == (variant.generation.height, variant.generation.width, 3)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other_seed)
    assert first.std() > 10, "the tiny decoders are normalised to give pictures, not flat colour"


@pytest.mark.parametrize("family_name", ["sdxl", "pixart"])
def test_static_shapes_compile_every_component_for_the_size_and_keep_the_image(request, family_name):
    from ov_diffusion_quant.orchestration.inference import specialize_to_static_shapes

    export = request.getfixturevalue(f"{family_name}_export")
    variant = request.getfixturevalue(f"{family_name}_variant")
    family = get_family(family_name)
    reference = np.asarray(request.getfixturevalue(f"{family_name}_pipeline").text_to_image(
        "a red car", variant.generation, seed=3), dtype=float)
    pipeline = family.load(export, "CPU")
    specialize_to_static_shapes(pipeline, variant.generation, export, "CPU", {})
    for name, (holder, attribute) in pipeline.compiled_model_slots().items():
        assert all(port.get_partial_shape().is_static for port in getattr(holder, attribute).inputs), name
    image = np.asarray(pipeline.text_to_image("a red car", variant.generation, seed=3), dtype=float)
    assert image.shape == reference.shape
    assert np.abs(image - reference).mean() < 1.0  # same function; kernels for static shapes may round differently


def test_sdxl_image_to_image(sdxl_pipeline, sdxl_variant):
    source = sdxl_pipeline.text_to_image("cute cat", sdxl_variant.generation, seed=1)
    edited = sdxl_pipeline.image_to_image("a cute cat with bow tie", source, sdxl_variant.generation, seed=2)
    assert edited.size == source.size
    assert not np.array_equal(np.asarray(edited), np.asarray(source))


def test_image_to_image_refuses_zero_denoising_steps_before_running(sdxl_pipeline, sdxl_variant):
    with pytest.raises(UserError, match=r"steps x strength = 1 x 0.5 = 0.5 < 1"):
        sdxl_pipeline.image_to_image("x", None, sdxl_variant.generation, seed=0, steps=1, strength=0.5)


def test_pixart_has_no_image_to_image(pixart_pipeline, pixart_variant):
    with pytest.raises(UserError, match="not supported by the pixart family"):
        pixart_pipeline.image_to_image("x", None, pixart_variant.generation, seed=0)


def test_pixart_decodes_with_the_tiny_autoencoder_where_model_taesd_is_set(pixart_export, pixart_variant, tmp_path):
    """`taesd: tiny` exports an AutoencoderTiny as the VAE decoder and changes nothing else; both pipelines draw."""
    from dataclasses import replace

    from ov_diffusion_quant.evaluation.similarity import psnr_ssim

    family = get_family("pixart")
    family.export(replace(pixart_variant.model, taesd="tiny"), pixart_variant.generation, tmp_path / "fp")
    decoder = json.loads((tmp_path / "fp" / "vae_decoder" / "config.json").read_text())
    assert decoder["scaling_factor"] == 1.0 and "decoder_block_out_channels" in decoder
    assert set(json.loads((tmp_path / "fp" / "source.json").read_text())) == {"model", "taesd"}
    for part in ("text_encoder", "transformer"):
        assert ((tmp_path / "fp" / part / "openvino_model.bin").read_bytes()
                == (pixart_export / part / "openvino_model.bin").read_bytes()), part
    with_taesd = family.load(tmp_path / "fp", "CPU").text_to_image("cute cat", pixart_variant.generation, seed=1)
    with_vae = family.load(pixart_export, "CPU").text_to_image("cute cat", pixart_variant.generation, seed=1)
    assert with_taesd.size == with_vae.size == (128, 128)
    assert psnr_ssim(with_vae, with_taesd)[0] < 60  # another decoder of the same latents: not the same picture
    assert np.asarray(with_taesd).std() > 1  # and not a blank one


def test_loading_a_missing_or_incomplete_directory(tmp_path, pixart_export):
    import shutil

    with pytest.raises(UserError, match="does not exist"):
        get_family("pixart").load(tmp_path / "nothing", "CPU")
    broken = tmp_path / "broken"
    shutil.copytree(pixart_export, broken)
    (broken / "transformer" / "openvino_model.bin").unlink()
    with pytest.raises(UserError, match="is missing"):
        get_family("pixart").load(broken, "CPU")


def test_auto_device_works(pixart_export, pixart_variant):
    pipeline = get_family("pixart").load(pixart_export, "AUTO")
    assert pipeline.text_to_image("cute cat", pixart_variant.generation, seed=1).size == (128, 128)


def test_a_failed_export_leaves_no_partial_output(tmp_path, monkeypatch, capsys):
    import shutil

    from conftest import REPO
    from stages import export
    from ov_diffusion_quant.families.pixart import PixArtFamily

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)

    def half_export(self, spec, generation, out_dir):
        (out_dir / "text_encoder").mkdir()
        (out_dir / "text_encoder" / "openvino_model.xml").write_text("<half written/>")
        raise RuntimeError("conversion crashed")

    monkeypatch.setattr(PixArtFamily, "export", half_export)
    assert export.main(["tiny-pixart-lcm"]) == 1, "an unexpected error is one line and exit 1"
    assert "conversion crashed" in capsys.readouterr().err
    variant_dir = tmp_path / "models" / "tiny-pixart-lcm"
    assert not (variant_dir / "fp").exists()
    assert not variant_dir.exists() or not list(variant_dir.iterdir()), "no temp directories left behind"


def test_export_refuses_bad_variant_names_before_doing_anything(tmp_path, monkeypatch, capsys):
    import shutil

    from conftest import REPO
    from stages import export

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    assert export.main(["../../etc"]) == 2
    assert "no path characters" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()


def _to_16_bit(source: Path, target: Path, dtype) -> None:
    """A copy of a diffusers directory with every floating-point safetensors tensor stored in ``dtype``."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(source, target)
    for file in target.rglob("*.safetensors"):
        tensors = load_file(file)
        save_file({name: value.to(dtype) if value.is_floating_point() else value for name, value in tensors.items()},
                  file)


@pytest.mark.parametrize("dtype_name, separate_processes", [("float16", True), ("bfloat16", False)])
def test_pixart_export_traces_16_bit_checkpoints_without_an_f32_copy(params, tmp_path, monkeypatch, dtype_name,
                                                                    separate_processes):
    """The full T5-XXL only fits when loaded in its checkpoint's 16-bit dtype: the export traces it so (OpenVINO's
    16-bit patch), computes in f32 like the f32 export of the same weights, and leaves torch unpatched; a large model
    converts each part in a process of its own (forced here for the tiny one)."""
    import dataclasses

    import openvino as ov
    import torch

    from ov_diffusion_quant.families import pixart
    from ov_diffusion_quant.families.pixart import checkpoint_dtype

    variant = params.variant("tiny-pixart-lcm")
    family = get_family("pixart")
    family.build_tiny(variant.model, tmp_path / "f32")
    dtype = getattr(torch, dtype_name)
    _to_16_bit(tmp_path / "f32", tmp_path / "16bit", dtype)
    assert checkpoint_dtype(tmp_path / "16bit" / "text_encoder", None) == dtype
    assert checkpoint_dtype(tmp_path / "f32" / "transformer", None) == torch.float32
    # the f32 reference: the 16-bit weights widened, so that both exports hold the same values
    _to_16_bit(tmp_path / "16bit", tmp_path / "widened", torch.float32)
    bmm = torch.bmm
    for name in ("16bit", "widened"):
        spec = dataclasses.replace(variant.model, source=str(tmp_path / name))
        with monkeypatch.context() as patch:  # the reference exports in this process
            if separate_processes and name == "16bit":
                patch.setattr(pixart, "SEPARATE_PROCESSES_ABOVE", 0)
            family.export(spec, variant.generation, tmp_path / f"ir-{name}")
    assert torch.bmm is bmm  # the patch of torch functions is undone

    core, rng = ov.Core(), np.random.default_rng(0)
    inputs = {
        "text_encoder": {"input_ids": rng.integers(2, 50, (1, variant.model.max_length)),
                         "attention_mask": np.ones((1, variant.model.max_length), np.int64)},
        "transformer": {"hidden_states": rng.standard_normal((1, 4, 16, 16), np.float32),
                        "timestep": np.array([500]), "resolution": np.array([[128.0, 128.0]], np.float32),
                        "encoder_hidden_states": rng.standard_normal((1, variant.model.max_length, 32), np.float32),
                        "encoder_attention_mask": np.ones((1, variant.model.max_length), np.float32),
                        "aspect_ratio": np.array([[1.0]], np.float32)},
    }
    for component, feed in inputs.items():
        outputs = []
        for name in ("16bit", "widened"):
            model = core.read_model(tmp_path / f"ir-{name}" / component / "openvino_model.xml")
            # activations stay f32: no Convert to a 16-bit type of anything but a weight
            assert not [op.get_friendly_name() for op in model.get_ops() if op.get_type_name() == "Convert"
                        and op.get_output_element_type(0).get_type_name() in ("f16", "bf16")
                        and op.input_value(0).get_node().get_type_name() != "Constant"]
            compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
            outputs.append(compiled({key: value for key, value in feed.items()})[0])
        np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-4, atol=1e-4, err_msg=component)
