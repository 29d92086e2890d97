"""Reference-model training: a very short run writes a loadable, deterministic SDXL directory."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from ov_diffusion_quant.reference import training
from ov_diffusion_quant.reference.scene_dataset import SCENE_WORDS, write_dataset

SHORT = dict(steps=4, batch_size=8, taesd_steps=6, vae_steps=2, autoencoder_batch_size=8, progress=False, threads=2)


def weights_digest(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*.safetensors"))}


def load_pipeline(model_dir: Path, taesd: bool = False):
    """The trained model as a torch ``StableDiffusionXLPipeline`` (with ``taesd``: its tiny autoencoder)."""
    from diffusers import AutoencoderTiny, StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline.from_pretrained(model_dir, use_safetensors=True)
    if taesd:
        pipe.vae = AutoencoderTiny.from_pretrained(Path(model_dir) / "taesd", use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, captions: list[str], *, steps: int, guidance: float = 0.0, seed: int = 0) -> list[np.ndarray]:
    """uint8 RGB images of ``captions`` in torch; image i uses generator seed ``seed + i`` whatever the batching."""
    import torch

    generators = [torch.Generator().manual_seed(seed + i) for i in range(len(captions))]
    with torch.no_grad():
        out = pipe(captions, num_inference_steps=steps, guidance_scale=guidance, height=training.IMAGE_SIZE,
                   width=training.IMAGE_SIZE, generator=generators, output_type="np").images
    return [np.clip(np.round(image * 255), 0, 255).astype(np.uint8) for image in out]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("scenes")
    write_dataset(directory, seed=0, train_size=96, heldout_size=8, image_size=training.IMAGE_SIZE)
    return directory


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("reference") / "model"
    return out, training.train_reference(dataset, out, seed=0, **SHORT)


def test_every_caption_word_is_one_token():
    tokenizer = training.build_tokenizer()
    split = {word: tokenizer.tokenize(word) for word in SCENE_WORDS}
    assert all(len(pieces) == 1 for pieces in split.values()), {w: p for w, p in split.items() if len(p) != 1}
    ids = tokenizer("two yellow squares in the top left on a blue background").input_ids
    assert len(ids) == 2 + 11 and len(set(ids[1:-1])) == 11


def test_a_short_run_writes_a_loadable_sdxl_pipeline(trained, dataset):
    import torch
    from diffusers import StableDiffusionXLPipeline

    out, metrics = trained
    assert metrics["denoiser"]["steps"] == SHORT["steps"] and metrics["seconds"] > 0
    assert set(metrics) >= {"tiny_autoencoder", "denoiser", "kl_autoencoder", "seconds"}
    assert metrics["tiny_autoencoder"]["loss"]["final"] < metrics["tiny_autoencoder"]["loss"]["first"]

    pipe = StableDiffusionXLPipeline.from_pretrained(out, use_safetensors=True)
    assert type(pipe.text_encoder).__name__ == "CLIPTextModel"
    assert type(pipe.text_encoder_2).__name__ == "CLIPTextModelWithProjection"
    assert pipe.unet.config.addition_embed_type == "text_time"
    assert type(pipe.vae).__name__ == "AutoencoderKL" and pipe.vae_scale_factor == training.VAE_SCALE_FACTOR
    assert type(pipe.scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    taesd_config = json.loads((out / "taesd" / "config.json").read_text())
    assert taesd_config["_class_name"] == "AutoencoderTiny"
    assert 2 ** (len(taesd_config["block_out_channels"]) - 1) == training.VAE_SCALE_FACTOR  # the OV pipeline's scale
    assert not list(out.parent.glob(".*tmp*")), "the atomic temp directory was left behind"

    pipe.set_progress_bar_config(disable=True)
    captions = ["a red circle in the center on a blue background", "three white squares in the top left on a black background"]
    images = generate(pipe, captions, steps=2)
    assert len(images) == 2 and all(i.shape == (64, 64, 3) and i.dtype == np.uint8 for i in images)
    again = generate(pipe, captions[:1], steps=2)  # image i's noise does not depend on the batch
    assert np.array_equal(again[0], images[0])
    with_taesd = generate(load_pipeline(out, taesd=True), captions, steps=2, guidance=2.0)
    assert with_taesd[0].shape == (64, 64, 3)

    # the text encoding used in training is the pipeline's
    tokenizer = pipe.tokenizer
    ids = tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt").input_ids
    with torch.no_grad():
        mine = training.encode_text(pipe.text_encoder, pipe.text_encoder_2, ids)
        theirs = pipe.encode_prompt(captions, do_classifier_free_guidance=False)
    assert torch.equal(mine[0], theirs[0]) and torch.equal(mine[1], theirs[2])


def test_same_seed_same_weights_other_seed_other_weights(trained, dataset, tmp_path):
    import torch

    out, _ = trained
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    training.train_reference(dataset, tmp_path / "again", seed=0, **SHORT)
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == (threads, deterministic)
    first, second = weights_digest(out), weights_digest(tmp_path / "again")
    assert len(first) == 5 and first == second  # two text encoders, unet, vae, taesd
    training.train_reference(dataset, tmp_path / "other", seed=1, **SHORT)
    other = weights_digest(tmp_path / "other")
    assert all(other[name] != first[name] for name in first)


def test_training_refuses_images_of_another_size(tmp_path):
    write_dataset(tmp_path / "big", seed=0, train_size=4, heldout_size=1, image_size=96)
    with pytest.raises(ValueError, match="64 px"):
        training.train_reference(tmp_path / "big", tmp_path / "model", **SHORT)
