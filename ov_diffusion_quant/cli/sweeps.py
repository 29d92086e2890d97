"""Turn `dvc exp show --json` into a markdown table of a sweep, with a Pareto view.

    ovdq sweeps <variant> [<device>] [--exp-show-json FILE]     (or: python -m ov_diffusion_quant.cli.sweeps ...)
    ovdq sweeps tiny-sdxl-turbo                                  # runs `dvc exp show --json` itself
    dvc exp show --json > exps.json && ovdq sweeps tiny-sdxl-turbo CPU --exp-show-json exps.json

For one variant x device, each experiment (and the baseline) becomes a row: its quantize
params, similarity (SSIM/PSNR mean), optimized latency, size and speedup. A run is
*dominated* when another run is at least as fast and at least as similar, and strictly
better in one of the two; the non-dominated runs are the Pareto front (best similarity at
each latency).
"""

from __future__ import annotations

import argparse

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from ov_diffusion_quant.common.errors import UserError, argument_parser, main_with_clear_errors

SIMILARITY = "ssim_mean"
LATENCY = "latency_s"


def experiment_records(exp_show: list[dict]) -> list[dict]:
    """Flatten DVC's nested exp-show JSON to one record per revision (baseline first)."""
    records = []
    for baseline in exp_show:
        runs = [(baseline.get("name") or baseline["rev"][:7], baseline.get("data"))]
        for experiment in baseline.get("experiments") or []:
            for rev in experiment.get("revs", []):
                runs.append((rev.get("name") or rev["rev"][:7], rev.get("data")))
        for name, data in runs:
            if data:
                records.append({"experiment": name, "rev": data.get("rev", "")[:7], "data": data})
    return records


def _metric(data: dict, path: str) -> dict:
    return ((data.get("metrics") or {}).get(path) or {}).get("data") or {}


def sweep_frame(exp_show: list[dict], variant: str, device: str) -> pd.DataFrame:
    rows = []
    for record in experiment_records(exp_show):
        data = record["data"]
        params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
        settings = (params.get("variants") or {}).get(variant) or {}
        evaluate = _metric(data, f"metrics/{variant}/{device}/evaluate.json")
        benchmark = _metric(data, f"metrics/{variant}/{device}/benchmark.json")
        quantize = _metric(data, f"metrics/{variant}/{device}/quantize.json")
        if not evaluate:
            continue
        quant = settings.get("quantize", {})
        rows.append({
            "experiment": record["experiment"],
            # what quantize applied (a search's choice included), else what params asked for
            "recipe": ", ".join(f"{k}={v['recipe']}" for k, v in (quantize.get("components") or {}).items())
            or ", ".join(f"{k}={v}" for k, v in (quant.get("components") or {}).items()),
            "subset_size": (settings.get("calibrate") or {}).get("subset_size"),
            SIMILARITY: evaluate.get("text2image", {}).get("ssim", {}).get("mean"),
            "psnr_mean": evaluate.get("text2image", {}).get("psnr", {}).get("mean"),
            LATENCY: (benchmark.get("configurations", {}).get("optimized", {}).get("latency_s", {}).get("median")),
            "speedup_vs_fp": benchmark.get("speedup", {}).get("optimized_vs_fp"),
            "size_mb": quantize.get("optimized_mb"),
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        raise UserError(f"no experiment has metrics for {variant} on {device}: run `dvc exp run` first")
    return frame


def mark_dominated(frame: pd.DataFrame) -> pd.DataFrame:
    """Add `pareto` ('front' or 'dominated by <experiment>') using similarity up, latency down."""
    frame = frame.copy()
    verdicts = []
    for _, row in frame.iterrows():
        if pd.isna(row[LATENCY]) or pd.isna(row[SIMILARITY]):
            verdicts.append("n/a (no latency or similarity)")
            continue
        others = frame[(frame.index != row.name) & frame[LATENCY].notna() & frame[SIMILARITY].notna()]
        better = others[(others[LATENCY] <= row[LATENCY]) & (others[SIMILARITY] >= row[SIMILARITY])
                        & ((others[LATENCY] < row[LATENCY]) | (others[SIMILARITY] > row[SIMILARITY]))]
        verdicts.append(f"dominated by {better.iloc[0]['experiment']}" if len(better) else "front")
    frame["pareto"] = verdicts
    return frame.sort_values([LATENCY, SIMILARITY], ascending=[True, False], na_position="last")


def markdown(frame: pd.DataFrame, variant: str, device: str) -> str:
    front = frame[frame["pareto"] == "front"]
    title = f"### Sweep: {variant} on {device}\n\n"
    note = (f"\n{len(front)} of {len(frame)} runs are on the Pareto front (best SSIM at each latency). "
            "Latency: median seconds per image of the optimized pipeline, in the precision each run's benchmark "
            "reports.\n")
    return title + frame.to_markdown(index=False, floatfmt=".4g") + "\n" + note


def load_exp_show(path: str | None) -> list[dict]:
    if path:
        if not Path(path).is_file():
            raise UserError(f"{path} does not exist: pass the output of `dvc exp show --json`, or nothing to run it")
        text, source = Path(path).read_text(), path
    else:
        result = subprocess.run(["dvc", "exp", "show", "--json"], capture_output=True, text=True)
        if result.returncode != 0:
            lines = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()
            raise UserError(f"`dvc exp show --json` failed: {lines[-1]}")
        text, source = result.stdout, "`dvc exp show --json`"
    try:
        data = json.loads(text)
    except ValueError as error:
        raise UserError(f"{source} is not the JSON of `dvc exp show --json` ({error})") from error
    if not isinstance(data, list):
        raise UserError(f"{source} is not the JSON of `dvc exp show --json` (a list of revisions)")
    return data


def arguments() -> argparse.ArgumentParser:
    parser = argument_parser(__doc__)
    parser.add_argument("variant", nargs="?", help="the variant whose sweep to tabulate")
    parser.add_argument("device", nargs="?", help="OpenVINO device (default: CPU)")
    parser.add_argument("--exp-show-json", help="output of `dvc exp show --json` (default: run it)")
    # the earlier spelling
    parser.add_argument("--variant", dest="variant_option", help=argparse.SUPPRESS)
    parser.add_argument("--device", dest="device_option", help=argparse.SUPPRESS)
    return parser


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    args = arguments().parse_args(argv)
    variant = args.variant or args.variant_option
    if not variant:
        raise UserError("name the variant: ovdq sweeps <variant> [<device>]")
    device = args.device or args.device_option or "CPU"
    frame = mark_dominated(sweep_frame(load_exp_show(args.exp_show_json), variant, device))
    sys.stdout.write(markdown(frame, variant, device))


if __name__ == "__main__":
    raise SystemExit(main())
