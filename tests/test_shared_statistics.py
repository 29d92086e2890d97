"""Shared statistics (ov_diffusion_quant/quantization/shared_statistics.py): NNCF's statistics passes run once for
several int8 recipes, and each recipe applied from them is the model plain nncf.quantize makes, without reading the
calibration data."""

from __future__ import annotations

import hashlib

import nncf
import numpy as np
import openvino as ov
import pytest

from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.config.recipes import parse_component
from ov_diffusion_quant.families import get_family
from ov_diffusion_quant.quantization.apply import quantize_model
from ov_diffusion_quant.quantization.recipes import RecipeContext, ptq_arguments
from ov_diffusion_quant.quantization.shared_statistics import SharedStatistics, collect

CORE = ov.Core()
RECIPES = {
    "notebook": {"recipe": "int8"},
    "performance-float-scores": {"recipe": "int8", "preset": "performance",
                                 "ignored_scope": ["notebook", "attention_scores"]},
    "overflow-fix-no-bias-correction": {"recipe": "int8", "overflow_fix": "enable", "bias_correction": "off"},
}


def unet(export):
    return CORE.read_model(export / "unet" / "openvino_model.xml")


def arguments(recipe, model, calibration):
    family = get_family("sdxl")
    context = RecipeContext("unet", calibration, nncf.TargetDevice.CPU,
                            lambda names: family.ignored_scope("unet", model, names))
    return ptq_arguments(recipe, context)


def fingerprint(model, sample) -> tuple:
    """The model's op types, every constant's bytes and its output on one input: equal for equal models (the
    names NNCF generates for new nodes differ between two runs of the same quantization)."""
    constants = sorted(hashlib.sha1(op.get_data().tobytes()).hexdigest() for op in model.get_ops()
                       if op.get_type_name() == "Constant")
    types = sorted(op.get_type_name() for op in model.get_ops())
    output = CORE.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(sample)[0]
    return types, constants, output


@pytest.fixture(scope="module")
def shared(sdxl_export, sdxl_calibration, tmp_path_factory):
    recipes = {name: parse_component(body, name) for name, body in RECIPES.items()}
    model = unet(sdxl_export)
    statistics = collect(model, sdxl_calibration, [arguments(r, model, sdxl_calibration) for r in recipes.values()])
    directory = tmp_path_factory.mktemp("statistics")
    statistics.save(directory / "once")
    statistics.save(directory / "twice")
    return recipes, statistics, directory


def test_one_collection_serves_every_recipe_and_each_equals_plain_nncf_quantize(shared, sdxl_export,
                                                                                sdxl_calibration):
    recipes, statistics, directory = shared
    assert statistics.passes == 2  # SmoothQuant's, then MinMax and fast bias correction's, for all three
    loaded = SharedStatistics.load(directory / "once")
    family = get_family("sdxl")
    for name, recipe in recipes.items():
        plain = quantize_model(recipe, unet(sdxl_export), family, "unet", sdxl_calibration, nncf.TargetDevice.CPU)
        # no calibration data at all: the shared path must not read it
        shared_model = quantize_model(recipe, unet(sdxl_export), family, "unet", [None] * len(sdxl_calibration),
                                      nncf.TargetDevice.CPU, statistics=loaded)
        assert plain.details["statistics"] == "own passes" and shared_model.details["statistics"] == "shared"
        assert shared_model.details["statistics_passes"] == 0, name
        a, b = fingerprint(plain.model, sdxl_calibration[0]), fingerprint(shared_model.model, sdxl_calibration[0])
        assert a[0] == b[0] and a[1] == b[1], f"{name}: the models differ"
        assert np.array_equal(a[2], b[2]), name


def test_saved_statistics_are_the_same_bytes_every_time(shared):
    _, _, directory = shared
    files = sorted(path.name for path in (directory / "once").iterdir())
    assert files == sorted(path.name for path in (directory / "twice").iterdir()) and "statistics.json" in files
    for name in files:
        assert (directory / "once" / name).read_bytes() == (directory / "twice" / name).read_bytes(), name


def test_a_recipe_whose_statistics_were_not_collected_is_refused_in_one_line(shared, sdxl_export,
                                                                             sdxl_calibration):
    _, statistics, _ = shared
    other_alpha = parse_component({"recipe": "int8", "smooth_quant_matmul": 0.5}, "test")
    with pytest.raises(UserError, match="the shared statistics of unet do not cover this recipe"):
        quantize_model(other_alpha, unet(sdxl_export), get_family("sdxl"), "unet", sdxl_calibration,
                       nncf.TargetDevice.CPU, statistics=statistics)


def test_statistics_from_another_nncf_are_refused(shared, tmp_path):
    import json
    import shutil

    _, _, directory = shared
    shutil.copytree(directory / "once", tmp_path / "old")
    index = json.loads((tmp_path / "old" / "statistics.json").read_text())
    (tmp_path / "old" / "statistics.json").write_text(json.dumps({**index, "nncf": "3.3.0"}))
    with pytest.raises(UserError, match="from NNCF 3.3.0; this reads format 1 from NNCF 3.4.0"):
        SharedStatistics.load(tmp_path / "old")
