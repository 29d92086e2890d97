"""The pixel judge: near-perfect on the data set's own images at any size, clearly worse on damaged ones."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ov_diffusion_quant.reference import scene_dataset
from ov_diffusion_quant.reference.judge import adherence, judge_image, read_scene
from ov_diffusion_quant.reference.scene_dataset import Scene, caption, render, split_scenes


@pytest.fixture(scope="module")
def sample():
    train, heldout = split_scenes(seed=0, train_size=200, heldout_size=100)
    chosen = train + heldout
    return chosen, [caption(s) for s in chosen]


@pytest.mark.parametrize("size", [64, 128, 48])
def test_ground_truth_images_are_judged_right(sample, size):
    chosen, captions = sample
    result = adherence([render(s, size) for s in chosen], captions)
    assert result["n"] == len(chosen)
    assert result["overall"] >= 0.97, result
    assert min(result["per_attribute"].values()) >= 0.97, result


def test_pil_images_and_float_arrays_are_accepted(sample):
    chosen, captions = sample
    arrays = [render(s, 128) for s in chosen[:50]]
    as_pil = adherence([Image.fromarray(a) for a in arrays], captions[:50])
    as_float = adherence([a / 255.0 for a in arrays], captions[:50])
    assert as_pil["overall"] == as_float["overall"] >= 0.97


def test_it_reads_each_attribute():
    scene = Scene("triangle", "yellow", 3, "bottom right", "purple", seed=1)
    assert read_scene(render(scene, 64)) == scene.attributes
    verdict = judge_image(render(scene, 64), "two yellow triangles in the bottom right on a purple background")
    assert verdict["correct"] == {"shape": True, "color": True, "count": False, "position": True, "background": True}
    assert not verdict["all_correct"]


def test_mild_noise_and_blur_are_tolerated(sample):
    from scipy import ndimage

    chosen, captions = sample[0][::2], sample[1][::2]
    rng = np.random.default_rng(0)
    images = np.stack([render(s, 64) for s in chosen]).astype(np.float32)
    noisy = np.clip(images + rng.normal(0, 15, images.shape), 0, 255).astype(np.uint8)
    blurred = np.stack([ndimage.gaussian_filter(i, (0.8, 0.8, 0)) for i in images]).astype(np.uint8)
    assert adherence(noisy, captions)["overall"] >= 0.95
    assert adherence(blurred, captions)["overall"] >= 0.9


def test_damaged_images_score_clearly_lower(sample):
    chosen, captions = sample[0][::2], sample[1][::2]
    rng = np.random.default_rng(0)
    # shapes in another colour (never the background's)
    recoloured = []
    for s in chosen:
        other = [c for c in scene_dataset.COLORS if c not in (s.color, s.background)]
        recoloured.append(render(Scene(s.shape, other[rng.integers(len(other))], s.count, s.position, s.background,
                                       s.seed), 64))
    result = adherence(recoloured, captions)
    assert result["per_attribute"]["color"] == 0.0 and result["overall"] == 0.0
    assert result["per_attribute"]["shape"] >= 0.97  # the rest is still read right

    # blank: the background alone
    blank = [np.full((64, 64, 3), scene_dataset.PALETTE[s.background], np.uint8) for s in chosen]
    result = adherence(blank, captions)
    assert result["overall"] == 0.0 and result["per_attribute"]["count"] == 0.0
    assert result["per_attribute"]["background"] == 1.0

    # heavy noise
    images = np.stack([render(s, 64) for s in chosen]).astype(np.float32)
    noisy = np.clip(images + rng.normal(0, 90, images.shape), 0, 255).astype(np.uint8)
    assert adherence(noisy, captions)["overall"] < 0.5

    # pure noise
    assert adherence(rng.integers(0, 256, images.shape, dtype=np.uint8), captions)["overall"] < 0.05

    # the wrong captions for the right images: shuffled
    shuffled = [captions[i] for i in rng.permutation(len(captions))]
    assert adherence(images.astype(np.uint8), shuffled)["overall"] < 0.1


def test_adherence_checks_its_inputs():
    with pytest.raises(ValueError):
        adherence([np.zeros((64, 64, 3), np.uint8)], [])
    with pytest.raises(ValueError):
        adherence([], [])
    with pytest.raises(ValueError):
        adherence([np.zeros((64, 64), np.uint8)], ["a red circle in the center on a blue background"])
