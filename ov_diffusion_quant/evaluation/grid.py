"""Side-by-side picture: prompt | FP image | optimized image | absolute-difference heatmap."""

from __future__ import annotations

import textwrap

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

CELL = 192
TEXT_WIDTH = 240
HEADER = 28
DIFF_GAIN = 4.0  # differences are small; amplify so that the heatmap shows where they are


def diff_heatmap(reference: Image.Image, candidate: Image.Image) -> Image.Image:
    a = np.asarray(reference.convert("RGB"), dtype=np.float32)
    b = np.asarray(candidate.convert("RGB"), dtype=np.float32)
    magnitude = np.clip(np.abs(a - b).mean(axis=2) * DIFF_GAIN, 0, 255).astype(np.uint8)
    return ImageOps.colorize(Image.fromarray(magnitude, "L"), black="black", mid="red", white="yellow")


def make_grid(rows: list[tuple[str, Image.Image, Image.Image]], title: str) -> Image.Image:
    """``rows``: (label, FP image, optimized image)."""
    width = TEXT_WIDTH + 3 * CELL
    grid = Image.new("RGB", (width, HEADER * 2 + CELL * len(rows)), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default(size=14)
    draw.text((8, 6), title, fill="black", font=font)
    for column, label in enumerate(("FP", "optimized", f"|FP - optimized| x{DIFF_GAIN:g}")):
        draw.text((TEXT_WIDTH + column * CELL + 8, HEADER + 6), label, fill="black", font=font)
    for index, (label, reference, candidate) in enumerate(rows):
        top = HEADER * 2 + index * CELL
        draw.multiline_text((8, top + 8), "\n".join(textwrap.wrap(label, 28)[:10]), fill="black", font=font)
        for column, image in enumerate((reference, candidate, diff_heatmap(reference, candidate))):
            grid.paste(image.convert("RGB").resize((CELL, CELL), Image.NEAREST), (TEXT_WIDTH + column * CELL, top))
    return grid
