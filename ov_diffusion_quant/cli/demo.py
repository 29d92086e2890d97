"""Interactive comparison demo: FP and optimized images side by side, from the pipeline's own models.

    pip install -e ".[demo]"
    ovdq demo [--host 127.0.0.1] [--port 7860]     (or: python -m ov_diffusion_quant.cli.demo ...)   # http://127.0.0.1:7860

Reads models/<variant>/fp and models/<variant>/optimized-<device> of the enabled variants.
Models load once per variant x device x precision and stay cached. Gradio is an optional
extra: nothing in the pipeline imports this module.
"""

from __future__ import annotations

import argparse

import threading
import time

from ov_diffusion_quant.common.errors import UserError, argument_parser, main_with_clear_errors
from ov_diffusion_quant.families.sdxl import check_img2img
from ov_diffusion_quant.runtime.inference import generation_with, load_variant
from ov_diffusion_quant.config.params import Params, load
from ov_diffusion_quant.evaluation.similarity import psnr_ssim

# Per family: steps slider range and default (the notebooks: SDXL-Turbo 1-4, PixArt-LCM 4).
STEP_BOUNDS = {"sdxl": (1, 4), "pixart": (1, 8)}
SIZE_BOUNDS = (64, 1024)
EXAMPLES = [
    ["cute cat", 999],
    ["underwater world coral reef, colorful jellyfish, 35mm, cinematic lighting, shallow depth of field,  ultra "
     "quality, masterpiece, realistic", 89],
    ["a photo realistic happy white poodle dog playing in the grass, extremely detailed, high res, 8k, masterpiece, "
     "dynamic angle", 1569],
    ["Astronaut on Mars watching sunset, best quality, cinematic effects,", 65245],
    ["Black and white street photography of a rainy night in New York, reflections on wet pavement", 48199],
    ["A small cactus with a happy face in the Sahara desert.", 42],
]


class ModelCache:
    """Loaded pipelines keyed by (variant, device, precision, optimized); each loads once."""

    def __init__(self, params: Params):
        self.params = params
        self._pipelines: dict[tuple, object] = {}
        self._lock = threading.Lock()

    def get(self, variant: str, device: str, optimized: bool, f32: bool = False):
        key = (variant, device, "f32" if f32 else "default", optimized)
        with self._lock:
            if key not in self._pipelines:
                self._pipelines[key] = load_variant(variant, device, optimized=optimized, f32=f32,
                                                    params=self.params)
            return self._pipelines[key]


def _timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


class Demo:
    def __init__(self, params: Params):
        self.params = params
        self.models = ModelCache(params)

    def _check(self, variant: str, steps: int):
        spec = self.params.variant(variant)
        low, high = STEP_BOUNDS[spec.model.family]
        if not low <= steps <= high:
            raise UserError(f"steps {steps} is not allowed for {spec.model.family}: use {low} to {high}")
        return spec

    def _compare(self, run):
        """Run ``run(pipeline)`` on the FP and optimized pipelines; return both images, captions and status."""
        try:
            fp_image, fp_seconds = run(False)
            opt_image, opt_seconds = run(True)
        except UserError as error:
            return None, None, "", "", f"error: {error}"
        psnr, ssim = psnr_ssim(fp_image, opt_image)
        return (fp_image, opt_image, f"FP: {fp_seconds:.3f} s", f"optimized: {opt_seconds:.3f} s",
                f"PSNR {psnr:.2f} dB, SSIM {ssim:.4f} (optimized vs FP, same seed); speedup {fp_seconds / opt_seconds:.2f}x")

    def text_to_image(self, variant, device, prompt, seed, steps, height, width):
        try:
            spec = self._check(variant, int(steps))
            generation = generation_with(spec.generation, spec.model.family, int(steps), int(height), int(width))
        except UserError as error:
            return None, None, "", "", f"error: {error}"

        def run(optimized):
            pipeline = self.models.get(variant, device, optimized)
            return _timed(pipeline.text_to_image, prompt, generation, int(seed))

        return self._compare(run)

    def image_to_image(self, variant, device, prompt, image, seed, steps, strength):
        try:
            spec = self._check(variant, int(steps))
            if spec.model.family != "sdxl":
                raise UserError(f"image-to-image is not supported by the {spec.model.family} family (only sdxl)")
            check_img2img(int(steps), float(strength))
            if image is None:
                raise UserError("no input image: upload one")
        except UserError as error:
            return None, None, "", "", f"error: {error}"
        source = image.convert("RGB").resize((spec.generation.width, spec.generation.height))

        def run(optimized):
            pipeline = self.models.get(variant, device, optimized)
            pipeline.image2image  # loads and compiles the img2img pipeline once, outside the timing
            return _timed(pipeline.image_to_image, prompt, source, spec.generation, int(seed), steps=int(steps),
                          strength=float(strength))

        return self._compare(run)


