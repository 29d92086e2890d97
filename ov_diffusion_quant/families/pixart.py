"""PixArt-α LCM: ov.convert_model of T5 encoder, transformer and VAE decoder, run inside diffusers.

optimum-intel does not export PixArt, so (as the notebook does) each part is converted
on its own and the compiled models are wrapped to look like the torch modules the
diffusers PixArtAlphaPipeline calls. With `model.taesd` the tiny autoencoder (madebyollin/taesd shares
PixArt-α's SD 1.x latent space) is exported as the VAE decoder, as the SDXL notebook does with taesdxl.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from collections import namedtuple
from pathlib import Path

from ov_diffusion_quant.common.artifacts import read_ir, read_json
from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.common.resources import peak_rss_mb
from ov_diffusion_quant.families.base import LoadedPipeline, ModelFamily
from ov_diffusion_quant.families.tiny_weights import TINY_CALIBRATION_PROMPTS, build_tiny_taesd
from ov_diffusion_quant.config.specs import GenerationSpec, ModelSpec, SourceKind

log = logging.getLogger(__name__)
PIPELINE_FILE = "pixart_pipeline.json"
EncoderOutput = namedtuple("EncoderOutput", "last_hidden_state")
DecoderOutput = namedtuple("DecoderOutput", "sample")

SEPARATE_PROCESSES_ABOVE = 2**30  # bytes of source weights above which each part converts in its own process
SAFETENSORS_DTYPES = {"F16": "float16", "BF16": "bfloat16", "F32": "float32"}
WEIGHT_VARIANTS = ("fp16", "bf16", "fp32")  # diffusers' `name.<variant>.safetensors`


def checkpoint_dtype(directory: Path, weights_variant: str | None):
    """The torch dtype the submodel's safetensors weights are stored in (of its first floating-point tensor)."""
    import torch
    from safetensors import safe_open

    def variant_of(file: Path) -> str | None:
        parts = file.name.split(".")
        return parts[-2] if len(parts) > 2 and parts[-2] in WEIGHT_VARIANTS else None

    files = sorted(file for file in Path(directory).glob("*.safetensors") if variant_of(file) == weights_variant)
    if not files:
        raise UserError(f"{directory}: no {weights_variant or 'default'} safetensors weights")
    with safe_open(files[0], framework="pt") as weights:
        for name in weights.keys():
            if (stored := weights.get_slice(name).get_dtype()) in SAFETENSORS_DTYPES:
                return getattr(torch, SAFETENSORS_DTYPES[stored])
    return torch.float32


@contextlib.contextmanager
def traceable_in_16_bit(model):
    """Trace a 16-bit model as optimum-intel does for T5-XXL and FLUX (``patch_16bit_model``): Linear and Embedding
    keep their 16-bit weights as IR constants, the rest is cast to f32, activations are traced in f32; no f32 copy
    of the weights is made. OpenVINO's ``__make_16bit_traceable`` patches torch functions globally: undone on exit."""
    from openvino.frontend.pytorch.patch_model import __make_16bit_traceable, unpatch_model

    orig_forward_name = "_openvino_module_extension_patch_orig_forward"
    __make_16bit_traceable(model, orig_forward_name)
    try:
        yield model
    finally:
        unpatch_model(model, orig_forward_name)


def upsampling_factor(decoder_config: dict) -> int:
    """How many pixels a latent becomes per side: AutoencoderKL's or AutoencoderTiny's decoder config."""
    channels = decoder_config.get("block_out_channels") or decoder_config["decoder_block_out_channels"]
    return 2 ** (len(channels) - 1)


def _torch_module_with_config(config: dict, dtype):
    """A parameterless torch module that carries a diffusers config, as the pipeline expects."""
    import torch
    from diffusers.configuration_utils import FrozenDict

    module = torch.nn.Module()
    module.config = FrozenDict(config)
    module.dtype = dtype
    return module


class OVTextEncoder:
    def __init__(self, compiled, dtype):
        import torch

        self.compiled, self.dtype = compiled, dtype
        self.device = torch.device("cpu")

    def __call__(self, input_ids=None, attention_mask=None, **kwargs):
        import torch

        if self.compiled is None:
            raise UserError("this pipeline was loaded without its text encoder (parts=...): pass the prompt's "
                            "encoding from one that has it (text_to_image(encoded=...))")
        out = self.compiled({"input_ids": input_ids, "attention_mask": attention_mask})[0]
        return EncoderOutput(torch.from_numpy(out))


