"""The procedural scene data set: deterministic bytes, exact captions, a held-out split that holds out."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ov_diffusion_quant.reference import scene_dataset
from ov_diffusion_quant.reference.scene_dataset import Scene, caption, parse_caption, render, write_dataset


def test_write_dataset_is_byte_deterministic_and_seed_dependent(tmp_path):
    first = write_dataset(tmp_path / "a", seed=3, train_size=300, heldout_size=40, image_size=64)
    write_dataset(tmp_path / "b", seed=3, train_size=300, heldout_size=40, image_size=64)
    write_dataset(tmp_path / "c", seed=4, train_size=300, heldout_size=40, image_size=64)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["dataset.json", "heldout.jsonl", "heldout_images.npy", "train.jsonl", "train_images.npy",
                     "validation.jsonl", "validation_images.npy"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "train_images.npy").read_bytes() != (tmp_path / "c" / "train_images.npy").read_bytes()
    assert str(tmp_path) not in (tmp_path / "a" / "dataset.json").read_text()  # no absolute paths

    images = np.load(tmp_path / "a" / "train_images.npy")
    assert images.dtype == np.uint8 and images.shape == (300, 64, 64, 3)
    rows = [json.loads(line) for line in (tmp_path / "a" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 300 and first["train_size"] == 300
    for row, image in zip(rows[:20], images[:20]):  # each image is its row's scene
        assert np.array_equal(render(Scene(**{k: row[k] for k in scene_dataset.ATTRIBUTES}, seed=row["seed"]), 64), image)
        assert caption(row) == row["caption"]


def test_a_thousand_pairs_take_seconds(tmp_path):
    import time

    start = time.perf_counter()
    write_dataset(tmp_path, seed=0, train_size=2000, heldout_size=100, image_size=64)
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("scene, text", [
    (Scene("square", "yellow", 2, "top left", "blue"), "two yellow squares in the top left on a blue background"),
    (Scene("circle", "red", 1, "center", "blue"), "a red circle in the center on a blue background"),
    (Scene("triangle", "orange", 1, "bottom right", "white"),
     "an orange triangle in the bottom right on a white background"),
    (Scene("circle", "black", 3, "top right", "orange"), "three black circles in the top right on an orange background"),
])
def test_caption_examples(scene, text):
    assert caption(scene) == text
    assert parse_caption(text) == scene.attributes


def test_caption_and_parse_are_inverse_on_every_combination():
    count = 0
    for shape, color, bg in scene_dataset.all_combinations():
        for n in scene_dataset.COUNTS:
            for position in scene_dataset.POSITIONS:
                scene = Scene(shape, color, n, position, bg)
                assert parse_caption(caption(scene)) == scene.attributes
                count += 1
    assert count == 3 * 8 * 7 * 3 * 5


@pytest.mark.parametrize("text", [
    "two yellow square in the top left on a blue background",  # plural disagrees with the count
    "a orange circle in the center on a blue background",  # wrong article
    "a red circle in the center on a red background",  # shape colour == background
    "a pink circle in the center on a blue background",  # not in the palette
    "a red hexagon in the center on a blue background",
    "a red circle in the middle on a blue background",
    "a photo of a cat",
])
def test_parse_caption_rejects_other_text(text):
    with pytest.raises(ValueError):
        parse_caption(text)


def test_render_draws_the_scene_and_is_resolution_independent():
    scene = Scene("square", "red", 1, "top left", "blue", seed=None)
    image = render(scene, 64)
    red, blue = np.all(image == scene_dataset.PALETTE["red"], -1), np.all(image == scene_dataset.PALETTE["blue"], -1)
    assert (red | blue).all()
    ys, xs = np.nonzero(red)
    assert xs.mean() < 32 and ys.mean() < 32  # top left
    assert red.sum() == pytest.approx((0.28 * 64) ** 2, rel=0.15)  # a filled square of the layout's size
    big = render(scene, 128)
    assert np.all(big == scene_dataset.PALETTE["red"], -1).sum() == pytest.approx(4 * red.sum(), rel=0.1)
    # jitter is seeded: same seed same image, another seed moves the shape a little
    assert np.array_equal(render(Scene("circle", "red", 3, "center", "blue", seed=5), 64),
                          render(Scene("circle", "red", 3, "center", "blue", seed=5), 64))
    assert not np.array_equal(render(Scene("circle", "red", 3, "center", "blue", seed=5), 64),
                              render(Scene("circle", "red", 3, "center", "blue", seed=6), 64))


def test_heldout_combinations_never_appear_in_training_but_their_parts_do(tmp_path):
    write_dataset(tmp_path, seed=0, train_size=3000, heldout_size=200, image_size=32)
    summary = json.loads((tmp_path / "dataset.json").read_text())
    held = {tuple(c) for c in summary["heldout_combinations"]}
    assert len(held) == round(scene_dataset.HELDOUT_FRACTION * len(scene_dataset.all_combinations()))
    train = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    heldout = [json.loads(line) for line in (tmp_path / "heldout.jsonl").read_text().splitlines()]
    train_combos = {(r["shape"], r["color"], r["background"]) for r in train}
    assert not train_combos & held
    assert {(r["shape"], r["color"], r["background"]) for r in heldout} <= held
    assert not {r["caption"] for r in train} & {r["caption"] for r in heldout}
    # every pair inside a held-out triple is seen in training, so it can be composed
    for shape, color, bg in held:
        assert any(s == shape and c == color for s, c, _ in train_combos)
        assert any(c == color and b == bg for _, c, b in train_combos)
        assert any(s == shape and b == bg for s, _, b in train_combos)
    # and every attribute value shows up in training
    for name, values in (("shape", scene_dataset.SHAPES), ("color", scene_dataset.COLORS), ("count", scene_dataset.COUNTS),
                         ("position", tuple(scene_dataset.POSITIONS)), ("background", scene_dataset.COLORS)):
        assert {r[name] for r in train} == set(values), name


def test_the_validation_split_is_as_hard_as_heldout_and_shares_none_of_its_captions(tmp_path):
    """What the recipe search tunes on: the held-out combinations (unseen in training), never a caption the gate
    reports on."""
    write_dataset(tmp_path, seed=0, train_size=300, heldout_size=200, validation_size=150, image_size=32)
    summary = json.loads((tmp_path / "dataset.json").read_text())
    held = {tuple(c) for c in summary["heldout_combinations"]}
    rows = {split: [json.loads(line) for line in (tmp_path / f"{split}.jsonl").read_text().splitlines()]
            for split in ("train", "heldout", "validation")}
    assert len(rows["validation"]) == 150 and np.load(tmp_path / "validation_images.npy").shape[0] == 150
    assert {(r["shape"], r["color"], r["background"]) for r in rows["validation"]} <= held
    captions = {split: {r["caption"] for r in split_rows} for split, split_rows in rows.items()}
    assert not captions["validation"] & captions["heldout"] and not captions["validation"] & captions["train"]
    assert len(captions["validation"]) > 50


def test_the_validation_split_leaves_training_and_heldout_as_they_were(tmp_path):
    """Adding the split changed no byte of the splits the committed reference model was trained and judged on."""
    write_dataset(tmp_path / "a", seed=0, train_size=200, heldout_size=50, validation_size=10, image_size=32)
    write_dataset(tmp_path / "b", seed=0, train_size=200, heldout_size=50, validation_size=90, image_size=32)
    for name in ("train.jsonl", "train_images.npy", "heldout.jsonl", "heldout_images.npy"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
