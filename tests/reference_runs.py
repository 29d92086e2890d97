"""What the reference models' end-to-end tests share (tests/test_reference_e2e.py, tests/test_reference_pixart_e2e.py)."""

from __future__ import annotations

import json
import re

import yaml
from conftest import run_in

HELD_OUT_FOR_A_FAILURE = 40  # held-out captions for a deliberately worse recipe: one that fails far below fails on fewer


def gate(repo):
    """The gate stage's command: (its output, return code). `dvc repro gate` would run the benchmark first (the gate
    depends on all of metrics/), which says nothing about quality; the gate stage itself runs in
    tests/test_pipeline_e2e.py."""
    result = run_in(repo, "python", "-m", "stages.gate", "--markdown", "reports/gate.md", check=False)
    return result.stdout + result.stderr, result.returncode


def unshared_params(repo) -> dict:
    """The repo's params.yaml as plain data to edit and dump, every mapping its own object: `yaml.safe_dump` writes a
    shared one as an anchor and aliases, which the params loader refuses (`-S` would change every place at once)."""
    return json.loads(json.dumps(yaml.safe_load((repo / "params.yaml").read_text())))


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def default_drop(repo, variant: str) -> float:
    return json.loads((repo / "metrics" / variant / "CPU" / "evaluate.json").read_text())["adherence"]["drop"]


def only_these_candidates(params: dict, keep) -> None:
    """Keep in the registry only the candidates a test's variants list and one they do not: every registry entry is a
    stage per searching variant (one that is not listed writes a row saying so, about 2 s of DVC and Python each).
    Every variant's list keeps the names that remain."""
    registry = params["search"]["candidates"]
    not_listed = next(name for name in registry if name not in keep)
    params["search"]["candidates"] = {name: registry[name] for name in registry if name in keep or name == not_listed}
    for variant in params["variants"].values():
        if variant["quantize"].get("search"):
            listed = variant["quantize"]["search"]["candidates"]
            variant["quantize"]["search"]["candidates"] = [name for name in listed if name in params["search"]["candidates"]]
