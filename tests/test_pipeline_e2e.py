"""End to end: `dvc repro` of the tiny default in a fresh copy of the repository, then what follows."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import ssh_server
from conftest import REPO, run_in

pytestmark = pytest.mark.e2e
VARIANTS = ("tiny-sdxl-turbo", "tiny-pixart-lcm")


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def test_default_dag_runs_every_stage_and_the_gate_passes(reproduced):
    repo, output = reproduced
    for variant in VARIANTS:
        for stage in ("source", "export", "calibrate"):
            assert f"{stage}@{variant}" in stages_run(output)
        assert f"quantize@{variant}-CPU" in stages_run(output)
        # evaluate and benchmark run unless their deps came out byte-identical to the committed lock, whose
        # metrics are in git: then DVC rightly keeps them (the outputs above are deterministic)
        assert (repo / "models" / variant / "fp").is_dir()
        assert (repo / "models" / variant / "optimized-CPU" / "compile_config.json").is_file()
        assert (repo / "data" / "calibration" / variant / "manifest.json").is_file()
        assert (repo / "reports" / variant / "CPU" / "grid.png").is_file()
        evaluate = json.loads((repo / "metrics" / variant / "CPU" / "evaluate.json").read_text())
        assert evaluate["text2image"]["ssim"]["min"] > 0.9
        calibrate = json.loads((repo / "metrics" / variant / "calibrate.json").read_text())
        assert calibrate["compare_prompts"] == 4 and calibrate["notebook_way_over_latents_only"] > 0  # timed both ways
    assert "gate" in stages_run(output)
    assert "changed" not in run_in(repo, "dvc", "status").stdout.replace("always changed", ""), "all up to date"
    assert "FAIL" not in (repo / "reports" / "gate.md").read_text()
    summary = (repo / "reports" / "summary.md").read_text()
    assert "| tiny-sdxl-turbo / CPU " in summary
    # full-size runs from `make bench-arch` are kept in metrics/ (git) and shown, marked, beside the default
    assert "sdxl-turbo-arch / CPU (recorded)" in summary and "pixart-lcm-arch / CPU (recorded)" in summary
    pixart_config = json.loads((repo / "models/tiny-pixart-lcm/optimized-CPU/compile_config.json").read_text())
    assert pixart_config == {"transformer": {"DYNAMIC_QUANTIZATION_GROUP_SIZE": "0"}}


def test_a_second_repro_does_nothing_but_look_at_the_host(reproduced):
    repo, _ = reproduced
    output = run_in(repo, "dvc", "repro").stdout
    assert stages_run(output) == {"host"}, "host is always_changed; its unchanged files re-run nothing"


def artifacts(lock: dict, stage: str) -> dict[str, str]:
    """The stage's models/ and data/ outputs and their md5 (its metrics files hold timings)."""
    return {out["path"]: out["md5"] for out in lock[stage].get("outs", []) if out["path"].startswith(("models/", "data/"))}


def test_export_calibrate_and_quantize_give_identical_bytes(reproduced):
    """Same inputs, same bytes. A stage whose deps and params are those of the committed dvc.lock (made from nothing
    in another directory, on another day) must have made the committed outputs; the others (another kind of host,
    other library versions, an edit not yet reproduced) are forced to run again here and must make theirs again."""
    repo, _ = reproduced
    committed = yaml.safe_load((REPO / "dvc.lock").read_text())["stages"]
    ours = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    targets = [f"{stage}@{variant}{suffix}" for variant in VARIANTS
               for stage, suffix in (("export", ""), ("calibrate", ""), ("quantize", "-CPU"))]
    same_inputs = [target for target in targets if target in committed
                   and all(committed[target].get(key) == ours[target].get(key) for key in ("deps", "params"))]
    for target in same_inputs:
        assert artifacts(ours, target) and artifacts(ours, target) == artifacts(committed, target), \
            f"{target}: same deps and params as the committed dvc.lock, other outputs"
    forced = [target for target in targets if target not in same_inputs]
    if forced:
        run_in(repo, "dvc", "repro", "-f", "-s", *forced)
        again = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
        for target in forced:
            assert artifacts(again, target) == artifacts(ours, target), f"{target} is not deterministic"