def build_app(params: Params):
    import gradio as gr

    from ov_diffusion_quant.runtime.devices import VIRTUAL_DEVICES, available_devices

    demo = Demo(params)
    variants = list(params.enabled)
    if not variants:
        raise UserError("params.yaml enables no variant: the demo shows the variants in 'enabled'")
    devices = list(dict.fromkeys(params.devices + list(available_devices()) + list(VIRTUAL_DEVICES)))
    first = params.variant(variants[0])
    sdxl_variants = [v for v in variants if params.variant(v).model.family == "sdxl"]

    def family_controls(variant):
        spec = params.variant(variant)
        low, high = STEP_BOUNDS[spec.model.family]
        step = 32 if spec.model.family == "sdxl" else 16
        return (gr.update(minimum=low, maximum=high, value=spec.generation.steps),
                gr.update(value=spec.generation.height, step=step), gr.update(value=spec.generation.width, step=step))

    with gr.Blocks(title="FP vs optimized: OpenVINO + NNCF") as app:
        gr.Markdown("# FP vs optimized diffusion pipelines\nSame prompt, same seed: the exported FP model on the "
                    "left, the NNCF-optimized one on the right.")
        with gr.Row():
            variant = gr.Dropdown(variants, value=variants[0], label="Variant")
            device = gr.Dropdown(devices, value=params.devices[0], label="Device")
        with gr.Tab("Text to image"):
            prompt = gr.Textbox(label="Prompt", value="cute cat")
            with gr.Row():
                seed = gr.Number(value=42, precision=0, minimum=0, label="Seed")
                low, high = STEP_BOUNDS[first.model.family]
                steps = gr.Slider(low, high, value=first.generation.steps, step=1, label="Steps")
                height = gr.Slider(*SIZE_BOUNDS, value=first.generation.height, step=32, label="Height")
                width = gr.Slider(*SIZE_BOUNDS, value=first.generation.width, step=32, label="Width")
            run = gr.Button("Generate", variant="primary")
            with gr.Row():
                fp_image = gr.Image(label="FP", type="pil", format="png")
                opt_image = gr.Image(label="optimized", type="pil", format="png")
            with gr.Row():
                fp_time, opt_time = gr.Textbox(label="FP latency"), gr.Textbox(label="optimized latency")
            status = gr.Textbox(label="Similarity / messages")
            run.click(demo.text_to_image, [variant, device, prompt, seed, steps, height, width],
                      [fp_image, opt_image, fp_time, opt_time, status], api_name="text_to_image")
            gr.Examples(EXAMPLES, [prompt, seed])
            variant.change(family_controls, [variant], [steps, height, width])
        with gr.Tab("Image to image (SDXL)"):
            gr.Markdown("Denoising runs int(steps x strength) steps: steps x strength must be at least 1.")
            i2i_variant = gr.Dropdown(sdxl_variants or variants, value=(sdxl_variants or variants)[0],
                                      label="SDXL variant")
            i2i_prompt = gr.Textbox(label="Prompt", value="a cute cat with bow tie")
            i2i_image = gr.Image(label="Input image", type="pil")
            with gr.Row():
                i2i_seed = gr.Number(value=511, precision=0, minimum=0, label="Seed")
                i2i_steps = gr.Slider(1, 4, value=2, step=1, label="Steps")
                strength = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Strength")
            i2i_run = gr.Button("Generate", variant="primary")
            with gr.Row():
                i2i_fp, i2i_opt = gr.Image(label="FP", type="pil", format="png"), gr.Image(label="optimized", type="pil", format="png")
            with gr.Row():
                i2i_fp_time, i2i_opt_time = gr.Textbox(label="FP latency"), gr.Textbox(label="optimized latency")
            i2i_status = gr.Textbox(label="Similarity / messages")
            i2i_run.click(demo.image_to_image, [i2i_variant, device, i2i_prompt, i2i_image, i2i_seed, i2i_steps,
                                                strength],
                          [i2i_fp, i2i_opt, i2i_fp_time, i2i_opt_time, i2i_status], api_name="image_to_image")
    return app


def arguments() -> argparse.ArgumentParser:
    parser = argument_parser(__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    return parser


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    args = arguments().parse_args(argv)
    try:
        import gradio  # noqa: F401
    except ImportError as error:
        raise UserError('the demo needs Gradio: pip install -e ".[demo]"') from error
    app = build_app(load())
    app.queue().launch(server_name=args.host, server_port=args.port, share=False, show_error=True)


if __name__ == "__main__":
    raise SystemExit(main())
