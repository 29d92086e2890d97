"""The trained reference model through the whole DAG, as CI can afford it: the committed snapshot of the fully
trained model (data/reference-models/trained-sdxl, variant trained-sdxl-snapshot) through export, calibrate,
quantize, evaluate with the scenes judge, and the gate on prompt adherence. A deliberately worse recipe must fail
that gate, far below the default: this is the test that catches a quantization-quality regression offline.

Whether the default recipe itself passes depends on the host: on the AMX Xeon the notebook's INT8 UNet kept the
adherence (drop 0.000), on the AVX2 EPYC without VNNI it lost 9.4 points and fails (docs/reference-model.md). The
gate reports that; these tests check that it does so consistently, not which way a host comes out.

It used to train the short preset here instead (700 steps, 3 min on the AMX Xeon, 20 on the EPYC beside the other
test worker): that model reads little more than the background, and its gate verdict was noise. The training is
tested in tests/test_reference_training.py and, through DVC, by the last test here.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import make_repo_copy, run_in

pytestmark = pytest.mark.e2e
VARIANT = "trained-sdxl-snapshot"


def gate(repo):
    """The gate stage's command. `dvc repro gate` would run the benchmark first (the gate depends on all of
    metrics/), which says nothing about quality; the gate stage itself runs in tests/test_pipeline_e2e.py."""
    result = run_in(repo, "python", "-m", "stages.gate", "--markdown", "reports/gate.md", check=False)
    return result.stdout + result.stderr, result.returncode


@pytest.fixture(scope="module")
def trained_repo(tmp_path_factory):
    """A fresh copy with only the snapshot variant enabled, reproduced up to evaluate, and its gate."""
    repo = make_repo_copy(tmp_path_factory.mktemp("reference"))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["enabled"] = [VARIANT]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_in(repo, "git", "commit", "-qam", "reference snapshot only")
    reproduced = run_in(repo, "dvc", "repro", f"evaluate@{VARIANT}-CPU")
    gate_output, returncode = gate(repo)  # the default recipe's verdict depends on the host
    return repo, reproduced.stdout + reproduced.stderr + gate_output, returncode


def default_drop(repo) -> float:
    return json.loads((repo / "metrics" / VARIANT / "CPU" / "evaluate.json").read_text())["adherence"]["drop"]


def test_the_trained_reference_model_runs_every_stage_and_the_gate_reports_its_adherence(trained_repo):
    repo, output, returncode = trained_repo
    for stage in ("scenes", f"source@{VARIANT}", f"export@{VARIANT}", f"calibrate@{VARIANT}", f"quantize@{VARIANT}-CPU",
                  f"evaluate@{VARIANT}-CPU"):
        assert f"Running stage '{stage}'" in output
    assert re.search(r"quality gate (passed|FAILED)", output), output[-2000:]
    source = json.loads((repo / "models" / VARIANT / "source" / "source.json").read_text())
    assert set(source["digests"]) == {"source", "taesd"}  # the committed files, so that export follows them
    adherence = json.loads((repo / "metrics" / VARIANT / "CPU" / "evaluate.json").read_text())["adherence"]
    assert adherence["fp"]["n"] == adherence["optimized"]["n"] == 100
    # trained: the judge reads what the caption asks far above chance (1 in 8 colours, 1 in 3 counts)
    assert adherence["fp"]["attributes"] > 0.6 and adherence["fp"]["per_attribute"]["color"] > 0.6, adherence["fp"]
    gate = (repo / "reports" / "gate.md").read_text()
    row = re.search(r"prompt adherence, optimized - FP .*\| (pass|\*\*FAIL\*\*)[^|]*\|", gate)
    assert row, gate
    assert (row.group(1) == "pass") == (adherence["drop"] <= 0.02)
    assert (returncode == 0) == ("FAIL" not in gate), output[-2000:]


def test_a_deliberately_worse_recipe_fails_the_reference_gate_far_below_the_default(trained_repo):
    """Four calibration samples: the tiny random model's gate passes this recipe (docs/reference-model.md)."""
    repo = trained_repo[0]
    default = default_drop(repo)
    result = run_in(repo, "dvc", "exp", "run", f"evaluate@{VARIANT}-CPU", "-n", "few-samples",
                    "-S", f"variants.{VARIANT}.calibrate.subset_size=4")
    assert f"Running stage 'calibrate@{VARIANT}'" in result.stdout
    output, returncode = gate(repo)
    assert returncode == 1
    assert "quality gate FAILED" in output
    few = default_drop(repo)
    assert few > 0.02 and few > default + 0.1, (few, default)
    assert re.search(r"prompt adherence, optimized - FP .*\*\*FAIL\*\*", (repo / "reports" / "gate.md").read_text())


def test_the_source_stage_trains_the_reference_model_through_dvc(trained_repo):
    """`source: trained`: the source stage trains (a few steps here) on what the scenes stage makes, and follows it
    (a smaller data set here: the training encodes every image first, 35 s for the 6000 of the default on the EPYC)."""
    repo = trained_repo[0]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["enabled"] = ["trained-sdxl"]
    params["scenes"]["train_size"] = 256
    params["variants"]["trained-sdxl"]["model"]["train"].update(steps=4, batch_size=8, taesd_steps=6, vae_steps=2)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = run_in(repo, "dvc", "repro", "source@trained-sdxl")
    assert "Running stage 'scenes'" in result.stdout and "Running stage 'source@trained-sdxl'" in result.stdout
    metrics = json.loads((repo / "metrics" / "trained-sdxl" / "source.json").read_text())
    assert metrics["images"] == 256 and metrics["denoiser"]["steps"] == 4 and metrics["host"]["isa_class"]
    assert (repo / "models" / "trained-sdxl" / "source" / "unet" / "diffusion_pytorch_model.safetensors").exists()