FAMILY_STAGES = ("export", "calibrate", "statistics", "quantize", "peers", "evaluate", "benchmark")


def changed_stages(repo, edited: str) -> set[str]:
    """The stages whose changed deps, in `dvc status`, include ``edited`` after a comment is added to it (other tests
    of this module re-run stages by hand and leave gate and report stale for their own reasons)."""
    path = repo / edited
    original = path.read_text()
    try:
        path.write_text(original + "\n# edited\n")
        status = json.loads(run_in(repo, "dvc", "status", "--json").stdout or "{}")
    finally:
        path.write_text(original)

    def sees(changes) -> bool:
        deps = [dep for change in changes if isinstance(change, dict) for dep in change.get("changed deps", {})]
        return any(edited == dep or edited.startswith(dep.rstrip("/") + "/") for dep in deps)

    return {stage for stage, changes in status.items() if sees(changes)}


@pytest.mark.parametrize("edited", ["ov_diffusion_quant/families/sdxl.py", "ov_diffusion_quant/families/pixart.py"])
def test_editing_a_family_file_reruns_the_stages_that_load_a_family_and_no_other(reproduced, edited):
    """Not the scenes, not the reference model's training (source), not the gate or the report: their code does
    not import a family module. The family stages take every family module (their template cannot name the
    variant's family), so both tiny variants' are listed; and host, which checks every variant against its family
    (it runs on every repro anyway, and its outputs do not change with the code)."""
    repo, _ = reproduced
    expected = {"host"} | {f"{stage}@{variant}" + ("" if stage in ("export", "calibrate") else "-CPU")
                           for stage in FAMILY_STAGES for variant in ("tiny-sdxl-turbo", "tiny-pixart-lcm")}
    assert changed_stages(repo, edited) == expected


@pytest.mark.parametrize("edited, expected", [
    ("ov_diffusion_quant/reporting/markdown.py", {"report"}),
    ("ov_diffusion_quant/reference/training.py", {"source@tiny-sdxl-turbo", "source@tiny-pixart-lcm"}),
    # and the search's candidate stages, where a variant searches (evaluate runs the gate's checks on the peers)
    ("ov_diffusion_quant/evaluation/checks.py", {"gate", "evaluate@tiny-sdxl-turbo-CPU", "evaluate@tiny-pixart-lcm-CPU"}),
])
def test_editing_a_library_module_reruns_only_the_stages_that_import_it(reproduced, edited, expected):
    repo, _ = reproduced
    assert changed_stages(repo, edited) == expected