class OVTransformer:
    """The transformer with resolution/aspect-ratio conditions as explicit inputs.

    The diffusers pipeline passes these conditions only for 1024-px models (sample_size 128);
    for others the wrapper derives them from the latent size, as the pipeline would.
    """

    def __init__(self, compiled, config, vae_scale_factor: int, dtype):
        self.compiled, self.config, self.dtype = compiled, config, dtype
        self.vae_scale_factor = vae_scale_factor

    def __call__(self, hidden_states, encoder_hidden_states=None, timestep=None, added_cond_kwargs=None,
                 encoder_attention_mask=None, return_dict=False, **kwargs):
        import torch

        conditions = added_cond_kwargs or {}
        resolution, aspect_ratio = conditions.get("resolution"), conditions.get("aspect_ratio")
        batch = hidden_states.shape[0]
        if resolution is None:
            height = hidden_states.shape[2] * self.vae_scale_factor
            width = hidden_states.shape[3] * self.vae_scale_factor
            resolution = torch.tensor([[float(height), float(width)]]).repeat(batch, 1)
            aspect_ratio = torch.tensor([[float(height / width)]]).repeat(batch, 1)
        timestep = timestep.expand(batch) if timestep.ndim else timestep.repeat(batch)
        out = self.compiled({
            "hidden_states": hidden_states,
            "timestep": timestep,
            "encoder_hidden_states": encoder_hidden_states,
            "encoder_attention_mask": encoder_attention_mask.to(torch.float32),
            "resolution": resolution,
            "aspect_ratio": aspect_ratio,
        })[0]
        return (torch.from_numpy(out),)


class OVVaeDecoder:
    def __init__(self, compiled, config, dtype):
        self.compiled, self.config, self.dtype = compiled, config, dtype

    def decode(self, latents, return_dict=False, **kwargs):
        import torch

        return DecoderOutput(torch.from_numpy(self.compiled({"latents": latents})[0]))


class PixArtPipeline(LoadedPipeline):
    family = "pixart"

    def __init__(self, model_dir: Path, device: str, ov_config: dict, per_component: dict[str, dict],
                 parts: tuple[str, ...] | None = None):
        import openvino as ov
        import torch
        from diffusers import LCMScheduler, PixArtAlphaPipeline
        from transformers import AutoTokenizer

        model_dir = Path(model_dir)
        core = ov.Core()
        meta = read_json(model_dir / PIPELINE_FILE)
        self.max_length = meta["max_length"]

        def compile_part(name):
            if parts is not None and name not in parts:
                return None  # not compiled: this pipeline runs without it (PixArtFamily.encodes_apart)
            return core.compile_model(read_ir(model_dir / name / "openvino_model.xml"), device,
                                      {**ov_config, **per_component.get(name, {})})

        def config_of(name):
            return read_json(model_dir / name / "config.json")

        vae_config = config_of("vae_decoder")
        vae_scale_factor = upsampling_factor(vae_config)
        self.text_encoder = OVTextEncoder(compile_part("text_encoder"), torch.float32)
        transformer_config = _torch_module_with_config(config_of("transformer"), torch.float32).config
        self.transformer = OVTransformer(compile_part("transformer"), transformer_config, vae_scale_factor,
                                         torch.float32)
        self.vae = OVVaeDecoder(compile_part("vae_decoder"), _torch_module_with_config(vae_config, torch.float32).config,
                                torch.float32)
        self.pipe = PixArtAlphaPipeline(
            tokenizer=AutoTokenizer.from_pretrained(model_dir / "tokenizer"),
            text_encoder=None, transformer=None, vae=None,
            scheduler=LCMScheduler.from_pretrained(model_dir / "scheduler"),
        )
        # LCMScheduler refuses more steps than its original schedule (and than its training timesteps)
        scheduler_config = self.pipe.scheduler.config
        self.max_steps = min(scheduler_config.original_inference_steps, scheduler_config.num_train_timesteps)
        # Plain attributes, not registered torch modules: the pipeline only calls them.
        self.pipe.text_encoder, self.pipe.transformer, self.pipe.vae = self.text_encoder, self.transformer, self.vae
        self.pipe.vae_scale_factor = vae_scale_factor
        from diffusers.image_processor import PixArtImageProcessor

        self.pipe.image_processor = PixArtImageProcessor(vae_scale_factor=vae_scale_factor)
        self.pipe.set_progress_bar_config(disable=True)
        # Resolution binning (snap to the aspect-ratio bins of the model's native size) only at that size; the tiny
        # model shares the 1024-px config but runs at a few dozen pixels. diffusers' bins are for the SD VAE's factor
        # 8 (the 64-px reference model's VAE downsamples once: no bins).
        self.native_size = transformer_config["sample_size"] * vae_scale_factor if vae_scale_factor == 8 else None

    def encode(self, prompt: str) -> dict:
        embeds, mask, _, _ = self.pipe.encode_prompt(prompt, do_classifier_free_guidance=False, clean_caption=False,
                                                     max_sequence_length=self.max_length)
        return {"prompt_embeds": embeds, "prompt_attention_mask": mask}

    def text_to_image(self, prompt, generation: GenerationSpec, seed, output_type="pil", steps=None, height=None,
                      width=None, encoded: dict | None = None):
        """``encoded``: the prompt's ``encode`` output (from a pipeline with the text encoder) instead of ``prompt``."""
        import torch

        if (steps or generation.steps) > self.max_steps:
            raise UserError(f"steps {steps or generation.steps} is not allowed for this model: its LCM scheduler "
                            f"allows 1 to {self.max_steps} (original_inference_steps)")
        result = self.pipe(
            prompt=None if encoded else prompt,
            **(encoded or {}),
            num_inference_steps=steps or generation.steps,
            height=height or generation.height,
            width=width or generation.width,
            guidance_scale=generation.guidance,
            generator=torch.Generator().manual_seed(seed),
            output_type=output_type,
            clean_caption=False,
            use_resolution_binning=max(height or generation.height, width or generation.width) == self.native_size,
            max_sequence_length=self.max_length,
        )
        return result.images[0]

    def prompt_token_count(self, prompt: str) -> int:
        return len(self.pipe.tokenizer(prompt, truncation=False).input_ids)

    @property
    def max_prompt_tokens(self) -> int:
        return self.max_length

    def compiled_model_slots(self):
        slots = {"text_encoder": (self.text_encoder, "compiled"), "transformer": (self.transformer, "compiled"),
                 "vae_decoder": (self.vae, "compiled")}
        return {name: slot for name, slot in slots.items() if getattr(*slot) is not None}


