"""Train a small SDXL-family reference model on the scene data set (``ov_diffusion_quant.reference.scene_dataset``);
its autoencoders and optimisation loop are the PixArt reference's too (``pixart_training``).

The result is an ordinary diffusers SDXL directory (two CLIP text encoders, a ``text_time``
UNet, an ``AutoencoderKL`` and an Euler-ancestral scheduler, plus an ``AutoencoderTiny`` in
``taesd/``), the same classes as ``SDXLFamily.build_tiny``, so export and quantization treat
it like the tiny model; but its images can be judged (``ov_diffusion_quant.reference.judge``).

Design, for 2 CPU cores:

* 64 px images and autoencoders with ONE downsampling (vae_scale_factor 2, 32 x 32 x 4
  latents). With 4x or 8x downsampling a small autoencoder trained for minutes turns the
  10-px shapes of three-shape scenes into blobs (measured: 0.68 judge adherence of its
  reconstructions at 4x, 0.94 at 2x after the same 600 steps). The UNet's first level is
  narrow (16 channels), so 32 x 32 latents cost it only ~25 % more than 16 x 16.
* The tiny autoencoder is trained first and defines the latent space (it learns fastest: no
  normalisation layers); its scaling factor is 1, as taesd's is. The UNet and both text
  encoders then train jointly on its cached latents, and the ``AutoencoderKL`` (scaling factor
  1 too) is distilled into the same space: its encoder regresses the latents, its decoder
  reconstructs the images from them. Autoencoder losses weight pixels at shape edges 10x,
  which is where the shapes are told apart (without it the shapes come out as blobs).
* SDXL's noise schedule with v-prediction and an unweighted loss: what the caption decides
  (colours, layout) is decided at high noise, where epsilon prediction or min-SNR weighting
  give the loss almost no say (measured: position at chance after 1000 steps with either, 0.4-0.5
  with this). ``resnet_time_scale_shift="scale_shift"`` (FiLM conditioning, as in ADM) helps
  further. A cosine learning-rate decay matters most for short runs. 10 % of captions are
  dropped to zero embeddings, which is what the SDXL pipeline feeds as the unconditional branch,
  so classifier-free guidance works.
* Deterministic: seeded generators for every random draw, a fixed thread count, and
  ``torch.use_deterministic_algorithms`` while training; same arguments on the same host
  give the same weights.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ov_diffusion_quant.common.outputs import atomic_dir
from ov_diffusion_quant.reference.scene_dataset import SCENE_WORDS, load_split

log = logging.getLogger(__name__)

IMAGE_SIZE = 64
VAE_SCALE_FACTOR = 2  # one downsampling: 32 x 32 x 4 latents
LATENT_CHANNELS = 4
TEXT_HIDDEN = 64  # per encoder; the UNet's cross-attention sees both, concatenated
TEXT_LAYERS = 2
ADDITION_TIME_EMBED_DIM = 8
EDGE_WEIGHT = 10.0  # autoencoder losses: extra weight of pixels next to a colour edge
PREDICTION_TYPE = "v_prediction"

SPECIAL_CLIP = ("<|startoftext|>", "<|endoftext|>")


# -- models --------------------------------------------------------------------------------------
def build_tokenizer(max_length: int = 77):
    """A byte-level BPE ``CLIPTokenizer`` in which every scene-caption word is one token.

    Built like ``ov_diffusion_quant.families.tiny_tokenizers.build_clip_tokenizer`` (merges written out, not
    trained, nothing downloaded), from the scene vocabulary only: the tiny tokenizer's corpus lacks
    the shape and position words, and a vocabulary of its own keeps a trained model's token ids
    independent of edits to that corpus. Unlike a plain left-to-right chain, each word's merges
    continue from how the earlier merges already split it ("green" starts as "g re e n" once
    "red" is in), so no word falls apart into pieces.
    """
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for token in [*SPECIAL_CLIP, *alphabet, *(symbol + "</w>" for symbol in alphabet)]:
        vocab.setdefault(token, len(vocab))
    ranks: dict[tuple[str, str], int] = {}
    for word in dict.fromkeys(w.lower() for w in SCENE_WORDS):
        pieces = _bpe(list(word[:-1]) + [word[-1] + "</w>"], ranks)
        while len(pieces) > 1:  # new merges rank last, so they cannot change earlier words
            ranks.setdefault((pieces[0], pieces[1]), len(ranks))
            vocab.setdefault(pieces[0] + pieces[1], len(vocab))
            pieces = _bpe(pieces, ranks)
    return CLIPTokenizer(vocab=vocab, merges=list(ranks), model_max_length=max_length)


def _bpe(pieces: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Byte-pair encoding of one word: repeatedly merge the adjacent pair of lowest rank."""
    pieces = list(pieces)
    while len(pieces) > 1:
        pairs = [(ranks.get(pair, math.inf), i) for i, pair in enumerate(zip(pieces, pieces[1:]))]
        rank, i = min(pairs)
        if rank == math.inf:
            break
        pieces[i:i + 2] = [pieces[i] + pieces[i + 1]]
    return pieces


