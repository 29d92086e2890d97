"""SDXL-Turbo: export with optimum-intel, swap in the tiny autoencoder, run in optimum's pipelines."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.config.specs import GenerationSpec, ModelSpec, SourceKind
from ov_diffusion_quant.families.base import LoadedPipeline, ModelFamily
from ov_diffusion_quant.families.tiny_weights import TINY_CALIBRATION_PROMPTS, build_tiny_taesd

log = logging.getLogger(__name__)


class SDXLPipeline(LoadedPipeline):
    family = "sdxl"

    def __init__(self, model_dir: Path, device: str, ov_config: dict, per_component: dict[str, dict]):
        from optimum.intel import OVStableDiffusionXLPipeline

        self.model_dir, self.device = Path(model_dir), device
        self._ov_config, self._per_component = ov_config, per_component
        self.text2image = self._load(OVStableDiffusionXLPipeline)
        self._image2image = None

    def _load(self, pipeline_class, share_compiled_from=None):
        pipe = pipeline_class.from_pretrained(self.model_dir, device=self.device, ov_config=dict(self._ov_config),
                                              compile=False)
        for name, extra in self._per_component.items():
            part = getattr(pipe, name, None)
            if part is not None:
                part.ov_config = {**self._ov_config, **extra}
        if share_compiled_from is not None:
            # the same compiled models, not a second copy: for the real UNet that is 5 GB per copy
            for name in self.components_with_requests(share_compiled_from):
                getattr(pipe, name).request = getattr(share_compiled_from, name).request
        pipe.set_progress_bar_config(disable=True)
        pipe.compile()
        return pipe

    @staticmethod
    def components_with_requests(pipe) -> list[str]:
        return [name for name in SDXLFamily.components
                if getattr(getattr(pipe, name, None), "request", None) is not None]

    @property
    def image2image(self):
        if self._image2image is None:
            from optimum.intel import OVStableDiffusionXLImg2ImgPipeline

            self._image2image = self._load(OVStableDiffusionXLImg2ImgPipeline, share_compiled_from=self.text2image)
        return self._image2image

    def text_to_image(self, prompt, generation: GenerationSpec, seed, output_type="pil", steps=None, height=None,
                      width=None):
        import torch

        result = self.text2image(
            prompt,
            num_inference_steps=steps or generation.steps,
            height=height or generation.height,
            width=width or generation.width,
            guidance_scale=generation.guidance,
            generator=torch.Generator().manual_seed(seed),
            output_type=output_type,
        )
        return result.images[0]

    def image_to_image(self, prompt, image, generation: GenerationSpec, seed, steps=None, strength=None):
        import torch

        steps = steps or generation.img2img_steps
        strength = generation.img2img_strength if strength is None else strength
        check_img2img(steps, strength)
        result = self.image2image(
            prompt,
            image=image,
            num_inference_steps=steps,
            strength=strength,
            guidance_scale=generation.guidance,
            generator=torch.Generator().manual_seed(seed),
        )
        return result.images[0]

    def prompt_token_count(self, prompt: str) -> int:
        return len(self.text2image.tokenizer(prompt, truncation=False).input_ids)

    @property
    def max_prompt_tokens(self) -> int:
        return self.text2image.tokenizer.model_max_length

    def compiled_model_slots(self):
        pipe = self.text2image
        return {name: (getattr(pipe, name), "request") for name in SDXLFamily.components
                if getattr(pipe, name, None) is not None and name != "vae_encoder"}


def check_img2img(steps: int, strength: float) -> None:
    """SDXL-Turbo's img2img runs int(steps * strength) denoising steps; zero steps is an error."""
    if not 0.0 < strength <= 1.0:
        raise UserError(f"strength {strength} is not allowed: use a value in (0, 1]")
    if steps <= 0 or int(steps * strength) < 1:
        raise UserError(
            f"steps x strength = {steps} x {strength} = {steps * strength:g} < 1: image-to-image needs "
            "steps x strength >= 1 (for example 2 steps at strength 0.5)"
        )


