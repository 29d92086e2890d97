"""The recipe-regression table of docs/reference-model.md: the default recipe and deliberately worse ones, on the
trained reference model and on the tiny random model, each through evaluate and the gate.

    python scripts/recipe_regressions.py [variant ...] [--out reports/recipe_regressions.json]

Run it in a scratch worktree (`git worktree add ../scratch`): for each row it rewrites params.yaml there
(restored at the end) and runs `dvc repro evaluate@<variant>-CPU`, so dvc.lock and the outputs change; DVC's
run-cache makes a second run cheap. The trained variant's first run trains it (docs/reference-model.md: tens of minutes).
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path.cwd()))  # this checkout's stages (an editable install may point at another worktree)
from stages import gate  # noqa: E402
from ov_diffusion_quant.config.params import load as load_params  # noqa: E402

WORSE = {
    "default": {},
    "no IgnoredScope": {"quantize": {"components": {"unet": {"recipe": "int8", "ignored_scope": []}}}},
    "SmoothQuant alpha 0.05": {"quantize": {"components": {"unet": {"recipe": "int8", "smooth_quant_matmul": 0.05}}}},
    "INT4 UNet weights (int4_sym)": {"quantize": {"components": {"unet": "int4_sym"}}},
    "4 calibration samples": {"calibrate": {"subset_size": 4}},
}
DEVICE = "CPU"


def run_row(repo: Path, base: dict, variant: str, recipe: str, overrides: dict) -> dict:
    params = copy.deepcopy(base)
    params["enabled"] = [variant]
    params["variants"][variant]["quantize"]["search"] = None  # each row is a fixed recipe
    for section, values in overrides.items():
        params["variants"][variant].setdefault(section, {}).update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["dvc", "repro", f"evaluate@{variant}-{DEVICE}"], cwd=repo, check=True, capture_output=True)
    checks = gate.run_checks(load_params())  # the gate stage's own checks, on what evaluate just wrote
    evaluate = json.loads((repo / f"metrics/{variant}/{DEVICE}/evaluate.json").read_text())
    adherence = evaluate.get("adherence")
    return {
        "variant": variant, "recipe": recipe, "overrides": overrides, "gate": "FAIL" if any(c.status == gate.FAIL for c in checks) else "pass",
        "failed_checks": [f"{c.mode} {c.metric}" for c in checks if c.status == gate.FAIL],
        **{f"{metric}_min": evaluate["text2image"][metric]["min"] for metric in ("ssim", "psnr")},
        "adherence_fp": adherence["fp"]["attributes"] if adherence else None,
        "adherence_optimized": adherence["optimized"]["attributes"] if adherence else None,
        "host": evaluate.get("host"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", default=["trained-sdxl", "tiny-sdxl-turbo"])
    parser.add_argument("--out", type=Path, default=Path("reports/recipe_regressions.json"))
    args = parser.parse_args()
    repo = Path.cwd()
    original = (repo / "params.yaml").read_text()
    base = yaml.safe_load(original)
    rows = []
    try:
        for variant in args.variants:
            for recipe, overrides in WORSE.items():
                rows.append(run_row(repo, base, variant, recipe, overrides))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    finally:
        (repo / "params.yaml").write_text(original)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
