"""scripts/lib/scratch_worktree.sh, shared by the scripts that run DVC away from this workspace (arch_stages.sh,
calibration_scaling.sh, op_profile_experiment.sh): the scratch worktree shares the workspace's DVC cache and is gone
when the script ends, also when it fails."""

from __future__ import annotations

from conftest import make_repo_copy, run_in


def test_the_scratch_worktree_shares_the_cache_and_is_removed_on_exit(tmp_path):
    repo = make_repo_copy(tmp_path)
    script = 'source scripts/lib/scratch_worktree.sh; scratch_worktree probe HEAD; cd "$SCRATCH"; pwd; dvc cache dir'
    scratch, cache = run_in(repo, "bash", "-c", f"set -euo pipefail; {script}").stdout.split()
    assert scratch == str(repo / ".dvc" / "tmp" / "probe")
    assert cache == run_in(repo, "dvc", "cache", "dir").stdout.strip()
    assert not (repo / ".dvc" / "tmp" / "probe").exists()
    assert len(run_in(repo, "git", "worktree", "list").stdout.splitlines()) == 1


def test_a_script_that_fails_inside_its_scratch_worktree_leaves_none_behind(tmp_path):
    repo = make_repo_copy(tmp_path)
    result = run_in(repo, "bash", "scripts/arch_stages.sh", "--variant", "tiny-sdxl-turbo", "--require-gb", "1",
                    "no-such-stage", check=False)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "error: unknown stage no-such-stage: export, calibrate, quantize, evaluate or benchmark")
    assert not (repo / ".dvc" / "tmp" / "stages-tiny-sdxl-turbo").exists()
    assert len(run_in(repo, "git", "worktree", "list").stdout.splitlines()) == 1