class SDXLFamily(ModelFamily):
    name = "sdxl"
    components = ("text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder")
    denoiser = "unet"
    size_multiple = 32
    supports_img2img = True
    supports_genai = True
    has_tiny_autoencoder = True
    trains_reference = True
    max_steps = 1000
    max_steps_reason = "the scheduler's num_train_timesteps: more steps would repeat timesteps"
    demo_max_steps = 4  # SDXL-Turbo: 1 to 4 steps

    def prompt_length(self, spec: ModelSpec) -> int:
        return 77  # CLIP's

    @classmethod
    def check_img2img(cls, steps: int, strength: float) -> None:
        check_img2img(steps, strength)

    # -- tiny model ----------------------------------------------------------------------------
    def build_tiny(self, spec: ModelSpec, out_dir: Path) -> None:
        import torch
        from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
        from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

        from ov_diffusion_quant.families.tiny_tokenizers import build_clip_tokenizer
        from ov_diffusion_quant.families.tiny_weights import normalize_last_conv

        tokenizer = build_clip_tokenizer()
        text_config = dict(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
            num_attention_heads=4, max_position_embeddings=77, projection_dim=32, hidden_act="gelu",
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        torch.manual_seed(spec.seed)
        text_encoder = CLIPTextModel(CLIPTextConfig(**text_config))
        text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**text_config))
        unet = UNet2DConditionModel(
            sample_size=16, in_channels=4, out_channels=4, layers_per_block=2,
            block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
            transformer_layers_per_block=(1, 2), use_linear_projection=True, cross_attention_dim=64,
            addition_embed_type="text_time", addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=6 * 8 + 32, norm_num_groups=16,
        )
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
            block_out_channels=(16, 16, 32, 32), norm_num_groups=8,
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            sample_size=128, scaling_factor=0.13025,
        )
        scheduler = EulerAncestralDiscreteScheduler(
            num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
            timestep_spacing="trailing", steps_offset=1, prediction_type="epsilon",
        )
        pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                         tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=scheduler)
        latents = pipe(TINY_CALIBRATION_PROMPTS, num_inference_steps=1, guidance_scale=0.0, height=128, width=128,
                       generator=torch.Generator().manual_seed(spec.seed), output_type="latent").images
        normalize_last_conv(vae.decode, vae.decoder.conv_out, latents / vae.config.scaling_factor)
        pipe.save_pretrained(out_dir, safe_serialization=True)
        if spec.taesd_kind is SourceKind.TINY:
            build_tiny_taesd(spec.seed, Path(out_dir) / "taesd", latents)

    # -- real architecture, random weights (source: arch) ----------------------------------------
    def arch_parameter_count(self, spec: ModelSpec) -> int:
        import torch
        from diffusers import UNet2DConditionModel
        from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

        from ov_diffusion_quant.families import arch_configs as arch

        with torch.device("meta"):
            return sum(arch.parameter_count(module) for module in (
                UNet2DConditionModel(**arch.SDXL_UNET), CLIPTextModel(CLIPTextConfig(**arch.SDXL_TEXT_ENCODER)),
                CLIPTextModelWithProjection(CLIPTextConfig(**arch.SDXL_TEXT_ENCODER_2))))

    def build_arch(self, spec: ModelSpec, out_dir: Path) -> None:
        """SDXL-Turbo's UNet and both CLIP text encoders at full size, taesdxl's layout, seeded random weights.

        Built and saved in fp16 (half the memory of f32, and optimum then exports the fp16 weights
        as they are). The full VAE is only a placeholder of the tiny size: the export replaces it
        with taesdxl, as the notebook does.
        """
        import gc

        import torch
        from diffusers import AutoencoderKL, AutoencoderTiny, EulerAncestralDiscreteScheduler, StableDiffusionXLPipeline
        from diffusers import UNet2DConditionModel
        from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

        from ov_diffusion_quant.families import arch_configs as arch
        from ov_diffusion_quant.families.tiny_tokenizers import build_clip_tokenizer

        dtype = torch.float16
        tokenizer = build_clip_tokenizer()
        ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                   pad_token_id=tokenizer.pad_token_id)
        text_encoder = arch.seeded_module(
            lambda: CLIPTextModel(CLIPTextConfig(**arch.SDXL_TEXT_ENCODER, **ids)), spec.seed, dtype)
        text_encoder_2 = arch.seeded_module(
            lambda: CLIPTextModelWithProjection(CLIPTextConfig(**arch.SDXL_TEXT_ENCODER_2, **ids)), spec.seed + 1, dtype)
        unet = arch.seeded_module(lambda: UNet2DConditionModel(**arch.SDXL_UNET), spec.seed + 2, dtype)
        vae = arch.seeded_module(lambda: AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
            block_out_channels=(16, 16, 32, 32), norm_num_groups=8,
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            sample_size=128, scaling_factor=0.13025), spec.seed + 3, dtype)
        scheduler = EulerAncestralDiscreteScheduler(
            num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
            timestep_spacing="trailing", steps_offset=1, prediction_type="epsilon",
        )
        log.info("sdxl arch: unet %.3f B, text encoders %.0f M + %.0f M parameters (random weights)",
                 arch.parameter_count(unet) / 1e9, arch.parameter_count(text_encoder) / 1e6,
                 arch.parameter_count(text_encoder_2) / 1e6)
        pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                         tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=scheduler)
        pipe.save_pretrained(out_dir, safe_serialization=True)
        del pipe, unet, text_encoder, text_encoder_2, vae
        gc.collect()
        if spec.taesd_kind is SourceKind.ARCH:
            taesd = arch.seeded_module(lambda: AutoencoderTiny(**arch.TAESDXL), spec.seed + 4, torch.float32)
            taesd.save_pretrained(Path(out_dir) / "taesd", safe_serialization=True)

    # -- export --------------------------------------------------------------------------------
    def export(self, spec: ModelSpec, generation: GenerationSpec, out_dir: Path) -> None:
        from optimum.exporters.openvino import main_export
        from optimum.intel import OVConfig

        started = time.perf_counter()
        with self.source_dir(spec) as source:
            log.info("export: source %s ready (%.0f s); optimum-intel converts the text encoders, UNet and VAE",
                     spec.source, time.perf_counter() - started)
            taesd_dir = self.tiny_autoencoder_dir(spec, source)
            main_export(model_name_or_path=str(source), output=out_dir, task="text-to-image",
                        ov_config=OVConfig(dtype="fp16"), convert_tokenizer=True, variant=spec.weights_variant)
            log.info("export: optimum-intel done (%.0f s so far)", time.perf_counter() - started)
            if taesd_dir is not None:
                self.export_taesd(taesd_dir, out_dir, generation)
                log.info("export: tiny autoencoder (taesd) in place of the VAE (%.0f s so far)",
                         time.perf_counter() - started)
            self.record_sources(out_dir, {"model": (source, spec.source),
                                          **({"taesd": (taesd_dir, spec.taesd)} if taesd_dir else {})})

    @staticmethod
    def export_taesd(taesd_dir: Path, out_dir: Path, generation: GenerationSpec) -> None:
        """Replace the VAE with the tiny autoencoder (taesdxl), as the notebook does."""
        import shutil

        import openvino as ov
        import torch
        from diffusers import AutoencoderTiny

        taesd = AutoencoderTiny.from_pretrained(taesd_dir, use_safetensors=True).eval()

        class Encoder(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.vae = taesd

            def forward(self, sample):
                return self.vae.encode(sample).latents

        class Decoder(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.vae = taesd

            def forward(self, latent_sample):
                return self.vae.decode(latent_sample).sample

        latent = (1, 4, generation.height // 8, generation.width // 8)
        for part, module, example, out_name in (
            ("vae_encoder", Encoder(), torch.zeros(1, 3, generation.height, generation.width), "latent_sample"),
            ("vae_decoder", Decoder(), torch.zeros(latent), "sample"),
        ):
            with torch.no_grad():
                ov_model = ov.convert_model(module, example_input=example)
            ov_model.outputs[0].get_tensor().set_names({out_name})
            target = out_dir / part
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            ov.save_model(ov_model, target / "openvino_model.xml", compress_to_fp16=True)
            taesd.save_config(target)

    # -- runtime -------------------------------------------------------------------------------
    def load(self, model_dir: Path, device: str, f32: bool = False, parts: tuple[str, ...] | None = None) -> SDXLPipeline:
        from ov_diffusion_quant.runtime.devices import check_device, compile_config

        if parts is not None:
            raise UserError("the sdxl family loads all its components (its f32 pipeline fits in 21 GB)")
        self.check_exported(model_dir)
        check_device(device)
        return SDXLPipeline(model_dir, device, compile_config(f32), self.read_compile_config(model_dir))

    # -- quantization --------------------------------------------------------------------------
    ignored_scopes = {
        **ModelFamily.ignored_scopes,
        "notebook": "the notebook's: conv_in, conv_out and the last up block's last shortcut",
        "attention": "every transformer block (projections, attention, feed-forward)",
        "embeddings": "the time and text-time embeddings and every resnet's time projection",
        "first_and_last_blocks": "conv_in, the first down block, the last up block and conv_out",
    }

    def default_ignored_scope(self, component: str) -> tuple[str, ...]:
        return ("notebook",) if component == "unet" else ()

    def ignored_scope_part(self, component: str, ov_model, name: str) -> dict[str, list[str]]:
        if component != "unet" or name in ModelFamily.ignored_scopes:
            return super().ignored_scope_part(component, ov_model, name)
        if name == "notebook":
            return {"names": self.notebook_scope(ov_model)}
        if name == "attention":
            return {"patterns": [r".*\.attentions\.\d+\..*"]}
        if name == "embeddings":
            return {"patterns": [r".*(time_embedding|add_embedding|time_emb_proj).*"]}
        if name == "first_and_last_blocks":
            ups = [int(m[1]) for op in ov_model.get_ops() if (m := re.search(r"up_blocks\.(\d+)\.", op.get_friendly_name()))]
            last = max(ups, default=0)
            return {"patterns": [r"(.*[./])?conv_in/.*", r".*down_blocks\.0\..*", rf".*up_blocks\.{last}\..*",
                                 r"(.*[./])?conv_out/.*"]}
        return super().ignored_scope_part(component, ov_model, name)

    # -- peers --------------------------------------------------------------------------------
    peers = ("optimum-hybrid", "optimum-int8")

    def quantize_peer(self, peer: str, fp_dir: Path, out_dir: Path, captions: list[str], num_samples: int) -> None:
        """optimum-intel's quantization through its Python API, as `optimum-cli export openvino` applies it to a
        diffusion pipeline, with ``captions`` as its dataset (a list of prompts: its own pipeline defaults decide the
        calibration runs' steps, guidance and size)."""
        from optimum.intel import (OVConfig, OVQuantizationConfig, OVQuantizer, OVStableDiffusionXLPipeline,
                                   OVWeightQuantizationConfig)

        if peer not in self.peers:
            return super().quantize_peer(peer, fp_dir, out_dir, captions, num_samples)
        config = (OVWeightQuantizationConfig(bits=8, quant_method="hybrid", dataset=captions, num_samples=num_samples)
                  if peer == "optimum-hybrid" else OVQuantizationConfig(dataset=captions, num_samples=num_samples))
        pipeline = OVStableDiffusionXLPipeline.from_pretrained(fp_dir, device="CPU", compile=False)
        OVQuantizer(pipeline).quantize(ov_config=OVConfig(quantization_config=config), save_directory=out_dir)

    @staticmethod
    def notebook_scope(ov_model) -> list[str]:
        """The notebook's scope, by structure: conv_in, conv_out and the last up block's last shortcut.

        The real UNet names it up_blocks.2.resnets.2.conv_shortcut; the tiny one has fewer blocks,
        so the indices are read off the graph instead of hard-coded.
        """
        names = [op.get_friendly_name() for op in ov_model.get_ops() if op.get_type_name() == "Convolution"]
        shortcuts = [(int(m[1]), int(m[2]), n) for n in names
                     if (m := re.search(r"up_blocks\.(\d+)\.resnets\.(\d+)\.conv_shortcut/", n))]
        wanted = {
            "conv_in": [n for n in names if re.search(r"(^|[./])conv_in/", n)],
            "conv_out": [n for n in names if re.search(r"(^|[./])conv_out/", n)],
            "last up-block shortcut": [max(shortcuts)[2]] if shortcuts else [],
        }
        missing = [label for label, found in wanted.items() if len(found) != 1]
        if missing:
            raise UserError(f"SDXL ignored scope matched nothing (or more than one op) for {', '.join(missing)} "
                            "in the UNet graph: is this an SDXL UNet export?")
        return [found[0] for found in wanted.values()]