def build_autoencoders(seed: int):
    """(AutoencoderKL, AutoencoderTiny) of the reference models, freshly initialised (seeded): one downsampling, 4
    latent channels, scaling factor 1 (the tiny autoencoder defines the latent space)."""
    import torch
    from diffusers import AutoencoderKL, AutoencoderTiny

    torch.manual_seed(seed + 3)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=LATENT_CHANNELS, layers_per_block=1,
        block_out_channels=(16, 32), norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        sample_size=IMAGE_SIZE, scaling_factor=1.0,  # it shares the tiny autoencoder's latent space
    )
    with torch.no_grad():  # start with a near-zero posterior spread, so training is not drowned in sampling noise
        vae.quant_conv.weight[LATENT_CHANNELS:] = 0.0
        vae.quant_conv.bias[LATENT_CHANNELS:] = -12.0
    torch.manual_seed(seed + 4)
    taesd = AutoencoderTiny(
        encoder_block_out_channels=(32, 32), decoder_block_out_channels=(32, 32),
        num_encoder_blocks=(1, 1), num_decoder_blocks=(1, 1), latent_channels=LATENT_CHANNELS,
    )
    return vae, taesd


def build_models(tokenizer, seed: int, prediction_type: str = PREDICTION_TYPE) -> dict[str, Any]:
    """Freshly initialised (seeded) components of the reference pipeline."""
    import torch
    from diffusers import EulerAncestralDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    text_config = dict(
        vocab_size=len(tokenizer), hidden_size=TEXT_HIDDEN, intermediate_size=2 * TEXT_HIDDEN,
        num_hidden_layers=TEXT_LAYERS, num_attention_heads=4, max_position_embeddings=tokenizer.model_max_length,
        projection_dim=TEXT_HIDDEN, hidden_act="gelu", bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    latent_size = IMAGE_SIZE // VAE_SCALE_FACTOR
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(**text_config))
    torch.manual_seed(seed + 1)
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**text_config))
    torch.manual_seed(seed + 2)
    # 32 -> 16 -> 8 -> 4; cross-attention at 8 and 4, where a position is a quarter of the image or more
    unet = UNet2DConditionModel(
        sample_size=latent_size, in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, layers_per_block=1,
        block_out_channels=(16, 32, 64, 128),
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 2, 4, 4), transformer_layers_per_block=1, use_linear_projection=True,
        resnet_time_scale_shift="scale_shift",  # FiLM-style conditioning: position and colour are learned sooner
        cross_attention_dim=2 * TEXT_HIDDEN, addition_embed_type="text_time",
        addition_time_embed_dim=ADDITION_TIME_EMBED_DIM,
        projection_class_embeddings_input_dim=6 * ADDITION_TIME_EMBED_DIM + TEXT_HIDDEN, norm_num_groups=16,
    )
    vae, taesd = build_autoencoders(seed)
    scheduler = EulerAncestralDiscreteScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        timestep_spacing="trailing", steps_offset=1, prediction_type=prediction_type,
    )
    return dict(text_encoder=text_encoder, text_encoder_2=text_encoder_2, unet=unet, vae=vae, taesd=taesd,
                scheduler=scheduler, tokenizer=tokenizer)