class PixArtFamily(ModelFamily):
    name = "pixart"
    components = ("text_encoder", "transformer", "vae_decoder")
    denoiser = "transformer"
    size_multiple = 16  # VAE factor 8 x patch size 2
    encodes_apart = True
    has_tiny_autoencoder = True
    trains_reference = True  # ov_diffusion_quant/reference/pixart_training.py
    max_steps = 50
    max_steps_reason = ("LCMScheduler's original_inference_steps in the tiny and PixArt-LCM scheduler configs: "
                        "diffusers refuses more")

    def build_tiny(self, spec: ModelSpec, out_dir: Path) -> None:
        import torch
        from diffusers import AutoencoderKL, LCMScheduler, PixArtAlphaPipeline, PixArtTransformer2DModel
        from transformers import T5Config, T5EncoderModel

        from ov_diffusion_quant.families.tiny_tokenizers import build_t5_tokenizer
        from ov_diffusion_quant.families.tiny_weights import normalize_last_conv

        tokenizer = build_t5_tokenizer(spec.max_length)
        torch.manual_seed(spec.seed)
        text_encoder = T5EncoderModel(T5Config(
            vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
            feed_forward_proj="gated-gelu", relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
        ))
        transformer = PixArtTransformer2DModel(
            num_attention_heads=2, attention_head_dim=12, in_channels=4, out_channels=8, num_layers=2,
            cross_attention_dim=24, caption_channels=32, sample_size=128, patch_size=2, norm_num_groups=8,
            use_additional_conditions=True,
        )
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
            block_out_channels=(16, 16, 32, 32), norm_num_groups=8,
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            sample_size=128, scaling_factor=0.18215,
        )
        scheduler = LCMScheduler(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear",
                                 prediction_type="epsilon", original_inference_steps=50)
        pipe = PixArtAlphaPipeline(tokenizer=tokenizer, text_encoder=text_encoder, transformer=transformer, vae=vae,
                                   scheduler=scheduler)
        latents = pipe(TINY_CALIBRATION_PROMPTS, num_inference_steps=4, guidance_scale=0.0, height=128, width=128,
                       generator=torch.Generator().manual_seed(spec.seed), output_type="latent", clean_caption=False,
                       use_resolution_binning=False, max_sequence_length=spec.max_length).images
        normalize_last_conv(vae.decode, vae.decoder.conv_out, latents / vae.config.scaling_factor)
        pipe.save_pretrained(out_dir, safe_serialization=True)
        if spec.taesd_kind is SourceKind.TINY:  # it decodes the transformer's latents as they are (scaling factor 1)
            build_tiny_taesd(spec.seed, Path(out_dir) / "taesd", latents)

    def arch_parameter_count(self, spec: ModelSpec) -> int:
        import torch
        from diffusers import AutoencoderKL, PixArtTransformer2DModel
        from transformers import T5Config, T5EncoderModel

        from ov_diffusion_quant.families import arch_configs as arch

        with torch.device("meta"):
            return sum(arch.parameter_count(module) for module in (
                T5EncoderModel(T5Config(**arch.PIXART_TEXT_ENCODER)), PixArtTransformer2DModel(**arch.PIXART_TRANSFORMER),
                AutoencoderKL(**arch.SD_VAE)))

    def build_arch(self, spec: ModelSpec, out_dir: Path) -> None:
        """PixArt-XL-2 (LCM, 1024-MS) transformer, T5-XXL encoder, SD VAE, seeded random weights, saved in fp16."""
        import gc

        import torch
        from diffusers import AutoencoderKL, LCMScheduler, PixArtAlphaPipeline, PixArtTransformer2DModel
        from transformers import T5Config, T5EncoderModel

        from ov_diffusion_quant.families import arch_configs as arch
        from ov_diffusion_quant.families.tiny_tokenizers import build_t5_tokenizer

        dtype = torch.float16
        text_encoder = arch.seeded_module(lambda: T5EncoderModel(T5Config(**arch.PIXART_TEXT_ENCODER)), spec.seed, dtype)
        transformer = arch.seeded_module(lambda: PixArtTransformer2DModel(**arch.PIXART_TRANSFORMER), spec.seed + 1,
                                         dtype)
        vae = arch.seeded_module(lambda: AutoencoderKL(**arch.SD_VAE), spec.seed + 2, dtype)
        log.info("pixart arch: transformer %.3f B, T5 encoder %.3f B, vae %.0f M parameters (random weights)",
                 arch.parameter_count(transformer) / 1e9, arch.parameter_count(text_encoder) / 1e9,
                 arch.parameter_count(vae) / 1e6)
        scheduler = LCMScheduler(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear",
                                 prediction_type="epsilon", original_inference_steps=50)
        pipe = PixArtAlphaPipeline(tokenizer=build_t5_tokenizer(spec.max_length), text_encoder=text_encoder,
                                   transformer=transformer, vae=vae, scheduler=scheduler)
        pipe.save_pretrained(out_dir, safe_serialization=True)
        del pipe, text_encoder, transformer, vae
        gc.collect()
        if spec.taesd_kind is SourceKind.ARCH:
            from diffusers import AutoencoderTiny

            taesd = arch.seeded_module(lambda: AutoencoderTiny(**arch.TAESD), spec.seed + 4, torch.float32)
            taesd.save_pretrained(Path(out_dir) / "taesd", safe_serialization=True)

    def export(self, spec: ModelSpec, generation: GenerationSpec, out_dir: Path) -> None:
        started = time.perf_counter()
        with self.source_dir(spec) as source:
            log.info("export: source %s ready (%.0f s)", spec.source, time.perf_counter() - started)
            taesd_dir = self.tiny_autoencoder_dir(spec, source)
            self._convert(source, spec, generation, Path(out_dir), taesd_dir)
            self.record_sources(out_dir, {"model": (source, spec.source),
                                          **({"taesd": (taesd_dir, spec.taesd)} if taesd_dir else {})})

    def _convert(self, source: Path, spec: ModelSpec, generation: GenerationSpec, out_dir: Path,
                 taesd_dir: Path | None) -> None:
        """Each part in a process of its own, so that its torch model is gone before the next one loads (a model
        traced in this process stays referenced by the trace: the T5-XXL would stay resident beside the rest)."""
        import concurrent.futures
        import multiprocessing

        from transformers import AutoTokenizer

        weights = sum(file.stat().st_size for file in Path(source).rglob("*.safetensors"))
        for part in self.components:
            if weights <= SEPARATE_PROCESSES_ABOVE:  # a small model: a new process per part would cost more than it saves
                export_part(part, source, spec, generation, out_dir, taesd_dir)
                continue
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                try:
                    pool.submit(export_part, part, source, spec, generation, out_dir, taesd_dir, True).result()
                except concurrent.futures.process.BrokenProcessPool:
                    raise RuntimeError(f"the process converting {part} ended without a result (killed, most likely "
                                       "for memory)") from None
        AutoTokenizer.from_pretrained(source / "tokenizer").save_pretrained(out_dir / "tokenizer")
        shutil.copytree(source / "scheduler", out_dir / "scheduler")
        (out_dir / PIPELINE_FILE).write_text(json.dumps({"family": "pixart", "max_length": spec.max_length}, indent=2))

    def load(self, model_dir: Path, device: str, f32: bool = False, parts: tuple[str, ...] | None = None) -> PixArtPipeline:
        from ov_diffusion_quant.runtime.devices import check_device, compile_config

        self.check_exported(model_dir)
        check_device(device)
        if parts is not None and (unknown := set(parts) - set(self.components)):
            raise UserError(f"unknown pixart components {sorted(unknown)}: allowed are {', '.join(self.components)}")
        return PixArtPipeline(model_dir, device, compile_config(f32), self.read_compile_config(model_dir), parts)

    # -- quantization --------------------------------------------------------------------------
    ignored_scopes = {
        **ModelFamily.ignored_scopes,
        "embeddings": "the transformer's conditioning embedders, which ViDiT-Q keeps in float: patch, timestep and its "
                      "t_block, caption, resolution and aspect ratio",
        "final_layer": "the transformer's output projection (proj_out)",
        "feed_forward_output": "T5's feed-forward output projections (wo), its known outliers (transformers keeps "
                               "them in fp32)",
        "mid_block_attention": "the VAE decoder's mid-block attention",
    }
    SCOPE_PATTERNS = {
        ("transformer", "embeddings"): [r".*\.(pos_embed|adaln_single|caption_projection)[./].*"],
        ("transformer", "final_layer"): [r".*\.proj_out/.*"],
        ("text_encoder", "feed_forward_output"): [r".*\.DenseReluDense\.wo/.*"],
        ("vae_decoder", "mid_block_attention"): [r".*\.mid_block\.attentions\..*"],
    }

    def ignored_scope_part(self, component: str, ov_model, name: str) -> dict[str, list[str]]:
        if name in ModelFamily.ignored_scopes:
            return super().ignored_scope_part(component, ov_model, name)
        if (component, name) not in self.SCOPE_PATTERNS:
            parts = [scope for part, scope in self.SCOPE_PATTERNS if part == component]
            raise UserError(f"ignored scope {name!r} is not a part of the pixart {component}: it has "
                            f"{', '.join([*ModelFamily.ignored_scopes, *parts])}")
        return {"patterns": self.SCOPE_PATTERNS[component, name]}


