"""Make randomly initialised tiny decoders produce usable pictures.

A random VAE decoder saturates: almost every pixel clips to black or white, and
image-similarity metrics then measure nothing. Rescaling the last convolution so
that its output has zero mean and a fixed spread (measured on latents that the
tiny pipeline itself produced) keeps pixels inside [-1, 1], so quantization
error shows up in PSNR/SSIM as it would on a trained model.
"""

from __future__ import annotations

# Latents of these prompts, from the tiny pipeline itself, set the decoder's output range.
TINY_CALIBRATION_PROMPTS = ["a photo of a cat", "a red car on a street at night", "mountains and a lake at sunset"]


def normalize_last_conv(decode, conv, latent, target_mean: float = 0.0, target_std: float = 0.4) -> None:
    """Rescale ``conv`` (the decoder's last layer) in place from one seeded forward pass."""
    import torch

    captured = {}
    handle = conv.register_forward_hook(lambda module, inputs, output: captured.__setitem__("out", output))
    with torch.no_grad():
        decode(latent)
    handle.remove()
    out = captured["out"]
    mean = out.mean(dim=(0, 2, 3))
    std = out.std(dim=(0, 2, 3)).clamp_min(1e-6)
    scale = target_std / std
    with torch.no_grad():
        conv.weight.mul_(scale.view(-1, 1, 1, 1))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(mean)
        conv.bias = torch.nn.Parameter((bias - mean) * scale + target_mean)


def build_tiny_taesd(seed: int, out_dir, latents) -> None:
    """A tiny AutoencoderTiny (taesd's classes, 4 latent channels, 8x) whose decoder draws ``latents`` in range."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(seed + 1)
    taesd = AutoencoderTiny(
        encoder_block_out_channels=(16, 16, 16, 16), decoder_block_out_channels=(16, 16, 16, 16),
        num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1), latent_channels=4,
    )
    # taesd's decoder maps its last conv's output x to 2x - 1, so centre x on 0.5
    normalize_last_conv(taesd.decode, taesd.decoder.layers[-1], latents, target_mean=0.5, target_std=0.2)
    taesd.save_pretrained(out_dir, safe_serialization=True)
