"""Train a small PixArt-family reference model on the scene data set.

An ordinary diffusers PixArt-α directory (a T5 encoder with an offline tokenizer, a ``PixArtTransformer2DModel``
with its resolution and aspect-ratio conditions, an ``AutoencoderKL`` and an LCM scheduler, plus an
``AutoencoderTiny`` in ``taesd/``): the classes the PixArt family exports and runs, so export, calibration,
quantization and evaluation treat it like the tiny PixArt model, while its images can be judged.

It shares the SDXL reference's latent space recipe (``ov_diffusion_quant.reference.training``): 64 px images, a tiny
autoencoder with one downsampling trained first, the ``AutoencoderKL`` distilled into its latents. The transformer
sees 4 x 4 latent patches (8 x 8 px, an 8 x 8 token grid: a quarter of the cost of 2 x 2 patches per step, measured
on 2 cores, and no worse per step) with cross-attention to the caption in every block. It is trained with
v-prediction on the scaled-linear schedule rescaled to zero terminal SNR (Lin et al., WACV 2024): on the plain schedule the
last step still shows the image's background through the noise, so the model learns to read it there instead of
from the caption, and at sampling time, from pure noise, it guesses. It is sampled like PixArt-LCM, in a few LCM
steps with guidance 0.
"""

from __future__ import annotations

import logging
import string
import time
from pathlib import Path
from typing import Any

from ov_diffusion_quant.common.outputs import atomic_dir
from ov_diffusion_quant.reference.scene_dataset import SCENE_WORDS, load_split
from ov_diffusion_quant.reference.training import (IMAGE_SIZE, LATENT_CHANNELS, PREDICTION_TYPE, VAE_SCALE_FACTOR,
                                                   build_autoencoders, deterministic_torch, encode_latents,
                                                   run_optimizer, train_kl_autoencoder, train_tiny_autoencoder)

log = logging.getLogger(__name__)

MAX_LENGTH = 16  # T5 tokens: the longest scene caption is 12 words and </s>
TEXT_HIDDEN = 64  # T5 d_model
TEXT_LAYERS = 2
WIDTH = 192  # transformer hidden size, 4 heads of 48 (PixArt splits it in three for the size conditions)
LAYERS = 8
PATCH = 4  # 4 x 4 latents per token: an 8 x 8 token grid at 64 px
LCM_ORIGINAL_STEPS = 50


def build_tokenizer(max_length: int = MAX_LENGTH):
    """A Unigram ``T5Tokenizer`` in which every scene-caption word is one piece, characters the fallback.

    Its own vocabulary (not the tiny models' corpus), so a trained model's token ids do not move with edits there.
    """
    from transformers import T5Tokenizer

    pieces: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    seen = {piece for piece, _ in pieces}
    for word in dict.fromkeys(w.lower() for w in SCENE_WORDS):
        if "\u2581" + word not in seen:
            pieces.append(("\u2581" + word, -3.0))
            seen.add("\u2581" + word)
    for char in string.ascii_lowercase + string.digits:
        for piece in (char, "\u2581" + char):
            if piece not in seen:
                pieces.append((piece, -8.0))
                seen.add(piece)
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=max_length)


def build_models(tokenizer, seed: int, prediction_type: str = PREDICTION_TYPE) -> dict[str, Any]:
    """Freshly initialised (seeded) components of the PixArt reference pipeline."""
    import torch
    from diffusers import LCMScheduler, PixArtTransformer2DModel
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    text_encoder = T5EncoderModel(T5Config(
        vocab_size=len(tokenizer), d_model=TEXT_HIDDEN, d_kv=16, d_ff=2 * TEXT_HIDDEN, num_layers=TEXT_LAYERS,
        num_heads=4, feed_forward_proj="gated-gelu", relative_attention_num_buckets=8,
        relative_attention_max_distance=MAX_LENGTH, dropout_rate=0.0, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id))
    torch.manual_seed(seed + 2)
    transformer = PixArtTransformer2DModel(
        num_attention_heads=4, attention_head_dim=WIDTH // 4, in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS, num_layers=LAYERS, cross_attention_dim=WIDTH, caption_channels=TEXT_HIDDEN,
        sample_size=IMAGE_SIZE // VAE_SCALE_FACTOR, patch_size=PATCH, use_additional_conditions=True)
    vae, taesd = build_autoencoders(seed)
    scheduler = LCMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        prediction_type=prediction_type, original_inference_steps=LCM_ORIGINAL_STEPS, rescale_betas_zero_snr=True)
    return dict(text_encoder=text_encoder, transformer=transformer, vae=vae, taesd=taesd, scheduler=scheduler,
                tokenizer=tokenizer)


