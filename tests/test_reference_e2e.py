"""The trained reference model through the whole DAG, as CI can afford it: the committed snapshot of the fully
trained model (data/reference-models/trained-sdxl, variant trained-sdxl-snapshot) through export, calibrate, the
recipe search, quantize, evaluate with the scenes judge, and the gate on prompt adherence. The search must find a
recipe that passes the gate on the held-out captions on this host, and a deliberately worse recipe must fail that
gate far below it: this is the test that catches a quantization-quality regression offline.

The search runs as a team would spread it: two clones are two runners, each reproduces half the candidates and
pushes DVC's run-cache to a shared remote (an OpenSSH server on loopback where one can run); a third clone pulls,
chooses and reproduces the chosen model's gate without running any candidate, statistics or export again. The
candidate list is reduced here (CI_CANDIDATES: the notebook's recipe, the fastest one that passes on avx512_bf16, one
whose INT8 sums cannot saturate without VNNI, all three from the shared statistics, and weight-only INT8; a recipe
with statistics passes of its own is tests/test_recipes.py's); `make search` runs the variant's full
list (docs/reference-model.md). The PixArt reference's snapshot runs in tests/test_reference_pixart_e2e.py, in the other
pytest worker. The training is tested in tests/test_reference_training.py and, through DVC, by the last test here.
"""

from __future__ import annotations

import contextlib
import json
import re

import pytest
import ssh_server
import yaml
from conftest import make_repo_copy, run_in
from reference_runs import (
    HELD_OUT_FOR_A_FAILURE,
    default_drop,
    gate,
    only_these_candidates,
    stages_run,
    unshared_params,
)

from ov_diffusion_quant.runtime import host_facts

pytestmark = pytest.mark.e2e
VARIANT = "trained-sdxl-snapshot"
CI_CANDIDATES = ("notebook", "float-embeddings", "int8-attention-7-bit", "weights-only")
SATURATING = ("notebook", "float-embeddings")  # skipped on CPUs without VNNI
RUNNERS = (CI_CANDIDATES[:2], CI_CANDIDATES[2:])  # what each of the two runners reproduces

@contextlib.contextmanager
def shared_remote(root):
    """The team's DVC remote: SSH to a server on loopback (the commands that add it, and the environment the
    clients need), or a directory where no server can run."""
    if ssh_server.unavailable():
        yield [["dvc", "remote", "add", "-f", "-d", "team", str(root / "remote")]], {}
        return
    with ssh_server.ssh_server(root / "sshd") as server:
        yield server.dvc_remote("team", root / "remote"), {"HOME": str(server.home)}