def export_part(part: str, source: Path, spec: ModelSpec, generation: GenerationSpec, out_dir: Path,
                taesd_dir: Path | None = None, own_process: bool = False) -> None:
    """Convert one part of the diffusers directory ``source`` into ``out_dir/part`` (PixArtFamily._convert runs
    each in its own process for a large model: ``own_process`` sets up its logging); the VAE decoder is
    ``taesd_dir``'s tiny autoencoder where one is given."""
    import openvino as ov
    import torch
    from diffusers import AutoencoderKL, AutoencoderTiny, PixArtTransformer2DModel
    from transformers import T5EncoderModel

    from ov_diffusion_quant.common.errors import entry_point_setup

    def save(model: torch.nn.Module, example, config: dict) -> None:
        started = time.perf_counter()
        model.eval()
        dtype = next(model.parameters()).dtype
        log.info("export: converting %s (%s weights)", part, dtype)
        with torch.no_grad(), traceable_in_16_bit(model) if dtype in (torch.float16, torch.bfloat16) \
                else contextlib.nullcontext():
            ov_model = ov.convert_model(model, example_input=example)
        for port in ov_model.inputs:  # drop tracer aliases such as '149' beside 'timestep'
            if named := port.get_names() & example.keys():
                port.get_tensor().set_names(named)
        (out_dir / part).mkdir(parents=True, exist_ok=True)
        ov.save_model(ov_model, out_dir / part / "openvino_model.xml", compress_to_fp16=True)
        (out_dir / part / "config.json").write_text(json.dumps(config, indent=2, default=str))
        log.info("export: %s saved (%.0f s, peak RSS of its process %.1f GB)", part, time.perf_counter() - started,
                 peak_rss_mb() / 1024)

    def load(cls, subfolder: str):
        """In the checkpoint's own dtype: the 4.8 B-parameter T5-XXL is 9.5 GB in 16 bit, 19 GB in f32."""
        return cls.from_pretrained(source / subfolder, use_safetensors=True, variant=spec.weights_variant,
                                   torch_dtype=checkpoint_dtype(source / subfolder, spec.weights_variant))

    vae_factor = upsampling_factor(json.loads((source / "vae" / "config.json").read_text()))
    length, latent_h, latent_w = spec.max_length, generation.height // vae_factor, generation.width // vae_factor
    with entry_point_setup(verbose=False) if own_process else contextlib.nullcontext():
        if part == "text_encoder":
            text_encoder = load(T5EncoderModel, "text_encoder")

            class EncoderWithAdditiveMask(torch.nn.Module):
                # transformers' mask helpers do not trace; a ready 4-D additive mask is passed through as-is
                def __init__(self, inner):
                    super().__init__()
                    self.inner = inner

                def forward(self, input_ids, attention_mask):
                    additive = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * torch.finfo(
                        torch.float32).min
                    return self.inner(input_ids=input_ids, attention_mask=additive)[0]

            save(EncoderWithAdditiveMask(text_encoder), {"input_ids": torch.zeros(1, length, dtype=torch.int64),
                                                         "attention_mask": torch.ones(1, length, dtype=torch.int64)},
                 text_encoder.config.to_dict())
        elif part == "transformer":
            transformer = load(PixArtTransformer2DModel, "transformer")
            if not transformer.use_additional_conditions:
                raise UserError(f"{spec.source}: the transformer has no resolution/aspect-ratio conditions "
                                "(use_additional_conditions is off); this family exports PixArt-α 1024/LCM models")

            class TransformerWithConditions(torch.nn.Module):
                def __init__(self, inner):
                    super().__init__()
                    self.inner = inner

                def forward(self, hidden_states, timestep, encoder_hidden_states, encoder_attention_mask, resolution,
                            aspect_ratio):
                    return self.inner(hidden_states, timestep=timestep, encoder_hidden_states=encoder_hidden_states,
                                      encoder_attention_mask=encoder_attention_mask,
                                      added_cond_kwargs={"resolution": resolution, "aspect_ratio": aspect_ratio},
                                      return_dict=False)

            d_model = json.loads((source / "text_encoder" / "config.json").read_text())["d_model"]
            save(TransformerWithConditions(transformer), {
                "hidden_states": torch.rand(1, transformer.config.in_channels, latent_h, latent_w),
                "timestep": torch.tensor([999]),
                "encoder_hidden_states": torch.rand(1, length, d_model),
                "encoder_attention_mask": torch.ones(1, length),
                "resolution": torch.tensor([[float(generation.height), float(generation.width)]]),
                "aspect_ratio": torch.tensor([[generation.height / generation.width]]),
            }, dict(transformer.config))
        elif part == "vae_decoder":
            if taesd_dir is None:
                vae = load(AutoencoderKL, "vae")
            else:
                vae = AutoencoderTiny.from_pretrained(taesd_dir, use_safetensors=True, torch_dtype=torch.float32)
                if upsampling_factor(vae.config) != vae_factor or vae.config.latent_channels != 4:
                    raise UserError(f"{spec.taesd}: the tiny autoencoder decodes {vae.config.latent_channels} latent "
                                    f"channels {upsampling_factor(vae.config)}x, the model's VAE 4 channels "
                                    f"{vae_factor}x: it does not share the model's latent space")

            class VaeDecoder(torch.nn.Module):
                def __init__(self, inner):
                    super().__init__()
                    self.inner = inner

                def forward(self, latents):
                    return self.inner.decode(latents, return_dict=False)[0]

            save(VaeDecoder(vae), {"latents": torch.zeros(1, 4, latent_h, latent_w)}, dict(vae.config))
        else:
            raise ValueError(f"unknown pixart part {part!r}")
