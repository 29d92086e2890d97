"""Procedural scenes: one to three shapes of one kind and colour, in one place, on a plain background.

A scene's caption describes it completely ("two yellow squares in the top left on a blue
background") and ``parse_caption`` inverts it, so a judge can read the expected attributes of
any caption. Everything is deterministic from a seed: the data set, the held-out split and the
small jitter of each scene's geometry (kept well inside what the judge tells apart).

The held-out split is by (shape, colour, background) combination: held-out captions use
combinations that no training caption has, while every pair inside them (shape-colour,
colour-background, shape-background) still occurs in training, so adherence on them measures
compositional generalisation rather than memory.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ov_diffusion_quant.common.outputs import atomic_dir

log = logging.getLogger(__name__)

# Clearly separable colours: the closest pair (orange, yellow) is ~95 apart in RGB.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (225, 25, 30),
    "green": (30, 165, 55),
    "blue": (35, 65, 215),
    "yellow": (250, 225, 30),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
    "orange": (245, 130, 20),
    "purple": (140, 45, 180),
}
COLORS = tuple(PALETTE)
SHAPES = ("circle", "square", "triangle")
COUNTS = (1, 2, 3)
# Anchor of each position, as (x, y) fractions of the image side; the judge picks the nearest one.
POSITIONS: dict[str, tuple[float, float]] = {
    "top left": (0.28, 0.28),
    "top right": (0.72, 0.28),
    "bottom left": (0.28, 0.72),
    "bottom right": (0.72, 0.72),
    "center": (0.5, 0.5),
}
COUNT_WORDS = {1: "a", 2: "two", 3: "three"}
ATTRIBUTES = ("shape", "color", "count", "position", "background")

# Layout of a group around its anchor, per count: (dx, dy) offsets and the shape size (fractions
# of the side). Gaps between shapes stay >= 4 px at 64 px, so they remain separate components.
LAYOUTS: dict[int, tuple[tuple[tuple[float, float], ...], float]] = {
    1: (((0.0, 0.0),), 0.28),
    2: (((-0.14, 0.0), (0.14, 0.0)), 0.18),
    3: (((0.0, -0.12), (-0.13, 0.095), (0.13, 0.095)), 0.155),
}
GROUP_JITTER = 0.03  # the whole group moves by up to this much in x and y
SHAPE_JITTER = 0.01  # each shape moves by up to this much
SIZE_JITTER = 0.1  # each shape's size varies by up to +-10 %

HELDOUT_FRACTION = 0.1
SCENE_WORDS = ("a", "an", "two", "three", *COLORS, *(s for shape in SHAPES for s in (shape, shape + "s")),
               "in", "the", "top", "bottom", "left", "right", "center", "on", "background")

_CAPTION = re.compile(
    r"^(?P<count>a|an|two|three) (?P<color>\w+) (?P<shape>\w+?)(?P<plural>s?) in the (?P<position>[a-z ]+?)"
    r" on (?P<bg_article>a|an) (?P<background>\w+) background$"
)


@dataclass(frozen=True)
class Scene:
    """What a caption says, plus ``seed`` for the geometry jitter (``None``: the canonical layout)."""

    shape: str
    color: str
    count: int
    position: str
    background: str
    seed: int | None = None

    def __post_init__(self):
        problems = [f"{name} {value!r}" for name, value, allowed in (
            ("shape", self.shape, SHAPES), ("color", self.color, COLORS), ("count", self.count, COUNTS),
            ("position", self.position, tuple(POSITIONS)), ("background", self.background, COLORS),
        ) if value not in allowed]
        if problems:
            raise ValueError(f"not a scene: {', '.join(problems)}")
        if self.color == self.background:
            raise ValueError(f"the shape colour and the background are both {self.color}")

    @property
    def attributes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ATTRIBUTES}

    @property
    def combination(self) -> tuple[str, str, str]:
        """The (shape, colour, background) triple the held-out split is made of."""
        return self.shape, self.color, self.background


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def caption(scene: Scene | Mapping[str, Any]) -> str:
    """The caption that describes ``scene`` completely, e.g. "an orange circle in the center on a blue background"."""
    s = scene if isinstance(scene, Scene) else Scene(**{k: scene[k] for k in ATTRIBUTES})
    count = _article(s.color) if s.count == 1 else COUNT_WORDS[s.count]
    plural = "s" if s.count > 1 else ""
    return f"{count} {s.color} {s.shape}{plural} in the {s.position} on {_article(s.background)} {s.background} background"


def parse_caption(text: str) -> dict[str, Any]:
    """The scene attributes of a caption made by ``caption`` (raises ValueError on anything else)."""
    match = _CAPTION.match(text.strip())
    if not match:
        raise ValueError(f"not a scene caption: {text!r}")
    words = {"a": 1, "an": 1, "two": 2, "three": 3}
    attributes = {"shape": match["shape"], "color": match["color"], "count": words[match["count"]],
                  "position": match["position"], "background": match["background"]}
    scene = Scene(**attributes)  # validates the values
    if caption(scene) != text.strip():  # articles and plurals must agree too, so the inverse is exact
        raise ValueError(f"not a scene caption: {text!r} (expected {caption(scene)!r})")
    return attributes


def layout(scene: Scene) -> list[tuple[float, float, float]]:
    """(centre x, centre y, size) of each shape as fractions of the image side, jitter included."""
    offsets, size = LAYOUTS[scene.count]
    ax, ay = POSITIONS[scene.position]
    rng = np.random.default_rng(scene.seed) if scene.seed is not None else None

    def jitter(amount: float) -> float:
        return float(rng.uniform(-amount, amount)) if rng is not None else 0.0

    gx, gy = jitter(GROUP_JITTER), jitter(GROUP_JITTER)
    shapes = []
    for dx, dy in offsets:
        sx, sy, scale = jitter(SHAPE_JITTER), jitter(SHAPE_JITTER), 1.0 + jitter(SIZE_JITTER)
        shapes.append((ax + gx + dx + sx, ay + gy + dy + sy, size * scale))
    return shapes


def shape_mask(shape: str, height: int, width: int, cx: float, cy: float, size: float) -> np.ndarray:
    """Boolean mask of one shape (circle, axis-aligned square, upward triangle) sampled at pixel centres.

    ``cx``, ``cy`` and ``size`` are fractions of the width (x) and height (y); the shape's
    bounding box is ``size`` wide and high.
    """
    y = (np.arange(height)[:, None] + 0.5) / height
    x = (np.arange(width)[None, :] + 0.5) / width
    half = size / 2
    if shape == "circle":
        return (x - cx) ** 2 + (y - cy) ** 2 <= half ** 2
    if shape == "square":
        return (np.abs(x - cx) <= half) & (np.abs(y - cy) <= half)
    if shape == "triangle":
        top = cy - half
        return (y >= top) & (y <= cy + half) & (np.abs(x - cx) <= (y - top) / size * half)
    raise ValueError(f"unknown shape {shape!r}")


def render(scene: Scene, size: int = 64) -> np.ndarray:
    """The scene as a uint8 ``size`` x ``size`` x 3 RGB array (no anti-aliasing)."""
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[:] = PALETTE[scene.background]
    for cx, cy, extent in layout(scene):
        image[shape_mask(scene.shape, size, size, cx, cy, extent)] = PALETTE[scene.color]
    return image


def all_combinations() -> list[tuple[str, str, str]]:
    return [(shape, color, bg) for shape, color, bg in itertools.product(SHAPES, COLORS, COLORS) if color != bg]


def heldout_combinations(seed: int, fraction: float = HELDOUT_FRACTION) -> list[tuple[str, str, str]]:
    """A seeded ``fraction`` of the (shape, colour, background) triples, none of whose pairs leaves training.

    A triple is only held out if every pair in it (shape-colour, shape-background,
    colour-background) keeps at least one training triple, so a model can compose it.
    """
    combos = all_combinations()
    order = np.random.default_rng([seed, 1]).permutation(len(combos))
    wanted = round(fraction * len(combos))
    remaining: dict[tuple, int] = {}
    for shape, color, bg in combos:
        for pair in _pairs(shape, color, bg):
            remaining[pair] = remaining.get(pair, 0) + 1
    held: list[tuple[str, str, str]] = []
    for index in order:
        if len(held) == wanted:
            break
        triple = combos[index]
        if all(remaining[pair] > 1 for pair in _pairs(*triple)):
            held.append(triple)
            for pair in _pairs(*triple):
                remaining[pair] -= 1
    return sorted(held)


def _pairs(shape: str, color: str, bg: str) -> tuple[tuple, ...]:
    return ("shape-color", shape, color), ("shape-background", shape, bg), ("color-background", color, bg)


def sample_scenes(rng: np.random.Generator, combos: list[tuple[str, str, str]], n: int) -> list[Scene]:
    """``n`` scenes drawn uniformly over ``combos`` x counts x positions, each with its own jitter seed."""
    positions = tuple(POSITIONS)
    scenes = []
    for _ in range(n):
        shape, color, bg = combos[int(rng.integers(len(combos)))]
        count = COUNTS[int(rng.integers(len(COUNTS)))]
        position = positions[int(rng.integers(len(positions)))]
        scenes.append(Scene(shape, color, count, position, bg, seed=int(rng.integers(2 ** 31))))
    return scenes


def split_scenes(seed: int, train_size: int, heldout_size: int) -> tuple[list[Scene], list[Scene]]:
    """Training scenes from the training combinations, held-out scenes from the held-out ones."""
    held = heldout_combinations(seed)
    held_set = set(held)
    train_combos = [c for c in all_combinations() if c not in held_set]
    return (sample_scenes(np.random.default_rng([seed, 2]), train_combos, train_size),
            sample_scenes(np.random.default_rng([seed, 3]), held, heldout_size))


def validation_scenes(seed: int, size: int, heldout: list[Scene]) -> list[Scene]:
    """Scenes for tuning (the recipe search): the held-out combinations, so that they are as hard as what the gate
    reports on, but none with a caption of ``heldout``, so that nothing is tuned on the gate's own captions."""
    reported = {caption(scene) for scene in heldout}
    combos = heldout_combinations(seed)
    if len(reported) >= len(combos) * len(COUNTS) * len(POSITIONS):
        raise ValueError("every held-out caption is in the held-out split: none is left for validation")
    rng = np.random.default_rng([seed, 4])
    scenes: list[Scene] = []
    while len(scenes) < size:
        scenes += [s for s in sample_scenes(rng, combos, size) if caption(s) not in reported]
    return scenes[:size]


