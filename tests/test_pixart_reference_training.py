"""PixArt reference-model training: a very short run writes a deterministic PixArt-α directory that the PixArt
family exports and runs like any PixArt model (the classes, the conditions, the 64-px latent size)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ov_diffusion_quant.reference import pixart_training, training
from ov_diffusion_quant.reference.scene_dataset import SCENE_WORDS, write_dataset
from test_reference_training import weights_digest

SHORT = dict(steps=3, batch_size=4, taesd_steps=4, vae_steps=2, autoencoder_batch_size=4, progress=False, threads=2)
CAPTION = "three white squares in the top left on a black background"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("scenes")
    write_dataset(directory, seed=0, train_size=48, heldout_size=4, image_size=training.IMAGE_SIZE)
    return directory


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("pixart-reference") / "model"
    return out, pixart_training.train_reference(dataset, out, seed=0, **SHORT)


def test_every_caption_word_is_one_piece():
    tokenizer = pixart_training.build_tokenizer()
    split = {word: tokenizer.tokenize(word) for word in SCENE_WORDS}
    assert all(len(pieces) == 1 for pieces in split.values()), {w: p for w, p in split.items() if len(p) != 1}
    ids = tokenizer(CAPTION).input_ids
    assert len(ids) == 11 + 1 <= pixart_training.MAX_LENGTH and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.unk_token_id not in ids


def test_a_short_run_writes_a_pixart_pipeline_the_family_exports_and_runs(trained, tmp_path):
    from diffusers import PixArtAlphaPipeline

    from ov_diffusion_quant.config.specs import GenerationSpec, ModelSpec
    from ov_diffusion_quant.families.pixart import PixArtFamily

    out, metrics = trained
    assert metrics["family"] == "pixart" and metrics["denoiser"]["steps"] == SHORT["steps"]
    pipe = PixArtAlphaPipeline.from_pretrained(out, use_safetensors=True)
    assert type(pipe.text_encoder).__name__ == "T5EncoderModel"
    assert type(pipe.transformer).__name__ == "PixArtTransformer2DModel"
    assert pipe.transformer.config.use_additional_conditions  # resolution and aspect-ratio conditions
    assert type(pipe.vae).__name__ == "AutoencoderKL" and pipe.vae_scale_factor == training.VAE_SCALE_FACTOR
    assert type(pipe.scheduler).__name__ == "LCMScheduler"
    assert json.loads((out / "taesd" / "config.json").read_text())["_class_name"] == "AutoencoderTiny"

    spec = ModelSpec(family="pixart", source=str(out), max_length=pixart_training.MAX_LENGTH)
    generation = GenerationSpec(height=64, width=64, steps=2, guidance=0.0, seed=0)
    family = PixArtFamily()
    family.export(spec, generation, tmp_path / "fp")
    loaded = family.load(tmp_path / "fp", "CPU", f32=True)
    image = np.asarray(loaded.text_to_image(CAPTION, generation, seed=0))
    assert image.shape == (64, 64, 3)  # no resolution binning to the 256-px bins of a factor-8 VAE

    # the exported pipeline draws what the torch pipeline draws from the same weights (diffusers passes the size
    # conditions only for 1024-px models; the family's OVTransformer derives them from the latent size, so here too)
    import torch

    forward = pipe.transformer.forward

    def with_size_conditions(*args, added_cond_kwargs=None, **kwargs):
        return forward(*args, added_cond_kwargs=pixart_training.size_conditions(args[0].shape[0]), **kwargs)

    pipe.transformer.forward = with_size_conditions
    reference = pipe(CAPTION, num_inference_steps=2, guidance_scale=0.0, height=64, width=64,
                     generator=torch.Generator().manual_seed(0), output_type="np", use_resolution_binning=False,
                     max_sequence_length=pixart_training.MAX_LENGTH).images[0]
    difference = np.abs(image.astype(np.float32) - np.round(reference * 255)).mean()
    assert difference < 2.0, f"OpenVINO and torch images differ by {difference:.2f} grey levels on average"


def test_same_seed_same_weights(trained, dataset, tmp_path):
    out, _ = trained
    pixart_training.train_reference(dataset, tmp_path / "again", seed=0, **SHORT)
    first, second = weights_digest(out), weights_digest(tmp_path / "again")
    assert len(first) == 4 and first == second  # T5 encoder, transformer, vae, taesd
