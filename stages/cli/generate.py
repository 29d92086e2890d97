"""Generate one image with an exported (or optimized) variant.

    ovdq generate <variant> [<device>] <prompt> [options]        (or: python -m stages.cli.generate ...)
    ovdq generate tiny-sdxl-turbo "cute cat" --out cat.png
    ovdq generate tiny-sdxl-turbo "a cute cat with bow tie" --image cat.png --strength 0.5 --steps 2
    ovdq generate tiny-pixart-lcm AUTO "a small cactus" --optimized

The device defaults to CPU.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from stages.common.errors import UserError, main_with_clear_errors
from stages.families.sdxl import check_img2img
from stages.runtime.inference import generation_with, load_variant
from stages.common.outputs import atomic_file
from stages.config.params import load


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    parser.add_argument("--image", type=Path, help="input image: image-to-image (sdxl only)")
    parser.add_argument("--strength", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=Path("generated.png"))
    return parser


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    args = arguments().parse_args(argv)
    device = args.device or args.device_option or "CPU"

    params = load()
    variant = params.variant(args.variant)
    # Validate everything before loading (and compiling) any model.
    generation = generation_with(variant.generation, variant.model.family, args.steps, args.height, args.width)
    if args.image is not None:
        if variant.model.family != "sdxl":
            raise UserError(f"--image (image-to-image) is not supported by the {variant.model.family} family (only sdxl)")
        if not args.image.is_file():
            raise UserError(f"input image {args.image} does not exist")
        check_img2img(args.steps or variant.generation.img2img_steps, args.strength)
    pipe = load_variant(args.variant, device, optimized=args.optimized, f32=args.f32, params=params)
    seed = variant.generation.seed if args.seed is None else args.seed
    started = time.perf_counter()
    if args.image is not None:
        from PIL import Image

        source = Image.open(args.image).convert("RGB").resize((generation.width, generation.height))
        image = pipe.image_to_image(args.prompt, source, generation, seed, steps=args.steps, strength=args.strength)
    else:
        image = pipe.text_to_image(args.prompt, generation, seed)
    seconds = time.perf_counter() - started
    with atomic_file(args.out) as tmp:
        image.save(tmp, format="PNG")
    print(f"{args.out}  {image.width}x{image.height}  {seconds:.3f} s")


if __name__ == "__main__":
    raise SystemExit(main())
