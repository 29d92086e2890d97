"""Interactive comparison demo: FP and optimized images side by side, from the pipeline's own models.

    pip install -e ".[demo]"
    ovdq demo [--host 127.0.0.1] [--port 7860]     (or: python -m ov_diffusion_quant.cli.demo ...)   # http://127.0.0.1:7860

Reads models/<variant>/fp and models/<variant>/optimized-<device> of the enabled variants and of every judged
variant that has been built (the trained reference model, `make search` or `dvc repro` with it enabled): the demo
opens on that one, with its scene captions as examples and the scene judge's verdict on both images. Models load
once per variant x device x precision and stay cached. Gradio is an optional extra: nothing in the pipeline
imports this module.
"""

from __future__ import annotations

import argparse
import threading
import time

from PIL import Image

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import UserError, argument_parser, main_with_clear_errors
from ov_diffusion_quant.evaluation.prompts import validation_prompts
from ov_diffusion_quant.config.params import Params, load
from ov_diffusion_quant.evaluation.similarity import psnr_ssim
from ov_diffusion_quant.families import family_for
from ov_diffusion_quant.orchestration.inference import generation_with, load_variant

SIZE_BOUNDS = (64, 1024)
# The reference models draw 64-px scenes: the demo shows an image enlarged by a whole factor (nearest neighbour, so
# no pixel is invented) until it is about this wide; similarity, latency and the judge use the image as generated.
DISPLAY_SIDE = 384
SCENE_EXAMPLES = 8  # held-out captions offered for a judged variant
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
        family = family_for(spec)
        high = max_steps(spec, family)
        if not 1 <= steps <= high:
            raise UserError(f"steps {steps} is not allowed for {variant}: use 1 to {high}")
        return spec, family

    def _compare(self, run, spec, prompt: str):
        """Run ``run(pipeline)`` on the FP and optimized pipelines; return both images, captions and status
        (with the scene judge's verdict on both images for a judged variant)."""
        try:
            fp_image, fp_seconds = run(False)
            opt_image, opt_seconds = run(True)
        except UserError as error:
            return None, None, "", "", f"error: {error}"
        psnr, ssim = psnr_ssim(fp_image, opt_image)
        fp_label, opt_label = f"FP: {fp_seconds:.3f} s", f"optimized: {opt_seconds:.3f} s"
        if spec.evaluate.judge is not None:
            fp_label += "; judge: " + verdict(fp_image, prompt)
            opt_label += "; judge: " + verdict(opt_image, prompt)
        scale = display_scale(fp_image.size)
        shown = f"; shown {scale}x ({fp_image.width}x{fp_image.height} px generated)" if scale > 1 else ""
        return (enlarged(fp_image, scale), enlarged(opt_image, scale), fp_label, opt_label,
                f"PSNR {psnr:.2f} dB, SSIM {ssim:.4f} (optimized vs FP, same seed); speedup "
                f"{fp_seconds / opt_seconds:.2f}x{shown}")

    def text_to_image(self, variant, device, prompt, seed, steps, height, width):
        try:
            spec, family = self._check(variant, int(steps))
            generation = generation_with(spec.generation, family, int(steps), int(height), int(width))
        except UserError as error:
            return None, None, "", "", f"error: {error}"

        def run(optimized):
            pipeline = self.models.get(variant, device, optimized)
            return _timed(pipeline.text_to_image, prompt, generation, int(seed))

        return self._compare(run, spec, prompt)

    def image_to_image(self, variant, device, prompt, image, seed, steps, strength):
        try:
            spec, family = self._check(variant, int(steps))
            if not family.supports_img2img:
                raise UserError(f"image-to-image is not supported by the {family.name} family")
            family.check_img2img(int(steps), float(strength))
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

        return self._compare(run, spec, prompt)


def display_scale(size: tuple[int, int]) -> int:
    return max(1, DISPLAY_SIDE // max(size))


def enlarged(image, scale: int):
    return image if scale == 1 else image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)


def max_steps(spec, family) -> int:
    """The steps slider's end: the family's demo range, or the variant's own steps if it runs more (the reference
    model runs 8)."""
    return max(family.demo_max_steps, spec.generation.steps)


def verdict(image, caption: str) -> str:
    """The scene judge on one image: how many of the caption's five attributes it reads back, and which fail."""
    from ov_diffusion_quant.reference.judge import judge_image

    try:
        correct = judge_image(image, caption)["correct"]
    except ValueError as error:  # not a scene caption
        return f"n/a ({error})"
    wrong = [name for name, right in correct.items() if not right]
    return f"{sum(correct.values())}/{len(correct)} attributes" + (f" (wrong: {', '.join(wrong)})" if wrong else "")