def encode_text(text_encoder, text_encoder_2, input_ids):
    """(prompt_embeds, pooled_prompt_embeds) exactly as ``StableDiffusionXLPipeline.encode_prompt`` makes them."""
    import torch

    first = text_encoder(input_ids, output_hidden_states=True)
    second = text_encoder_2(input_ids, output_hidden_states=True)
    return torch.cat([first.hidden_states[-2], second.hidden_states[-2]], dim=-1), second.text_embeds


# -- training helpers ----------------------------------------------------------------------------
@contextlib.contextmanager
def deterministic_torch(threads: int) -> Iterator[None]:
    """Fixed thread count and deterministic algorithms inside the block; the previous settings after."""
    import torch

    previous = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled())
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1], warn_only=previous[2])


def cosine_lr(step: int, steps: int, lr: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def _progress(total: int, description: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="step", disable=not enabled, mininterval=2.0, leave=False)


def _loss_summary(losses: Sequence[float]) -> dict[str, float]:
    """Means of the first and last tenth of a loss curve (single steps are too noisy to compare)."""
    tenth = max(1, len(losses) // 10)
    return {"first": round(float(np.mean(losses[:tenth])), 5), "final": round(float(np.mean(losses[-tenth:])), 5)}


def run_optimizer(name: str, steps: int, lr: float, params, step_fn, progress: bool) -> dict[str, Any]:
    """The shared optimisation loop: Adam, warmup + cosine decay, gradient clipping, one loss per step."""
    import torch

    params = [p for p in params if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    losses: list[float] = []
    start, cpu_start = time.perf_counter(), time.process_time()
    with _progress(steps, name, progress) as bar:
        for step in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(step, steps, lr, warmup=max(1, steps // 20))
            loss = step_fn(step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            losses.append(float(loss.detach()))
            bar.update()
            if step % 50 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
    summary = {"steps": steps, "seconds": round(time.perf_counter() - start, 1),
               "cpu_seconds": round(time.process_time() - cpu_start, 1), "loss": _loss_summary(losses)}
    log.info("%s: %d steps in %.0f s, loss %.4f -> %.4f", name, steps, summary["seconds"], summary["loss"]["first"],
             summary["loss"]["final"])
    return summary


def _to_tensor(images: np.ndarray):
    """uint8 N x H x W x 3 -> float N x 3 x H x W in [-1, 1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def edge_weights(x, weight: float = EDGE_WEIGHT):
    """1 + ``weight`` on pixels within one pixel of a colour change, normalised to mean 1 per image."""
    import torch
    import torch.nn.functional as F

    changed = torch.zeros_like(x[:, :1])
    dx = ((x[:, :, :, 1:] - x[:, :, :, :-1]).abs().sum(1, keepdim=True) > 0).float()
    dy = ((x[:, :, 1:, :] - x[:, :, :-1, :]).abs().sum(1, keepdim=True) > 0).float()
    changed[:, :, :, 1:] += dx
    changed[:, :, :, :-1] += dx
    changed[:, :, 1:, :] += dy
    changed[:, :, :-1, :] += dy
    w = 1.0 + weight * (F.max_pool2d(changed, 3, 1, 1) > 0).float()
    return w / w.mean(dim=(1, 2, 3), keepdim=True)


def _reconstruction_loss(reconstruction, x):
    return ((reconstruction - x).pow(2) * edge_weights(x)).mean()


def train_tiny_autoencoder(taesd, images: np.ndarray, *, seed: int, steps: int, batch_size: int = 16,
                           lr: float = 1e-3, progress: bool = True) -> dict[str, Any]:
    """``AutoencoderTiny`` end to end: edge-weighted reconstruction, latents kept near unit variance.

    Its latents are the diffusion model's (scaling factor 1, as for taesd), hence the variance term.
    """
    import torch

    data = _to_tensor(images)
    generator = torch.Generator().manual_seed(seed)
    taesd.train()

    def step_fn(step):
        x = data[torch.randint(len(data), (batch_size,), generator=generator)]
        latents = taesd.encoder(x)
        return _reconstruction_loss(taesd.decoder(latents), x) + 0.01 * (latents.pow(2).mean() - 1.0) ** 2

    summary = run_optimizer("tiny autoencoder", steps, lr, taesd.parameters(), step_fn, progress)
    taesd.eval()
    return summary


def encode_latents(taesd, images: np.ndarray, batch_size: int = 256):
    """The tiny autoencoder's latents of every image: the diffusion model's training data."""
    import torch

    with torch.no_grad():
        return torch.cat([taesd.encoder(_to_tensor(images[i:i + batch_size]))
                          for i in range(0, len(images), batch_size)])


def train_kl_autoencoder(vae, images: np.ndarray, latents, *, seed: int, steps: int, batch_size: int = 16,
                         lr: float = 1e-3, kl_weight: float = 1e-6, progress: bool = True) -> dict[str, Any]:
    """Distil ``AutoencoderKL`` into the tiny autoencoder's latent space (its scaling factor is 1).

    The encoder's posterior mean regresses the latents; the decoder reconstructs the images from
    them (edge-weighted), plus a small KL term on the posterior.
    """
    import torch

    data = _to_tensor(images)
    generator = torch.Generator().manual_seed(seed)
    vae.train()

    def step_fn(step):
        index = torch.randint(len(data), (batch_size,), generator=generator)
        x, target = data[index], latents[index]
        posterior = vae.encode(x).latent_dist
        return ((posterior.mean - target).pow(2).mean() + _reconstruction_loss(vae.decode(target).sample, x)
                + kl_weight * posterior.kl().mean() / target[0].numel())

    summary = run_optimizer("kl autoencoder", steps, lr, vae.parameters(), step_fn, progress)
    vae.eval()
    return summary


def train_denoiser(models: dict[str, Any], input_ids, latents, *, seed: int, steps: int, batch_size: int, lr: float,
                   caption_dropout: float = 0.1, min_snr_gamma: float | None = None, train_text_encoders: bool = True,
                   progress: bool = True) -> dict[str, Any]:
    """The UNet (and, with ``train_text_encoders``, both text encoders) on noised cached latents."""
    import torch
    from diffusers import DDPMScheduler

    unet, text_encoder, text_encoder_2 = models["unet"], models["text_encoder"], models["text_encoder_2"]
    noise_schedule = DDPMScheduler.from_config(models["scheduler"].config)
    alphas_cumprod = noise_schedule.alphas_cumprod
    snr = alphas_cumprod / (1 - alphas_cumprod)
    v_prediction = noise_schedule.config.prediction_type == "v_prediction"
    if min_snr_gamma is None:
        weights = torch.ones_like(snr)
    else:  # min-SNR-gamma
        weights = snr.clamp(max=min_snr_gamma) / (snr + 1 if v_prediction else snr)
    # what the pipeline passes: original size, crop top-left, target size
    time_ids = torch.tensor([[IMAGE_SIZE, IMAGE_SIZE, 0, 0, IMAGE_SIZE, IMAGE_SIZE]], dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    for module in (text_encoder, text_encoder_2):
        module.train(train_text_encoders)
        module.requires_grad_(train_text_encoders)
    unet.train()
    params = list(unet.parameters())
    if train_text_encoders:
        params += list(text_encoder.parameters()) + list(text_encoder_2.parameters())

    def step_fn(step):
        index = torch.randint(len(latents), (batch_size,), generator=generator)
        clean = latents[index]
        noise = torch.randn(clean.shape, generator=generator)
        timesteps = torch.randint(0, noise_schedule.config.num_train_timesteps, (batch_size,), generator=generator)
        noisy = noise_schedule.add_noise(clean, noise, timesteps)
        with torch.set_grad_enabled(train_text_encoders):
            prompt_embeds, pooled = encode_text(text_encoder, text_encoder_2, input_ids[index])
        keep = (torch.rand(batch_size, generator=generator) >= caption_dropout).float()
        prediction = unet(noisy, timesteps, prompt_embeds * keep[:, None, None],
                          added_cond_kwargs={"text_embeds": pooled * keep[:, None],
                                             "time_ids": time_ids.expand(batch_size, -1)}).sample
        target = noise_schedule.get_velocity(clean, noise, timesteps) if v_prediction else noise
        per_sample = (prediction - target).pow(2).mean(dim=(1, 2, 3))
        return (per_sample * weights[timesteps]).mean()

    summary = run_optimizer("denoiser", steps, lr, params, step_fn, progress)
    for module in (unet, text_encoder, text_encoder_2):
        module.eval()
        module.requires_grad_(False)
    return summary


# -- the whole model -----------------------------------------------------------------------------
def train_reference(dataset_dir: Path | str, out_dir: Path | str, *, seed: int = 0, steps: int = 5000,
                    batch_size: int = 16, lr: float = 1e-3, taesd_steps: int = 600, vae_steps: int = 500,
                    autoencoder_batch_size: int = 16, autoencoder_lr: float = 1e-3, train_text_encoders: bool = True,
                    threads: int = 2, progress: bool = True) -> dict[str, Any]:
    """Train the reference model on ``dataset_dir`` and save it to ``out_dir`` (replaced atomically).

    ``steps`` / ``batch_size`` / ``lr`` are the denoiser's (UNet + text encoders), ``taesd_steps``
    and ``vae_steps`` the two autoencoders'. ``out_dir`` loads with
    ``StableDiffusionXLPipeline.from_pretrained`` and holds the tiny autoencoder in ``taesd/``.
    Returns training metrics: per phase steps, seconds and first / final loss, and the total
    seconds.
    """
    from diffusers import StableDiffusionXLPipeline

    start = time.perf_counter()
    images, rows = load_split(dataset_dir, "train")
    if images is None or images.shape[1:3] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"{dataset_dir}: the reference model trains on {IMAGE_SIZE} px training images")
    tokenizer = build_tokenizer()
    input_ids = tokenizer([row["caption"] for row in rows], padding="max_length", max_length=tokenizer.model_max_length,
                          truncation=True, return_tensors="pt").input_ids
    metrics: dict[str, Any] = {"seed": seed, "images": len(rows), "image_size": IMAGE_SIZE, "threads": threads,
                               "train_text_encoders": train_text_encoders}
    with deterministic_torch(threads):
        models = build_models(tokenizer, seed)
        metrics["tiny_autoencoder"] = train_tiny_autoencoder(
            models["taesd"], images, seed=seed + 10, steps=taesd_steps, batch_size=autoencoder_batch_size,
            lr=autoencoder_lr, progress=progress)
        latents = encode_latents(models["taesd"], images)
        metrics["latent_std"] = round(float(latents.std()), 4)
        metrics["denoiser"] = train_denoiser(models, input_ids, latents, seed=seed + 20, steps=steps,
                                             batch_size=batch_size, lr=lr, train_text_encoders=train_text_encoders,
                                             progress=progress)
        metrics["kl_autoencoder"] = train_kl_autoencoder(
            models["vae"], images, latents, seed=seed + 30, steps=vae_steps, batch_size=autoencoder_batch_size,
            lr=autoencoder_lr, progress=progress)
        pipe = StableDiffusionXLPipeline(
            vae=models["vae"], text_encoder=models["text_encoder"], text_encoder_2=models["text_encoder_2"],
            tokenizer=tokenizer, tokenizer_2=tokenizer, unet=models["unet"], scheduler=models["scheduler"])
        with atomic_dir(out_dir) as tmp:
            pipe.save_pretrained(tmp, safe_serialization=True)
            models["taesd"].save_pretrained(tmp / "taesd", safe_serialization=True)
    metrics["seconds"] = round(time.perf_counter() - start, 1)
    log.info("reference model trained in %.0f s -> %s", metrics["seconds"], out_dir)
    return metrics