def test_a_host_of_another_kind_pulls_over_ssh_reuses_the_export_and_reruns_host_dependent_stages(reproduced,
                                                                                                   tmp_path):
    """Run-cache pushed and pulled over SSH, to an OpenSSH server on loopback; the second workspace fakes another kind
    of host, without bf16 (f32)."""
    from ov_diffusion_quant.runtime.host_facts import isa_class

    if why := ssh_server.unavailable():
        pytest.skip(why)
    other_isa = "avx2" if isa_class() != "avx2" else "avx512"
    repo, _ = reproduced
    with ssh_server.ssh_server(tmp_path / "sshd") as server:
        remote = tmp_path / "remote"
        ssh = {"HOME": str(server.home)}  # its known_hosts holds the server's key: the host key is verified
        for command in server.dvc_remote("hosts", remote):
            run_in(repo, *command)
        run_in(repo, "git", "add", "-A")
        run_in(repo, "git", "commit", "-qm", "baseline for the second host")
        run_in(repo, "dvc", "push", "--run-cache", env=ssh)
        assert any((remote / "runs").rglob("*")), "the run-cache reached the server"
        clone = tmp_path / "clone"
        run_in(tmp_path, "git", "clone", "-q", str(repo), str(clone))
        for command in server.dvc_remote("hosts", remote)[1:]:  # the remote is in .dvc/config; port and key are local
            run_in(clone, *command)
        run_in(clone, "dvc", "pull", "--run-cache", env=ssh)
    other_host = {"OVDQ_HOST_ISA": other_isa}
    # the benchmark's FP and optimized configurations show the precision in force; the f32 baseline would only
    # repeat FP's here, in a process of its own
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["benchmark"]["f32_baseline"] = False
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    target = "benchmark@tiny-pixart-lcm-CPU"
    ran = stages_run(run_in(clone, "dvc", "repro", target, env=other_host).stdout)
    assert "export@tiny-pixart-lcm" not in ran, "the export does not depend on the ISA: it comes from the cache"
    assert {"calibrate@tiny-pixart-lcm", "quantize@tiny-pixart-lcm-CPU", target} <= ran
    benchmark = json.loads((clone / "metrics/tiny-pixart-lcm/CPU/benchmark.json").read_text())
    assert benchmark["host"]["isa_class"] == other_isa and benchmark["host"]["precision"] == "f32"
    assert benchmark["env"]["configurations"]["fp"]["inference_precision"] == "f32", "what ran, read back"
    summary = run_in(clone, "python", "-m", "stages.report").stderr
    assert "(other host: " in (clone / "reports/summary.md").read_text(), summary


def test_metrics_show_and_diff_work(reproduced):
    repo, _ = reproduced
    shown = run_in(repo, "dvc", "metrics", "show", "--md").stdout
    assert "metrics/tiny-sdxl-turbo/CPU/evaluate.json" in shown
    diff = run_in(repo, "dvc", "metrics", "diff", "HEAD", "--md", "--all").stdout
    assert "text2image.ssim.min" in diff and "metrics/tiny-pixart-lcm/CPU/evaluate.json" in diff