def built(name: str, device: str) -> bool:
    return paths.fp_model(name).is_dir() and paths.optimized_model(name, device).is_dir()


def shown_variants(params: Params) -> list[str]:
    """Judged variants that have been built (first: the demo opens on them), then the enabled ones."""
    device = params.devices[0]
    judged = [name for name, spec in params.variants.items()
              if spec.evaluate.judge is not None and built(name, device)]
    return list(dict.fromkeys(judged + list(params.enabled)))


def scene_examples(params: Params, variants: list[str]) -> list[list]:
    """The first held-out captions of the first judged variant shown, with their evaluation seeds."""
    for name in variants:
        spec = params.variant(name)
        if spec.evaluate.judge is not None:
            rows = validation_prompts(spec.evaluate.prompts or params.evaluate.prompts, SCENE_EXAMPLES)
            return [[row["caption"], params.evaluate.seeds[0] + index] for index, row in enumerate(rows)]
    return []


def build_app(params: Params):
    import gradio as gr

    from ov_diffusion_quant.runtime.devices import VIRTUAL_DEVICES, available_devices

    demo = Demo(params)
    variants = shown_variants(params)
    if not variants:
        raise UserError("nothing to show: params.yaml enables no variant and no judged variant has been built")
    devices = list(dict.fromkeys(params.devices + list(available_devices()) + list(VIRTUAL_DEVICES)))
    first = params.variant(variants[0])
    first_family = family_for(first)
    img2img_variants = [v for v in variants if family_for(params.variant(v)).supports_img2img]
    scenes = scene_examples(params, variants)

    def family_controls(variant):
        spec = params.variant(variant)
        family = family_for(spec)
        return (gr.update(minimum=1, maximum=max_steps(spec, family), value=spec.generation.steps),
                gr.update(value=spec.generation.height, step=family.size_multiple),
                gr.update(value=spec.generation.width, step=family.size_multiple))

    with gr.Blocks(title="FP vs optimized: OpenVINO + NNCF") as app:
        gr.Markdown("# FP vs optimized diffusion pipelines\nSame prompt, same seed: the exported FP model on the "
                    "left, the NNCF-optimized one on the right.")
        with gr.Row():
            variant = gr.Dropdown(variants, value=variants[0], label="Variant")
            device = gr.Dropdown(devices, value=params.devices[0], label="Device")
        with gr.Tab("Text to image"):
            prompt = gr.Textbox(label="Prompt", value=scenes[0][0] if scenes and first.evaluate.judge else "cute cat")
            with gr.Row():
                seed = gr.Number(value=42, precision=0, minimum=0, label="Seed")
                steps = gr.Slider(1, max_steps(first, first_family), value=first.generation.steps, step=1,
                                  label="Steps")
                height = gr.Slider(*SIZE_BOUNDS, value=first.generation.height, step=first_family.size_multiple,
                                   label="Height")
                width = gr.Slider(*SIZE_BOUNDS, value=first.generation.width, step=first_family.size_multiple,
                                  label="Width")
            run = gr.Button("Generate", variant="primary")
            with gr.Row():
                fp_image = gr.Image(label="FP", type="pil", format="png")
                opt_image = gr.Image(label="optimized", type="pil", format="png")
            with gr.Row():
                fp_time, opt_time = gr.Textbox(label="FP latency"), gr.Textbox(label="optimized latency")
            status = gr.Textbox(label="Similarity / messages")
            run.click(demo.text_to_image, [variant, device, prompt, seed, steps, height, width],
                      [fp_image, opt_image, fp_time, opt_time, status], api_name="text_to_image")
            if scenes:
                gr.Examples(scenes, [prompt, seed], label="Scene captions (held out: the reference model never saw "
                                                          "them; the judge reads the five attributes back)")
            gr.Examples(EXAMPLES, [prompt, seed], label="Notebook prompts")
            variant.change(family_controls, [variant], [steps, height, width])
        with gr.Tab("Image to image"):
            gr.Markdown("Denoising runs int(steps x strength) steps: steps x strength must be at least 1.")
            i2i_variant = gr.Dropdown(img2img_variants or variants, value=(img2img_variants or variants)[0],
                                      label="Variant (families with image-to-image)")
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
