"""Variants as DVC experiments in a temporary workspace, and work on an experiment's outputs away from this one.

This workspace is never reset: params.yaml, dvc.lock, outputs and uncommitted edits stay (an experiment starts from
them), and only the files named here come back from an experiment's commit:

- `run_experiment`: `dvc exp run --temp` of the variants (the whole DAG, or named stages one experiment each, so a
  long run goes on from DVC's run-cache when started again) under the memory watchdog; metrics/<v>/ and reports/<v>/
  come back. The experiment stays in DVC (`dvc exp show`, `dvc exp apply <name>`).
- `calibration_scaling`: quantize@<v> at growing calibration sizes, each size one experiment; its calibrate.json and
  quantize.json come back as reports/scaling/<v>/<precision>/<N>/ (`ovdq tables` tabulates them).
- `profile_experiment`: the op profile of an experiment's models (checked out in a scratch git worktree that links
  DVC's cache: nothing is copied), on this CPU or an emulated smaller class, into
  reports/<v>/op_profile-<host class>.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.common.resources import run_watched
from ov_diffusion_quant.orchestration.emulation import emulated_environment
from ov_diffusion_quant.runtime.host_facts import host_label

log = logging.getLogger(__name__)
DEVICE = "CPU"
DEVICE_STAGES = ("recipe", "quantize", "evaluate", "benchmark")  # stages named <stage>@<variant>-<device>
VARIANT_STAGES = ("source", "export", "calibrate")  # stages named <stage>@<variant>
MIN_AVAILABLE_GB = 1.0  # the watchdog kills the run below this
DVC = [sys.executable, "-m", "dvc"]  # this environment's, whether or not its bin/ is on PATH


def git(*args: str, cwd: Path | str = ".") -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@contextlib.contextmanager
def scratch_worktree(name: str, ref: str, repo: Path = Path(".")) -> Iterator[Path]:
    """A git worktree of ``ref`` at .dvc/tmp/<name> (replacing a leftover one) that shares this workspace's DVC cache,
    so that its outputs are links into the cache, not copies; removed when the block ends, also when it fails."""
    repo = repo.resolve()
    scratch = repo / ".dvc" / "tmp" / name
    cache = subprocess.run([*DVC, "cache", "dir"], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()

    def remove() -> None:  # git leaves the ignored files (DVC's tmp) behind
        subprocess.run(["git", "worktree", "remove", "--force", str(scratch)], cwd=repo, capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)
        git("worktree", "prune", cwd=repo)

    remove()
    try:
        git("worktree", "add", "-q", "--detach", str(scratch), ref, cwd=repo)
        subprocess.run([*DVC, "cache", "dir", "--local", cache], cwd=scratch, check=True, capture_output=True)
        yield scratch
    finally:
        remove()


def experiment_ref(name: str) -> str:
    """The git ref of the DVC experiment ``name``."""
    refs = git("for-each-ref", "--format=%(refname)", "refs/exps").split()
    found = [ref for ref in refs if ref.endswith(f"/{name}")]
    if not found:
        raise UserError(f"no DVC experiment named {name}: see `dvc exp list --all-commits --name-only`")
    return found[0]


def stage_target(stage: str, variant: str, device: str = DEVICE) -> str:
    if stage in DEVICE_STAGES:
        return f"{stage}@{variant}-{device}"
    if stage in VARIANT_STAGES:
        return f"{stage}@{variant}"
    raise UserError(f"unknown stage {stage!r}: {', '.join(VARIANT_STAGES + DEVICE_STAGES)}")


def temporary_experiment(name: str, variants: list[str], overrides: list[str], targets: list[str],
                         require_gb: float) -> str:
    """One `dvc exp run --temp` of ``targets`` (none: the whole DAG) with ``enabled`` set to ``variants``, under the
    memory watchdog; returns the experiment's ref."""
    command = [*DVC, "exp", "run", "--temp", "-n", name, "-S", f"enabled=[{','.join(variants)}]",
               "-S", "gate.allow_empty=true",  # random weights: arch variants are not gated (judged ones still are)
               *[item for override in overrides for item in ("-S", override)], *targets]
    log.info("%s: %s in a temporary workspace", name, " ".join(targets) or "the DAG of " + ", ".join(variants))
    # the stages' `python` is this environment's, whether or not its bin/ is on PATH
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    code = run_watched(command, require_gb, MIN_AVAILABLE_GB, env=env)
    if code:
        raise UserError(f"experiment {name} failed (exit {code}{': stopped for memory' if code == 137 else ''}); "
                        f"the command was {' '.join(command)}")
    return experiment_ref(name)


def bring_back(ref: str, variants: list[str]) -> list[str]:
    """metrics/<v>/ and reports/<v>/ from the experiment's commit into this workspace (those it has)."""
    wanted = [str(root / variant) for variant in variants for root in (paths.METRICS, paths.REPORTS)]
    present = [path for path in wanted if git("ls-tree", "--name-only", ref, path).strip()]
    if present:
        git("restore", f"--source={ref}", "--worktree", "--", *present)
    return present