def scene_row(scene: Scene) -> dict[str, Any]:
    return {"caption": caption(scene), **scene.attributes, "seed": scene.seed}


def write_dataset(out_dir: Path | str, seed: int = 0, train_size: int = 6000, heldout_size: int = 200,
                  image_size: int = 64, validation_size: int = 200) -> dict[str, Any]:
    """Write the data set to ``out_dir`` (replaced atomically), byte for byte the same for the same
    arguments; returns the summary.

    Files: ``<split>_images.npy`` (uint8 N x H x W x 3) and ``<split>.jsonl`` (one row per image: caption,
    attributes, jitter seed) for the splits train, heldout (what the gate reports on) and validation (what the
    recipe search tunes on: held-out combinations, none of heldout's captions), and ``dataset.json`` (arguments,
    vocabulary, held-out combinations, file digests).
    """
    train, heldout = split_scenes(seed, train_size, heldout_size)
    validation = validation_scenes(seed, validation_size, heldout)
    digests = {}
    with atomic_dir(out_dir) as tmp:
        for split, scenes in (("train", train), ("heldout", heldout), ("validation", validation)):
            images = np.stack([render(s, image_size) for s in scenes]) if scenes else \
                np.zeros((0, image_size, image_size, 3), np.uint8)
            with open(tmp / f"{split}_images.npy", "wb") as f:
                np.save(f, images, allow_pickle=False)
            (tmp / f"{split}.jsonl").write_text("".join(json.dumps(scene_row(s)) + "\n" for s in scenes))
            for name in (f"{split}_images.npy", f"{split}.jsonl"):
                digests[name] = hashlib.sha256((tmp / name).read_bytes()).hexdigest()
        summary = {
            "seed": seed, "image_size": image_size, "train_size": train_size, "heldout_size": heldout_size,
            "validation_size": validation_size,
            "palette": {name: list(rgb) for name, rgb in PALETTE.items()}, "shapes": list(SHAPES),
            "counts": list(COUNTS), "positions": {name: list(xy) for name, xy in POSITIONS.items()},
            "heldout_combinations": [list(c) for c in heldout_combinations(seed)],
            "train_captions_unique": len({caption(s) for s in train}),
            "heldout_captions_unique": len({caption(s) for s in heldout}),
            "validation_captions_unique": len({caption(s) for s in validation}),
            "files": digests,
        }
        (tmp / "dataset.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("scenes: %d training, %d held-out and %d validation images of %d px in %s", train_size, heldout_size,
             validation_size, image_size, out_dir)
    return summary


def read_rows(path: Path | str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def load_split(dataset_dir: Path | str, split: str) -> tuple[np.ndarray | None, list[dict[str, Any]]]:
    """(images or None if the split has none on disk, rows) of ``split`` ("train", "heldout" or "validation")."""
    dataset_dir = Path(dataset_dir)
    rows = read_rows(dataset_dir / f"{split}.jsonl")
    images_path = dataset_dir / f"{split}_images.npy"
    images = np.load(images_path, allow_pickle=False) if images_path.exists() else None
    if images is not None and len(images) != len(rows):
        raise ValueError(f"{images_path}: {len(images)} images for {len(rows)} rows")
    return images, rows
