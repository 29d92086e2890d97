"""ov_diffusion_quant/orchestration/experiments.py and common/resources.run_watched, under `ovdq experiment` and
`ovdq profile --exp`: a scratch worktree shares the workspace's DVC cache and is gone when the work ends, also when
it fails; the watchdog refuses to start without the memory asked for. (The experiments themselves, on a tiny
stand-in: tests/test_bench_arch.py.)"""

from __future__ import annotations

import sys

import pytest

from conftest import REPO, make_repo_copy, run_in
from ov_diffusion_quant.common.errors import ResourceError, UserError
from ov_diffusion_quant.common.resources import run_watched
from ov_diffusion_quant.orchestration import experiments

OVDQ = (sys.executable, "-m", "ov_diffusion_quant.cli.main")
VARIANT = "tiny-pixart-lcm"


def worktrees(repo) -> int:
    return len(run_in(repo, "git", "worktree", "list").stdout.splitlines())


def test_the_scratch_worktree_shares_the_cache_and_is_removed_afterwards(tmp_path):
    repo = make_repo_copy(tmp_path)
    with experiments.scratch_worktree("probe", "HEAD", repo) as scratch:
        assert scratch == repo / ".dvc" / "tmp" / "probe"
        assert run_in(scratch, "dvc", "cache", "dir").stdout == run_in(repo, "dvc", "cache", "dir").stdout
        assert (scratch / "params.yaml").is_file()
    assert not scratch.exists() and worktrees(repo) == 1


def test_work_that_fails_inside_the_scratch_worktree_leaves_none_behind(tmp_path):
    repo = make_repo_copy(tmp_path)
    with pytest.raises(RuntimeError, match="inside"), experiments.scratch_worktree("probe", "HEAD", repo) as scratch:
        raise RuntimeError("failed inside")
    assert not scratch.exists() and worktrees(repo) == 1


def test_a_stage_is_named_as_dvc_yaml_expands_it_and_an_unknown_one_is_refused():
    assert experiments.stage_target("calibrate", "v") == "calibrate@v"
    assert experiments.stage_target("benchmark", "v") == "benchmark@v-CPU"
    with pytest.raises(UserError, match="unknown stage 'train'") as refused:
        experiments.stage_target("train", "v")
    assert "export" in str(refused.value), "it names the stages it knows"


def test_stages_one_at_a_time_are_for_one_variant():
    with pytest.raises(UserError, match="one variant"):
        experiments.run_experiment("x", ["a", "b"], [], 1.0, stages=["export"])


def test_the_watchdog_passes_the_exit_code_through_and_refuses_without_the_memory_asked_for():
    assert run_watched([sys.executable, "-c", "raise SystemExit(3)"]) == 3
    with pytest.raises(ResourceError, match="GB required"):
        run_watched([sys.executable, "-c", "pass"], require_available_gb=10_000)


def test_profiling_an_experiment_that_does_not_exist_is_one_line_naming_it():
    result = run_in(REPO, *OVDQ, "profile", VARIANT, "--exp", "no-such-experiment", check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "no DVC experiment named no-such-experiment" in result.stderr


def test_the_runner_refuses_missing_arguments():
    result = run_in(REPO, *OVDQ, "experiment", "tiny-pixart-lcm", "--name", "x", check=False)
    assert result.returncode == 2 and "--require-gb" in result.stderr
