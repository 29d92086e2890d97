"""`ovdq experiment` (`make bench-arch`, `make reference`, `make search`) runs its variants as a DVC experiment in a
temporary workspace and brings back only their metrics and reports: the user's workspace, uncommitted edits included,
stays as it was. `ovdq profile --exp` profiles an experiment's models away from the workspace.

The full-size variants take an hour and 23 GB; the mechanism is the same for a tiny stand-in.
"""

from __future__ import annotations

import json

import pytest

from conftest import make_repo_copy, run_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
VARIANT = "tiny-pixart-lcm"
OVDQ = ("python", "-m", "ov_diffusion_quant.cli.main")  # the copy's own code


def test_a_temporary_experiment_leaves_the_workspace_alone_and_brings_back_the_metrics(tmp_path, reproduced):
    repo = make_repo_copy(tmp_path)
    # the e2e workspace's cache: the stand-in's export, calibration and model are checked out, not rebuilt
    run_in(repo, "dvc", "cache", "dir", "--local", str(reproduced[0] / ".dvc" / "cache"))
    run_in(repo, "git", "rm", "-rq", f"metrics/{VARIANT}", f"reports/{VARIANT}")
    run_in(repo, "git", "commit", "-qm", "no recorded run of the stand-in yet")
    params = repo / "params.yaml"
    edited = (params.read_text().replace("  runs: 5 ", "  runs: 1 ").replace("f32_baseline: true", "f32_baseline: false"))
    assert edited != params.read_text()
    params.write_text(edited)  # uncommitted, and it makes the run shorter
    lock = (repo / "dvc.lock").read_text()

    result = run_in(repo, *OVDQ, "experiment", VARIANT, "--name", "bench-arch", "--rounds", "1", "--require-gb", "1",
                    "--op-profile")

    assert params.read_text() == edited, "the uncommitted params edit is still there"
    assert (repo / "dvc.lock").read_text() == lock
    assert not (repo / "models" / VARIANT).exists() or not any((repo / "models" / VARIANT).iterdir()), \
        "no experiment output was checked out here"
    benchmark = json.loads((repo / "metrics" / VARIANT / "CPU" / "benchmark.json").read_text())
    assert set(benchmark["configurations"]) == {"fp", "optimized"}, "the experiment ran on the edited params"
    assert len(benchmark["configurations"]["optimized"]["runs_s"]) == 1
    for name in ("export.json", "calibrate.json", "CPU/quantize.json", "CPU/evaluate.json"):
        assert (repo / "metrics" / VARIANT / name).is_file(), name
    assert (repo / "reports" / VARIANT / "CPU" / "grid.png").is_file()
    from ov_diffusion_quant.runtime.host_facts import host_label

    profile = (repo / "reports" / VARIANT / f"op_profile-{host_label()}.md").read_text()  # one per kind of CPU
    assert f"### {VARIANT}: static shapes" in profile and "of the INT8 ceiling" in profile
    assert f"## {VARIANT} on `{host_label()}`" in (repo / "reports" / "op_profile.md").read_text()
    changed = run_in(repo, "git", "status", "--porcelain").stdout.splitlines()
    assert sorted(line[3:] for line in changed) == sorted(
        ["params.yaml", "reports/op_profile.md", f"metrics/{VARIANT}/", f"reports/{VARIANT}/"])
    assert len(run_in(repo, "git", "worktree", "list").stdout.splitlines()) == 1, "the scratch worktree is gone"
    assert "bench-arch-" in run_in(repo, "dvc", "exp", "list", "--name-only").stdout
    assert "done in" in result.stderr

    from ov_diffusion_quant.runtime.host_facts import cpu_flags

    if "avx512f" in cpu_flags():  # the same experiment's models profiled as a smaller kind of CPU would run them
        [name] = [line for line in run_in(repo, "dvc", "exp", "list", "--name-only").stdout.split()
                  if line.startswith("bench-arch-")]
        run_in(repo, *OVDQ, "profile", VARIANT, "--exp", name, "--emulate", "avx512")
        emulated = (repo / "reports" / VARIANT / "op_profile-avx512-emulated.md").read_text()
        assert "ovdq emulate avx512" in emulated and f"quantized on `{host_label()}`" in emulated
        assert "| optimized | f32 |" in emulated, "a class without bf16 runs f32"
        assert f"## {VARIANT} on `avx512-emulated`" in (repo / "reports" / "op_profile.md").read_text()
        assert len(run_in(repo, "git", "worktree", "list").stdout.splitlines()) == 1
