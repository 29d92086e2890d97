"""Generate one image with an exported (or optimized) variant.

    ovdq generate <variant> [<device>] <prompt> [options]        (or: python -m ov_diffusion_quant.cli.generate ...)
    ovdq generate tiny-sdxl-turbo "cute cat" --out cat.png
    ovdq generate tiny-sdxl-turbo "a cute cat with bow tie" --image cat.png --strength 0.5 --steps 2
    ovdq generate tiny-pixart-lcm AUTO "a small cactus" --optimized

The device defaults to CPU.
"""

from __future__ import annotations

import argparse

import logging
import time
from pathlib import Path

from ov_diffusion_quant.common.errors import UserError, argument_parser, main_with_clear_errors
from ov_diffusion_quant.families import family_for
from ov_diffusion_quant.orchestration.inference import generation_with, load_variant
from ov_diffusion_quant.common.outputs import atomic_file, check_writable_file
from ov_diffusion_quant.config.params import load

log = logging.getLogger(__name__)


def arguments() -> argparse.ArgumentParser:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("device", nargs="?", help="OpenVINO device (default: CPU)")
    parser.add_argument("prompt")
    parser.add_argument("--device", dest="device_option", help=argparse.SUPPRESS)  # the earlier spelling
    parser.add_argument("--optimized", action="store_true", help="use models/<variant>/optimized-<device>")
    parser.add_argument("--f32", action="store_true", help="force f32 execution (default: the device's choice)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument("--width", type=int)
    parser.add_argument("--image", type=Path, help="input image: image-to-image (families that support it)")
    parser.add_argument("--strength", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=Path("generated.png"))
    return parser


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    args = arguments().parse_args(argv)
    device = args.device or args.device_option or "CPU"

    params = load()
    variant = params.variant(args.variant)
    # 1. Check inputs: everything before loading (and compiling) any model.
    family = family_for(variant)
    generation = generation_with(variant.generation, family, args.steps, args.height, args.width)
    check_png_path(args.out)
    source = None
    if args.image is not None:
        if not family.supports_img2img:
            raise UserError(f"--image (image-to-image) is not supported by the {family.name} family")
        family.check_img2img(args.steps or variant.generation.img2img_steps, args.strength)
        source = read_image(args.image).resize((generation.width, generation.height))

    # 2. Load and generate
    pipe = load_variant(args.variant, device, optimized=args.optimized, f32=args.f32, params=params)
    seed = variant.generation.seed if args.seed is None else args.seed
    started = time.perf_counter()
    if source is not None:
        image = pipe.image_to_image(args.prompt, source, generation, seed, steps=args.steps, strength=args.strength)
    else:
        image = pipe.text_to_image(args.prompt, generation, seed)
    seconds = time.perf_counter() - started
    with atomic_file(args.out) as tmp:
        image.save(tmp, format="PNG")
    log.info("%s  %dx%d  %.3f s", args.out, image.width, image.height, seconds)


def check_png_path(path: Path) -> None:
    if path.is_dir():
        raise UserError(f"--out {path} is a directory: name a file in it, e.g. {path / 'generated.png'}")
    check_writable_file(path, "--out")
    if path.suffix.lower() != ".png":
        raise UserError(f"--out {path}: the image is written as PNG, so name it *.png")


def read_image(path: Path):
    """The input image, decoded now: a file PIL cannot read fails here, not after the model loaded."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise UserError(f"input image {path} does not exist")
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise UserError(f"input image {path} is not an image PIL can read ({type(error).__name__}): "
                        "pass a PNG or JPEG file") from error


if __name__ == "__main__":
    raise SystemExit(main())