def test_a_second_clone_restores_stages_from_a_shared_remote_instead_of_recomputing(reproduced, tmp_path):
    repo, _ = reproduced
    run_in(repo, "dvc", "repro")  # what earlier tests re-ran by hand (gate, report) is brought up to date
    remote = tmp_path / "remote"
    run_in(repo, "dvc", "remote", "add", "-d", "shared", str(remote))
    run_in(repo, "git", "add", "-A")
    run_in(repo, "git", "commit", "-qm", "baseline: tiny default reproduced")
    run_in(repo, "dvc", "push", "--run-cache")
    assert any(remote.rglob("*")), "the remote received the cache"

    clone = tmp_path / "clone"
    run_in(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    assert not (clone / "models").joinpath("tiny-sdxl-turbo", "fp").exists()
    run_in(clone, "dvc", "pull", "--run-cache")
    output = run_in(clone, "dvc", "repro")
    assert stages_run(output.stdout + output.stderr) == {"host"}, "nothing is recomputed on the second machine"
    for variant in VARIANTS:
        assert (clone / "models" / variant / "fp").is_dir()
        assert (clone / "models" / variant / "optimized-CPU" / "quantization.json").is_file()


def test_the_ci_report_against_the_baseline(reproduced):
    repo, _ = reproduced
    result = run_in(repo, "python", "-m", "ov_diffusion_quant.cli.ci_report", "--base", "HEAD", "--out", "ci_report.md")
    report = (repo / "ci_report.md").read_text()
    assert result.stdout == report
    assert "**Quality gate: passed**" in report and "### Metrics" in report and "### Params" in report


# The sweep's experiments time only what a sweep compares (FP vs optimized in optimum's pipeline, 1 run each); the
# first one re-runs tiny-pixart-lcm's benchmark for these settings, the second takes it from the run-cache.
QUICK_BENCHMARK = ("-S", "benchmark.runs=1", "-S", "benchmark.f32_baseline=false", "-S", "benchmark.runtimes=[optimum]")


@pytest.mark.slow
def test_a_queued_sweep_and_its_pareto_table(reproduced):
    repo, _ = reproduced
    prefix = "variants.tiny-sdxl-turbo"
    run_in(repo, "dvc", "exp", "run", "--queue", "-n", "sdxl-int8w", "-S", f"{prefix}.quantize.components.unet=int8_weights",
           *QUICK_BENCHMARK)
    run_in(repo, "dvc", "exp", "run", "--queue", "-n", "sdxl-sq-off-16", *QUICK_BENCHMARK,
           "-S", f"{prefix}.quantize.components.unet.smooth_quant_matmul=-1", "-S", f"{prefix}.calibrate.subset_size=16")
    run_in(repo, "dvc", "exp", "run", "--run-all", "-j", "1")
    table = run_in(repo, "python", "-m", "ov_diffusion_quant.cli.sweeps", "tiny-sdxl-turbo", "CPU").stdout
    for name in ("sdxl-int8w", "sdxl-sq-off-16"):
        assert name in table
    assert "unet=int8_weights" in table and "front" in table
    run_in(repo, "dvc", "plots", "diff", "sdxl-int8w", "sdxl-sq-off-16", "-o", str(repo / "sweep_plots"))
    assert (repo / "sweep_plots" / "index.html").is_file()


def test_changing_only_a_recipe_reruns_only_the_recipe_quantize_and_their_dependants(reproduced):
    repo, _ = reproduced
    params = yaml.safe_load((repo / "params.yaml").read_text())
    # hybrid: a value no earlier run used (the sweep's int8_weights would come back from the run-cache)
    params["variants"]["tiny-sdxl-turbo"]["quantize"]["components"]["unet"] = "hybrid"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = set(json.loads(run_in(repo, "dvc", "status", "--json").stdout))
    # the gate and the report read every variant's params; of the per-variant stages only the recipe and the statistics
    # collected for it changed (quantize follows the files they write)
    assert changed - {"host", "gate", "report"} == {"recipe@tiny-sdxl-turbo-CPU", "statistics@tiny-sdxl-turbo-CPU"}, \
        changed
    # up to evaluate: the benchmark (also a dependant) would time five fresh processes here and tell nothing more
    result = run_in(repo, "dvc", "exp", "run", "-n", "sdxl-hybrid", "evaluate@tiny-sdxl-turbo-CPU")
    ran = stages_run(result.stdout + result.stderr)
    assert {"recipe@tiny-sdxl-turbo-CPU", "quantize@tiny-sdxl-turbo-CPU", "evaluate@tiny-sdxl-turbo-CPU"} <= set(ran)
    assert not {s for s in ran if s.startswith(("export@", "calibrate@"))}
    quantize = json.loads((repo / "metrics/tiny-sdxl-turbo/CPU/quantize.json").read_text())
    assert quantize["components"]["unet"]["recipe"] == "hybrid"
    assert quantize["components"]["unet"]["weights_by_precision"].get("u8", 0) > 0


def test_subset_size_larger_than_the_prompt_source(reproduced):
    repo, _ = reproduced
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["variants"]["tiny-pixart-lcm"]["calibrate"]["subset_size"] = 100000
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    manifest_before = (repo / "data/calibration/tiny-pixart-lcm/manifest.json").read_text()
    result = run_in(repo, "python", "-m", "stages.calibrate", "tiny-pixart-lcm", check=False)
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()[-1]
    assert re.search(r"subset_size 100000 is larger than what the prompt source yields: at most \d+ samples "
                     r"\(\d+ prompts in data/prompts/calibration.jsonl x 4 steps\)", message)
    assert (repo / "data/calibration/tiny-pixart-lcm/manifest.json").read_text() == manifest_before
    run_in(repo, "git", "checkout", "params.yaml")


def add_weight_noise(model_dir, component, relative_std=0.5, seed=0):
    """Damage a model on purpose: Gaussian noise on every large floating-point constant."""
    import openvino as ov
    from openvino import opset13

    rng = np.random.default_rng(seed)
    path = model_dir / component / "openvino_model.xml"
    model = ov.Core().read_model(path)
    for op in model.get_ops():
        if op.get_type_name() == "Constant" and op.get_element_type().is_real() and op.get_output_size() == 1:
            data = op.get_data()
            if data.size < 256:
                continue
            noisy = data.astype(np.float32) + rng.normal(0, relative_std * float(data.std()), data.shape)
            op.output(0).replace(opset13.constant(noisy.astype(data.dtype)).output(0))
    path.with_suffix(".bin").unlink()
    ov.save_model(model, path)


def test_the_gate_fails_when_a_damaged_model_is_evaluated(reproduced):
    import shutil

    repo, _ = reproduced
    optimized = repo / "models/tiny-pixart-lcm/optimized-CPU"
    shutil.rmtree(optimized)
    shutil.copytree(repo / "models/tiny-pixart-lcm/fp", optimized, symlinks=False)
    add_weight_noise(optimized, "transformer")
    run_in(repo, "python", "-m", "stages.evaluate", "tiny-pixart-lcm", "CPU")
    gate = run_in(repo, "python", "-m", "stages.gate", check=False)
    assert gate.returncode == 1
    assert re.search(r"tiny-pixart-lcm.*FAIL", gate.stdout)
    assert "quality gate FAILED" in gate.stderr
    report = run_in(repo, "python", "-m", "ov_diffusion_quant.cli.ci_report", "--base", "HEAD", check=False)
    assert report.returncode == 1 and "**Quality gate: FAILED**" in report.stdout


def test_a_second_repro_in_the_same_workspace_is_refused_by_dvcs_lock_and_the_first_completes(reproduced):
    repo, _ = reproduced
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    first = subprocess.Popen(["dvc", "repro", "--force", "--single-item", "report"], cwd=repo, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        lines = []
        for line in first.stdout:  # DVC holds the workspace lock from here until the stage is committed
            lines.append(line)
            if line.startswith("Running stage 'report'"):
                break
        assert lines and lines[-1].startswith("Running stage"), "".join(lines)
        # paused with its stage (the report takes a second or two, less than the second DVC's start): the lock
        # is held for as long as the second one tries, on any host
        os.killpg(first.pid, signal.SIGSTOP)
        try:
            second = run_in(repo, "dvc", "repro", check=False)
        finally:
            os.killpg(first.pid, signal.SIGCONT)
        output, _ = first.communicate(timeout=600)
    finally:
        first.kill()
    assert second.returncode != 0
    # DVC's two locks: the workspace lock while it plans, the read/write lock on a running stage's deps and outs
    refused_by_rwlock = re.search(rf"is busy, it is being blocked by:\s+\(PID {first.pid}\)", second.stderr)
    assert refused_by_rwlock or "Unable to acquire lock" in second.stderr, second.stderr
    assert first.returncode == 0, "".join(lines) + output
    assert "Traceback" not in second.stderr + output


def test_two_generate_sessions_on_the_same_model_at_once_both_work(reproduced, tmp_path):
    repo, _ = reproduced
    command = [sys.executable, "-m", "ov_diffusion_quant.cli.main", "generate", "tiny-sdxl-turbo", "CPU", "cute cat",
               "--optimized", "--seed", "5", "--out"]
    sessions = [subprocess.Popen([*command, str(tmp_path / f"{name}.png")], cwd=repo, stderr=subprocess.PIPE,
                                 text=True) for name in ("first", "second")]
    errors = [session.communicate(timeout=600)[1] for session in sessions]
    assert [session.returncode for session in sessions] == [0, 0], errors
    with Image.open(tmp_path / "first.png") as first, Image.open(tmp_path / "second.png") as second:
        assert first.tobytes() == second.tobytes(), "the same seed and model, at the same time"
