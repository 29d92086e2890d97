"""The real models' architectures, from their public configs, for ``source: arch`` variants.

No weights are downloaded: each part is built from its config with seeded random weights,
so latency and memory are those of the real model while the images are noise. Tokenizers
are the offline tiny ones (tiny_tokenizers.py); embedding tables are padded to the real
vocabulary sizes so the text encoders have their real parameter counts.

Sources: stabilityai/sdxl-turbo (unet, text_encoder, text_encoder_2 config.json),
madebyollin/taesdxl (diffusers AutoencoderTiny defaults), PixArt-alpha/PixArt-LCM-XL-2-1024-MS
(transformer, text_encoder = google/t5-v1_1-xxl, vae = SD's AutoencoderKL).
"""

from __future__ import annotations

CLIP_VOCAB_SIZE = 49408
T5_VOCAB_SIZE = 32128

SDXL_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, norm_num_groups=32, norm_eps=1e-5,
    block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    mid_block_type="UNetMidBlock2DCrossAttn",
    attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10), use_linear_projection=True,
    cross_attention_dim=2048, addition_embed_type="text_time", addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816, flip_sin_to_cos=True, freq_shift=0, act_fn="silu",
)
# CLIP ViT-L/14 text tower (SDXL text_encoder)
SDXL_TEXT_ENCODER = dict(
    vocab_size=CLIP_VOCAB_SIZE, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
    num_attention_heads=12, max_position_embeddings=77, projection_dim=768, hidden_act="quick_gelu",
)
# OpenCLIP ViT-bigG/14 text tower (SDXL text_encoder_2, with projection)
SDXL_TEXT_ENCODER_2 = dict(
    vocab_size=CLIP_VOCAB_SIZE, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
    num_attention_heads=20, max_position_embeddings=77, projection_dim=1280, hidden_act="gelu",
)
# madebyollin/taesdxl is diffusers' AutoencoderTiny with its defaults (scaling_factor 1.0)
TAESDXL = dict(
    encoder_block_out_channels=(64, 64, 64, 64), decoder_block_out_channels=(64, 64, 64, 64),
    num_encoder_blocks=(1, 3, 3, 3), num_decoder_blocks=(3, 3, 3, 1), latent_channels=4,
    latent_magnitude=3, latent_shift=0.5, scaling_factor=1.0,
)
# madebyollin/taesd (SD 1.x latents, which PixArt-α shares) has taesdxl's architecture
TAESD = TAESDXL

PIXART_TRANSFORMER = dict(
    num_attention_heads=16, attention_head_dim=72, in_channels=4, out_channels=8, num_layers=28,
    cross_attention_dim=1152, caption_channels=4096, sample_size=128, patch_size=2, norm_num_groups=32,
    norm_type="ada_norm_single", norm_elementwise_affine=False, norm_eps=1e-6, activation_fn="gelu-approximate",
    attention_bias=True, num_embeds_ada_norm=1000, use_additional_conditions=True,
)
# google/t5-v1_1-xxl's encoder: 24 layers, 4.76 B parameters (9.5 GB in 16 bit)
PIXART_TEXT_ENCODER = dict(
    vocab_size=T5_VOCAB_SIZE, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
    feed_forward_proj="gated-gelu", relative_attention_num_buckets=32, relative_attention_max_distance=128,
    layer_norm_epsilon=1e-6, pad_token_id=0, eos_token_id=1,
)
# Stable Diffusion's VAE (PixArt-α uses sd-vae-ft-ema)
SD_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    sample_size=512, scaling_factor=0.18215,
)


def seeded_module(factory, seed: int, dtype):
    """Build a module with seeded random weights, in ``dtype`` from the start (no f32 copy of the weights)."""
    import torch

    previous = torch.get_default_dtype()
    torch.manual_seed(seed)
    torch.set_default_dtype(dtype)
    try:
        module = factory()
    finally:
        torch.set_default_dtype(previous)
    return module.to(dtype).eval()


def parameter_count(module) -> int:
    return sum(p.numel() for p in module.parameters())