@pytest.fixture(scope="module")
def trained_repo(tmp_path_factory):
    """Two runners reproduce half the candidates each and push; a third clone pulls, chooses, quantizes, evaluates
    and gates: (the third clone, what each of the three ran, the gate's output and return code)."""
    root = tmp_path_factory.mktemp("reference")
    base = make_repo_copy(root)
    params = unshared_params(base)
    params["enabled"] = [VARIANT]
    params["search"]["variants"] = [VARIANT]
    params["variants"][VARIANT]["quantize"]["search"]["candidates"] = list(CI_CANDIDATES)
    only_these_candidates(params, CI_CANDIDATES)
    del params["variants"][VARIANT]["calibrate"]["other_components"]  # CI's candidates quantize the UNet only
    (base / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_in(base, "git", "commit", "-qam", "the SDXL snapshot only, fewer search candidates")
    ran = {}
    with shared_remote(root) as (remote_commands, env):
        clones = {}
        for name in ("runner-a", "runner-b", "selector"):
            clones[name] = root / name
            run_in(root, "git", "clone", "-q", str(base), str(clones[name]))
            for command in remote_commands:
                run_in(clones[name], *command)
        for name, candidates in zip(("runner-a", "runner-b"), RUNNERS):
            if name != "runner-a":  # the first runner's commit: its export and calibrate metrics (git-tracked)
                run_in(clones[name], "git", "pull", "-q", "--no-rebase", str(clones["runner-a"]), "HEAD")
            run_in(clones[name], "dvc", "pull", "--run-cache", "--allow-missing", env=env)  # the first finds nothing yet
            # --pull: `dvc pull --run-cache` fetches the records of the runs, --pull their outputs when one is reused
            output = run_in(clones[name], "dvc", "repro", "--pull",
                            *(f"candidate@{VARIANT}-CPU-{candidate}" for candidate in candidates), env=env)
            ran[name] = stages_run(output.stdout + output.stderr)
            run_in(clones[name], "dvc", "push", "--run-cache", env=env)
            if name == "runner-a":
                run_in(clones[name], "git", "add", "-A", "dvc.lock", "metrics")
                run_in(clones[name], "git", "commit", "-qm", "export, calibrate and the first runner's candidates")
        selector = clones["selector"]
        run_in(selector, "git", "pull", "-q", "--no-rebase", str(clones["runner-a"]), "HEAD")
        run_in(selector, "dvc", "pull", "--run-cache", "--allow-missing", env=env)
        output = run_in(selector, "dvc", "repro", "--pull", f"evaluate@{VARIANT}-CPU", env=env)
        ran["selector"] = stages_run(output.stdout + output.stderr)
    gate_output, returncode = gate(selector)
    return selector, ran, gate_output, returncode


def test_two_runners_share_a_search_through_the_run_cache_and_a_third_clone_only_chooses(trained_repo):
    _, ran, _, _ = trained_repo
    candidates = {name: {f"candidate@{VARIANT}-CPU-{c}" for c in chosen} for name, chosen in zip(
        ("runner-a", "runner-b"), RUNNERS)}
    upstream = {"scenes", f"source@{VARIANT}", f"export@{VARIANT}", f"calibrate@{VARIANT}",
                f"statistics@{VARIANT}-CPU", f"fp_images@{VARIANT}-CPU"}
    assert upstream | candidates["runner-a"] <= ran["runner-a"]
    # the second runner, on the first one's commit, takes its export, calibration, statistics, FP images and training
    # data from the run-cache (export and calibrate write git-tracked metrics, which a clone of that commit has)
    assert ran["runner-b"] & ran["runner-a"] <= {"host"}, ran["runner-b"]
    assert candidates["runner-b"] <= ran["runner-b"]
    # the third clone quantizes no candidate again: it chooses from the rows, then quantize, evaluate (the registry's
    # candidates this variant does not list are stages too, which write "not listed" at once)
    listed = {f"candidate@{VARIANT}-CPU-{candidate}" for candidate in CI_CANDIDATES}
    assert not [stage for stage in ran["selector"] if VARIANT in stage and (
        stage in listed or stage.startswith(("statistics@", "fp_images@", "source@", "export@", "calibrate@")))]
    assert {f"recipe@{VARIANT}-CPU", f"quantize@{VARIANT}-CPU", f"evaluate@{VARIANT}-CPU"} <= ran["selector"]


def test_the_trained_reference_model_runs_every_stage_and_the_gate_reports_its_adherence(trained_repo):
    repo, _, output, returncode = trained_repo
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


def test_the_searched_recipe_passes_the_gate_on_the_held_out_captions(trained_repo):
    """The search tuned on the validation split; the gate reports on held-out captions it never saw."""
    repo, _, output, returncode = trained_repo
    search = json.loads((repo / "metrics" / VARIANT / "CPU" / "recipe.json").read_text())
    assert search["searched"] and [row["candidate"] for row in search["candidates"]] == list(CI_CANDIDATES)
    assert search["validation_prompts"] == "data/scenes/validation.jsonl"
    passing = [row for row in search["candidates"] if row["passed"]]
    assert passing, search["candidates"]
    best = max(passing, key=lambda row: row["image_int8_macs_share"])
    assert search["chosen"] == best["candidate"]
    assert 0 <= best["image_int8_macs_share"] <= best["int8_macs_share"] <= 1
    host_class = json.loads((repo / "data" / "host" / "runtime.json").read_text())["isa_class"]
    skipped = [row["candidate"] for row in search["candidates"] if row.get("skipped")]
    if host_facts.int8_sums_saturate(host_class):  # no VNNI: the recipes that saturate are not rendered
        assert skipped == list(SATURATING), search["candidates"]
        assert all("saturate on" in row["failed_checks"][0] for row in search["candidates"] if row.get("skipped"))
    else:
        assert not skipped and search["candidates"][0]["int8_macs_share"] > 0.9
    # a failing candidate stops rendering once the gate is certain to fail it (at the latest on the last caption)
    assert all((row["stopped_early"] is None) == row["passed"] for row in search["candidates"]
               if not row.get("skipped")), search["candidates"]
    applied = json.loads((repo / "models" / VARIANT / "optimized-CPU" / "quantization.json").read_text())
    assert applied["candidate"] == search["chosen"]
    # the selector quantized nothing: quantize took the chosen candidate's model, which a runner made and pushed
    quantized = json.loads((repo / "metrics" / VARIANT / "CPU" / "quantize.json").read_text())
    assert quantized["quantized_by"] == f"candidate@{VARIANT}-CPU-{search['chosen']}"
    rows = {row["candidate"]: row for row in search["candidates"]}
    assert rows["notebook"]["statistics"] == {"unet": "shared"} and rows["notebook"]["statistics_seconds"] == 0
    assert rows["weights-only"]["statistics"] == {}  # weight-only: no statistics at all
    assert rows["int8-attention-7-bit"]["statistics"] == {"unet": "shared"}  # fast bias correction: shared
    table = run_in(repo, "python", "-m", "ov_diffusion_quant.cli.recipes", VARIANT, "CPU").stdout
    assert f"chosen: **{search['chosen']}**" in table and "weights-only" in table
    evaluate = json.loads((repo / "metrics" / VARIANT / "CPU" / "evaluate.json").read_text())
    assert evaluate["adherence"]["drop"] <= 0.02, evaluate["adherence"]  # held out: the search keeps the adherence
    assert returncode == 0 and "quality gate passed" in output, output[-3000:]


def test_a_deliberately_worse_recipe_fails_the_reference_gate_far_below_the_searched_one(trained_repo):
    """Four calibration samples and no search: the tiny random model's gate passes this recipe
    (docs/reference-model.md)."""
    repo = trained_repo[0]
    default = default_drop(repo, VARIANT)
    result = run_in(repo, "dvc", "exp", "run", f"evaluate@{VARIANT}-CPU", "-n", "few-samples",
                    "-S", f"variants.{VARIANT}.calibrate.subset_size=4", "-S", "search.variants=[]",
                    "-S", f"variants.{VARIANT}.evaluate.num_prompts={HELD_OUT_FOR_A_FAILURE}")
    assert f"Running stage 'calibrate@{VARIANT}'" in result.stdout
    output, returncode = gate(repo)
    assert returncode == 1
    assert "quality gate FAILED" in output
    few = default_drop(repo, VARIANT)
    assert few > 0.02 and few > default + 0.1, (few, default)
    assert re.search(r"prompt adherence, optimized - FP .*\*\*FAIL\*\*", (repo / "reports" / "gate.md").read_text())


def test_the_source_stage_trains_the_reference_model_through_dvc(trained_repo):
    """`source: trained`: the source stage trains (a few steps here) on what the scenes stage makes, and follows it
    (a smaller data set here: the training encodes every image first, which takes the most time at 6000)."""
    repo = trained_repo[0]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["enabled"] = ["trained-sdxl"]
    params["search"]["variants"] = []
    params["scenes"]["train_size"] = 256
    params["variants"]["trained-sdxl"]["model"]["train"].update(steps=4, batch_size=8, taesd_steps=6, vae_steps=2)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = run_in(repo, "dvc", "repro", "source@trained-sdxl")
    assert "Running stage 'scenes'" in result.stdout and "Running stage 'source@trained-sdxl'" in result.stdout
    metrics = json.loads((repo / "metrics" / "trained-sdxl" / "source.json").read_text())
    assert metrics["images"] == 256 and metrics["denoiser"]["steps"] == 4 and metrics["host"]["isa_class"]
    assert (repo / "models" / "trained-sdxl" / "source" / "unet" / "diffusion_pytorch_model.safetensors").exists()
