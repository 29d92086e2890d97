"""The trained reference model through the whole DAG, as CI can afford it: a short training run (minutes), then
export, calibrate, quantize, evaluate with the scenes judge, and the gate on prompt adherence. A deliberately
worse recipe must fail that gate: this is the test that catches a quantization-quality regression offline.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import make_repo_copy, run_in

pytestmark = pytest.mark.e2e
VARIANT = "trained-sdxl"
SHORT_TRAINING = {"steps": 700, "batch_size": 16, "taesd_steps": 150, "vae_steps": 20}  # training.PRESETS["short"]


@pytest.fixture(scope="module")
def trained_repo(tmp_path_factory):
    """A fresh copy with only the reference variant enabled, trained short and reproduced up to the gate (the
    report, which has its own tests, is left out, and the benchmark runs once: this test is about quality)."""
    from stages.reference.training import PRESETS

    assert SHORT_TRAINING == {k: PRESETS["short"][k] for k in SHORT_TRAINING}
    repo = make_repo_copy(tmp_path_factory.mktemp("reference"))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["enabled"] = [VARIANT]
    params["variants"][VARIANT]["model"]["train"].update(SHORT_TRAINING)
    # `dvc repro gate` runs the benchmark (the gate depends on metrics/): one timed run, as the other e2e tests do
    params["benchmark"].update(warmup=0, runs=1, prompts=1, f32_baseline=False, runtimes=["optimum"])
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_in(repo, "git", "commit", "-qam", "short reference training")
    result = run_in(repo, "dvc", "repro", "gate")
    return repo, result.stdout + result.stderr


def test_the_short_reference_model_runs_every_stage_and_passes_the_adherence_gate(trained_repo):
    repo, output = trained_repo
    for stage in ("scenes", f"source@{VARIANT}", f"export@{VARIANT}", f"quantize@{VARIANT}-CPU",
                  f"evaluate@{VARIANT}-CPU", "gate"):
        assert f"Running stage '{stage}'" in output
    source = json.loads((repo / "metrics" / VARIANT / "source.json").read_text())
    assert source["denoiser"]["steps"] == SHORT_TRAINING["steps"]
    assert source["denoiser"]["loss"]["final"] < source["denoiser"]["loss"]["first"] / 2
    evaluate = json.loads((repo / "metrics" / VARIANT / "CPU" / "evaluate.json").read_text())
    adherence = evaluate["adherence"]
    assert adherence["fp"]["n"] == adherence["optimized"]["n"] == 100
    # trained: the judge reads the background the caption asks for far above chance (1 in 8 colours)
    assert adherence["fp"]["per_attribute"]["background"] > 0.6
    gate = (repo / "reports" / "gate.md").read_text()
    assert re.search(r"prompt adherence, optimized - FP .*\| pass \|", gate), gate
    assert "FAIL" not in gate


def test_a_deliberately_worse_recipe_fails_the_reference_gate(trained_repo):
    """Four calibration samples: the tiny random model's gate passes this recipe (docs/reference-model.md)."""
    repo, _ = trained_repo
    result = run_in(repo, "dvc", "exp", "run", "gate", "-n", "few-samples",
                    "-S", f"variants.{VARIANT}.calibrate.subset_size=4", check=False)
    assert result.returncode != 0
    assert "quality gate FAILED" in result.stdout + result.stderr
    evaluate = json.loads((repo / "metrics" / VARIANT / "CPU" / "evaluate.json").read_text())
    assert evaluate["adherence"]["drop"] > 0.02, evaluate["adherence"]
    assert re.search(r"prompt adherence, optimized - FP .*\*\*FAIL\*\*", (repo / "reports" / "gate.md").read_text())
