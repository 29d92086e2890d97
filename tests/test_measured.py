"""Every result says what it measured: benchmark.json, evaluate.json and quantize.json carry a `measured` block (the
variant's source, the size and steps it ran at, the inference precision, the recipes), so that a committed figure
reads without the commit message that brought it. The stages write it (tests/test_third_family.py runs them);
results committed before it existed had it added from their run's params, and say so."""

from __future__ import annotations

import json

import pytest

from conftest import REPO
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.runtime import host_facts

RESULTS = sorted([*REPO.glob("metrics/*/*/benchmark.json"), *REPO.glob("metrics/*/*/evaluate.json"),
                  *REPO.glob("metrics/*/*/quantize.json"), *REPO.glob("reports/*/recorded/*-benchmark.json"),
                  *REPO.glob("reports/*/recorded/*-evaluate.json"), *REPO.glob("reports/*/recorded/*-quantize.json"),
                  *REPO.glob("reports/scaling/*/*/*/quantize.json")])


def test_the_block_is_the_variants_size_steps_and_source_with_the_precision_and_recipes():
    variant = load(REPO / "params.yaml").variant("tiny-pixart-lcm")
    measured = host_facts.measured(variant, {"transformer": "hybrid"})
    generation = variant.generation
    assert (measured["height"], measured["width"], measured["steps"]) == (generation.height, generation.width,
                                                                          generation.steps)
    assert (measured["variant"], measured["source"], measured["family"]) == ("tiny-pixart-lcm", "tiny", "pixart")
    assert measured["precision"] in ("f32", "bf16") and measured["recipes"] == {"transformer": "hybrid"}


@pytest.mark.parametrize("path", RESULTS, ids=lambda path: path.relative_to(REPO).as_posix())
def test_every_committed_result_names_its_size_steps_precision_and_recipes(path):
    measured = json.loads(path.read_text())["measured"]
    assert measured["variant"] in path.parts
    assert measured["height"] > 0 and measured["width"] > 0 and measured["steps"] > 0
    assert "precision" in measured and measured["recipes"], measured
    if "added_afterwards" in measured:  # said from what, and never a precision the run did not record
        assert "params.yaml at " in measured["added_afterwards"]