def size_conditions(batch: int):
    """The resolution and aspect-ratio conditions of a 64 px square image, as the family's OVTransformer derives
    them from the latent size when the pipeline passes none."""
    import torch

    return {"resolution": torch.tensor([[float(IMAGE_SIZE), float(IMAGE_SIZE)]]).expand(batch, -1),
            "aspect_ratio": torch.tensor([[1.0]]).expand(batch, -1)}


def train_denoiser(models: dict[str, Any], input_ids, attention_mask, latents, *, seed: int, steps: int,
                   batch_size: int, lr: float, progress: bool = True) -> dict[str, Any]:
    """The transformer and the T5 encoder, jointly, on noised cached latents (v-prediction, unweighted)."""
    import torch
    from diffusers import DDPMScheduler

    transformer, text_encoder = models["transformer"], models["text_encoder"]
    noise_schedule = DDPMScheduler.from_config(models["scheduler"].config)
    v_prediction = noise_schedule.config.prediction_type == "v_prediction"
    generator = torch.Generator().manual_seed(seed)
    conditions = size_conditions(batch_size)
    for module in (transformer, text_encoder):
        module.train()
        module.requires_grad_(True)

    def step_fn(step):
        index = torch.randint(len(latents), (batch_size,), generator=generator)
        clean = latents[index]
        noise = torch.randn(clean.shape, generator=generator)
        timesteps = torch.randint(0, noise_schedule.config.num_train_timesteps, (batch_size,), generator=generator)
        noisy = noise_schedule.add_noise(clean, noise, timesteps)
        mask = attention_mask[index]
        embeds = text_encoder(input_ids[index], attention_mask=mask)[0]
        prediction = transformer(noisy, encoder_hidden_states=embeds, encoder_attention_mask=mask, timestep=timesteps,
                                 added_cond_kwargs=conditions).sample
        target = noise_schedule.get_velocity(clean, noise, timesteps) if v_prediction else noise
        return (prediction - target).pow(2).mean()

    summary = run_optimizer("denoiser", steps, lr, [*transformer.parameters(), *text_encoder.parameters()], step_fn,
                            progress)
    for module in (transformer, text_encoder):
        module.eval()
        module.requires_grad_(False)
    return summary


def train_reference(dataset_dir: Path | str, out_dir: Path | str, *, seed: int = 0, steps: int = 4000,
                    batch_size: int = 16, lr: float = 5e-4, taesd_steps: int = 600, vae_steps: int = 500,
                    autoencoder_batch_size: int = 16, autoencoder_lr: float = 1e-3, threads: int = 2,
                    progress: bool = True) -> dict[str, Any]:
    """Train the PixArt reference model on ``dataset_dir`` and save it to ``out_dir`` (replaced atomically); it
    loads with ``PixArtAlphaPipeline.from_pretrained``. Returns per-phase steps, seconds and losses."""
    from diffusers import PixArtAlphaPipeline

    start = time.perf_counter()
    images, rows = load_split(dataset_dir, "train")
    if images is None or images.shape[1:3] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"{dataset_dir}: the reference model trains on {IMAGE_SIZE} px training images")
    tokenizer = build_tokenizer()
    tokens = tokenizer([row["caption"] for row in rows], padding="max_length", max_length=MAX_LENGTH, truncation=True,
                       return_tensors="pt")
    metrics: dict[str, Any] = {"family": "pixart", "seed": seed, "images": len(rows), "image_size": IMAGE_SIZE,
                               "threads": threads}
    with deterministic_torch(threads):
        models = build_models(tokenizer, seed)
        metrics["tiny_autoencoder"] = train_tiny_autoencoder(
            models["taesd"], images, seed=seed + 10, steps=taesd_steps, batch_size=autoencoder_batch_size,
            lr=autoencoder_lr, progress=progress)
        latents = encode_latents(models["taesd"], images)
        metrics["latent_std"] = round(float(latents.std()), 4)
        metrics["denoiser"] = train_denoiser(models, tokens.input_ids, tokens.attention_mask, latents, seed=seed + 20,
                                             steps=steps, batch_size=batch_size, lr=lr, progress=progress)
        metrics["kl_autoencoder"] = train_kl_autoencoder(
            models["vae"], images, latents, seed=seed + 30, steps=vae_steps, batch_size=autoencoder_batch_size,
            lr=autoencoder_lr, progress=progress)
        pipe = PixArtAlphaPipeline(tokenizer=tokenizer, text_encoder=models["text_encoder"],
                                   transformer=models["transformer"], vae=models["vae"], scheduler=models["scheduler"])
        with atomic_dir(out_dir) as tmp:
            pipe.save_pretrained(tmp, safe_serialization=True)
            models["taesd"].save_pretrained(tmp / "taesd", safe_serialization=True)
    metrics["seconds"] = round(time.perf_counter() - start, 1)
    log.info("PixArt reference model trained in %.0f s -> %s", metrics["seconds"], out_dir)
    return metrics
