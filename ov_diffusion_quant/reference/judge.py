"""A pixel judge of prompt adherence for scene images (``ov_diffusion_quant.reference.scene_dataset``).

From pixels alone it reads the background colour (border pixels), the shapes (connected
components of pixels whose nearest palette colour is not the background's, specks dropped),
their colour (the most common palette colour inside them), count, kind (the best-fitting
circle / square / triangle template in each component's bounding box, majority vote) and
position (the nearest anchor to their centroid). Images are first resampled to 64 px, so
thresholds are in 64 px units whatever the generated size. Nearest-palette classification and
the minimum component area make it tolerant of the blur and noise of generated images.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Mapping, Sequence

import numpy as np

from ov_diffusion_quant.reference.scene_dataset import ATTRIBUTES, COLORS, PALETTE, POSITIONS, SHAPES, Scene, parse_caption

log = logging.getLogger(__name__)

JUDGE_SIZE = 64
BORDER = 2  # px of frame that give the background colour
MIN_AREA = 12  # px at 64 px: smaller components are specks (the smallest scene shape is ~40 px)
MIN_RELATIVE_AREA = 0.25  # components under this fraction of the largest one are specks too
MIN_BACKGROUND_DISTANCE = 40.0  # a foreground pixel also differs this much (RGB) from the measured background
MAX_COLOR_DISTANCE = 110.0  # a shape whose median colour is farther than this from every palette colour has none

_PALETTE = np.array([PALETTE[c] for c in COLORS], dtype=np.float32)


def to_array(image: Any) -> np.ndarray:
    """An RGB image (PIL image or H x W x 3 array, uint8 or float in [0, 1]) as float32 RGB at 64 px."""
    from PIL import Image

    if isinstance(image, Image.Image):
        pil = image.convert("RGB")
    else:
        array = np.asarray(image)
        if array.ndim != 3 or array.shape[-1] != 3:
            raise ValueError(f"expected an H x W x 3 RGB image, got shape {array.shape}")
        if array.dtype != np.uint8:
            array = np.clip(np.round(array.astype(np.float64) * (255.0 if array.max() <= 1.0 else 1.0)), 0, 255)
            array = array.astype(np.uint8)
        pil = Image.fromarray(array)
    if pil.size != (JUDGE_SIZE, JUDGE_SIZE):
        pil = pil.resize((JUDGE_SIZE, JUDGE_SIZE), Image.Resampling.BOX)
    return np.asarray(pil, dtype=np.float32)


def nearest_palette(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index into COLORS, RGB distance) of the nearest palette colour of each pixel."""
    squared = (pixels ** 2).sum(-1)[..., None] - 2 * pixels @ _PALETTE.T + (_PALETTE ** 2).sum(-1)
    index = squared.argmin(-1)
    return index, np.sqrt(np.maximum(np.take_along_axis(squared, index[..., None], -1)[..., 0], 0))


def _templates(height: int, width: int) -> dict[str, np.ndarray]:
    y = (np.arange(height)[:, None] + 0.5) / height
    x = (np.arange(width)[None, :] + 0.5) / width
    return {
        "circle": (x - 0.5) ** 2 + (y - 0.5) ** 2 <= 0.25,
        "square": np.ones((height, width), bool),
        "triangle": np.abs(x - 0.5) <= y / 2,
    }


def classify_shape(mask: np.ndarray) -> str:
    """The template (fitted to the mask's bounding box) with the highest IoU with ``mask``."""
    ys, xs = np.nonzero(mask)
    crop = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    scores = {name: (crop & t).sum() / (crop | t).sum() for name, t in _templates(*crop.shape).items()}
    return max(SHAPES, key=lambda name: scores[name])


def nearest_position(x: float, y: float) -> str:
    return min(POSITIONS, key=lambda name: (POSITIONS[name][0] - x) ** 2 + (POSITIONS[name][1] - y) ** 2)


def read_scene(image: Any) -> dict[str, Any]:
    """The attributes the judge sees in ``image`` (None where there is nothing to read)."""
    from scipy import ndimage

    pixels = to_array(image)
    labels, distances = nearest_palette(pixels)
    frame = np.ones(labels.shape, bool)
    frame[BORDER:-BORDER, BORDER:-BORDER] = False
    background = int(np.bincount(labels[frame], minlength=len(COLORS)).argmax())
    background_rgb = np.median(pixels[frame], axis=0)
    foreground = (labels != background) & (np.linalg.norm(pixels - background_rgb, axis=-1) > MIN_BACKGROUND_DISTANCE)
    components, n = ndimage.label(foreground)
    areas = np.bincount(components.ravel(), minlength=n + 1)[1:]
    keep = [i + 1 for i, area in enumerate(areas)
            if area >= MIN_AREA and area >= MIN_RELATIVE_AREA * areas.max()]
    found: dict[str, Any] = {"background": COLORS[background], "count": len(keep), "color": None, "shape": None,
                             "position": None}
    if not keep:
        return found
    shapes_mask = np.isin(components, keep)
    core = ndimage.binary_erosion(shapes_mask)  # edge pixels blend with the background
    core = core if core.any() else shapes_mask
    color_index = int(np.bincount(labels[core], minlength=len(COLORS)).argmax())
    median = np.median(pixels[core & (labels == color_index)], axis=0)
    if np.linalg.norm(median - _PALETTE[color_index]) <= MAX_COLOR_DISTANCE:
        found["color"] = COLORS[color_index]
    kinds = [classify_shape(components == i) for i in sorted(keep, key=lambda i: -areas[i - 1])]
    votes = Counter(kinds).most_common()
    found["shape"] = votes[0][0] if len(votes) == 1 or votes[0][1] > votes[1][1] else kinds[0]
    ys, xs = np.nonzero(shapes_mask)
    found["position"] = nearest_position((xs.mean() + 0.5) / JUDGE_SIZE, (ys.mean() + 0.5) / JUDGE_SIZE)
    return found


def expected_attributes(expected: Scene | Mapping[str, Any] | str) -> dict[str, Any]:
    if isinstance(expected, str):
        return parse_caption(expected)
    if isinstance(expected, Scene):
        return expected.attributes
    return {name: expected[name] for name in ATTRIBUTES}


def judge_image(image: Any, expected: Scene | Mapping[str, Any] | str) -> dict[str, Any]:
    """Per-attribute correctness of ``image`` against a caption / scene / attribute mapping.

    Returns ``{"expected", "found", "correct": {attribute: bool}, "all_correct": bool}``.
    """
    want = expected_attributes(expected)
    found = read_scene(image)
    correct = {name: found[name] == want[name] for name in ATTRIBUTES}
    return {"expected": want, "found": found, "correct": correct, "all_correct": all(correct.values())}


def adherence(images: Sequence[Any] | np.ndarray, captions: Sequence[Scene | Mapping[str, Any] | str]) -> dict[str, Any]:
    """Prompt adherence of ``images`` to ``captions``: accuracy per attribute and overall (all five right), 0..1."""
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images for {len(captions)} captions")
    if not len(captions):
        raise ValueError("no images to judge")
    verdicts = [judge_image(image, expected) for image, expected in zip(images, captions)]
    n = len(verdicts)
    result = {
        "n": n,
        "overall": sum(v["all_correct"] for v in verdicts) / n,
        "per_attribute": {name: sum(v["correct"][name] for v in verdicts) / n for name in ATTRIBUTES},
    }
    log.info("adherence %.3f over %d images (%s)", result["overall"], n,
             ", ".join(f"{k} {v:.2f}" for k, v in result["per_attribute"].items()))
    return result