def adherence_line(variant: str, device: str = DEVICE) -> str | None:
    """What the gate looked at for a judged variant, in one line (None for a variant without a judge)."""
    path = paths.metrics(variant, "evaluate.json", device)
    evaluate = json.loads(path.read_text()) if path.exists() else {}
    if "adherence" not in evaluate:
        return None
    a = evaluate["adherence"]
    return (f"{variant}: prompt adherence (mean attribute accuracy) FP {a['fp']['attributes']:.3f}, optimized "
            f"{a['optimized']['attributes']:.3f}; all five right FP {a['fp']['overall']:.2f}, optimized "
            f"{a['optimized']['overall']:.2f}; SSIM min {evaluate['text2image']['ssim']['min']:.3f}")


def run_experiment(name: str, variants: list[str], overrides: list[str], require_gb: float,
                   stages: list[str] | None = None) -> list[str]:
    """The variants' DAG as one temporary experiment, or with ``stages`` (one variant) one experiment per stage,
    each brought back as it finishes; returns the experiments' names."""
    if stages and len(variants) != 1:
        raise UserError(f"stages one at a time are for one variant, not {len(variants)}: {', '.join(variants)}")
    targets = [[stage_target(stage, variants[0])] for stage in stages] if stages else [[]]
    names = []
    for target in targets:
        started = time.perf_counter()
        names.append(f"{name}-{target[0].split('@')[0]}" if target else name)
        ref = temporary_experiment(names[-1], variants, overrides, target, require_gb)
        brought = bring_back(ref, variants)
        log.info("%s done in %.0f min: %s", names[-1], (time.perf_counter() - started) / 60, ", ".join(brought))
    for variant in variants:
        if line := adherence_line(variant):
            log.info("%s", line)
    return names


def calibration_scaling(name: str, variant: str, sizes: list[int], overrides: list[str],
                        require_gb: float) -> list[Path]:
    """quantize@<variant> at each calibration size, one experiment each; calibrate.json and quantize.json of each go
    to reports/scaling/<variant>/<precision>/<size>/ (precision: the ``host.precision`` override, else auto)."""
    precision = next((o.split("=", 1)[1] for o in overrides if o.startswith("host.precision=")), "auto")
    written = []
    for size in sizes:
        sized = [*overrides, f"variants.{variant}.calibrate.subset_size={size}"]
        ref = temporary_experiment(f"{name}-{size}", [variant], sized, [stage_target("quantize", variant)], require_gb)
        out = paths.REPORTS / "scaling" / variant / precision / str(size)
        out.mkdir(parents=True, exist_ok=True)
        for record in (paths.metrics(variant, "calibrate.json"), paths.metrics(variant, "quantize.json", DEVICE)):
            (out / record.name).write_text(git("show", f"{ref}:{record.as_posix()}"))
        written.append(out)
        log.info("%s, %d samples: records in %s", variant, size, out)
    return written


def profile_experiment(experiment: str, variant: str, device: str = DEVICE, emulate: str | None = None,
                       runs: int = 3, require_gb: float = 1.0) -> Path:
    """`ovdq profile` of an experiment's models, in a scratch worktree, into reports/<v>/op_profile-<class>.md."""
    ref = experiment_ref(experiment)
    env = dict(emulated_environment(emulate) if emulate else os.environ)
    # this workspace's code on the experiment's models and params (-P: not the scratch worktree's code from its cwd)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path.cwd()), env.get("PYTHONPATH")]))
    label = f"{emulate}-emulated" if emulate else host_label()
    quantized_on = json.loads(git("show", f"{ref}:{paths.metrics(variant, 'quantize.json', device).as_posix()}"))
    with scratch_worktree(f"profile-{experiment}", ref) as scratch, tempfile.TemporaryDirectory() as tmp:
        subprocess.run([*DVC, "checkout", "-q", stage_target("export", variant), stage_target("calibrate", variant),
                        stage_target("quantize", variant, device)], cwd=scratch, check=True)
        markdown = Path(tmp) / "profile.md"
        command = [sys.executable, "-P", "-m", "ov_diffusion_quant.cli.profile", variant, device, "--runs", str(runs),
                   "--markdown", str(markdown)]
        code = run_watched(command, require_gb, MIN_AVAILABLE_GB, cwd=scratch, env=env)
        if code:
            raise UserError(f"the op profile of {variant} in experiment {experiment} failed (exit {code})")
        target = paths.REPORTS / variant / f"op_profile-{label}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        under = f" under `ovdq emulate {emulate}`" if emulate else ""
        target.write_text(f"# Where the time goes (`ovdq profile`{under}, on the models of experiment {experiment}, "
                          "quantized on "
                          f"`{quantized_on['host']['isa_class']}`)\n\n" + markdown.read_text())
    return target
