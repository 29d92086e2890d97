"""The quality gate: every enabled variant x device against its thresholds in params.yaml.

    python -m stages.gate [--markdown reports/gate.md]

Prints a pass/fail table and exits 1 if any check fails. A threshold whose metric is
missing (no evaluate run, or CLIP skipped) fails too: a gate must not pass on silence.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

from stages.common import paths
from stages.common.errors import main_with_clear_errors
from stages.common.outputs import atomic_file
from stages.config.params import Params, load

# threshold name in params -> metric name in evaluate.json
CHECKS = (("ssim_min", "ssim"), ("psnr_min", "psnr"), ("clip_sim_min", "clip_sim"))


@dataclass
class Check:
    variant: str
    device: str
    mode: str
    metric: str
    threshold: float
    value: float | None
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.value is not None and self.value >= self.threshold


def run_checks(params: Params) -> list[Check]:
    checks: list[Check] = []
    for name in params.enabled:
        variant = params.variant(name)
        if variant.gate is None:
            continue
        for device in params.devices:
            path = paths.metrics(name, "evaluate.json", device)
            if not path.exists():
                checks.append(Check(name, device, "-", "evaluate.json", 0.0, None,
                                    f"missing: run `dvc repro evaluate@{name}-{device}`"))
                continue
            metrics = json.loads(path.read_text())
            modes = [mode for mode in ("text2image", "image2image") if mode in metrics]
            for threshold_name, metric in CHECKS:
                threshold = getattr(variant.gate, threshold_name)
                if threshold is None:
                    continue
                for mode in modes:
                    summary = metrics[mode].get(metric)
                    note = "" if summary else f"not measured: {metrics.get('clip_sim_skipped') or 'absent'}"
                    checks.append(Check(name, device, mode, f"{metric} (min)", threshold,
                                        summary["min"] if summary else None, note))
    return checks


def markdown_table(checks: list[Check]) -> str:
    lines = ["| variant | device | mode | metric | threshold | value | result |", "|---|---|---|---|---|---|---|"]
    for c in checks:
        value = "n/a" if c.value is None else f"{c.value:.4g}"
        result = "pass" if c.passed else f"**FAIL** {c.note}".strip()
        lines.append(f"| {c.variant} | {c.device} | {c.mode} | {c.metric} | ≥ {c.threshold:g} | {value} | {result} |")
    return "\n".join(lines) + "\n"


def print_table(checks: list[Check]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="quality gate")
    for column in ("variant", "device", "mode", "metric", "threshold", "value", "result"):
        table.add_column(column)
    for c in checks:
        table.add_row(c.variant, c.device, c.mode, c.metric, f">= {c.threshold:g}",
                      "n/a" if c.value is None else f"{c.value:.4g}",
                      "[green]pass[/]" if c.passed else f"[red]FAIL[/] {c.note}")
    Console(width=160).print(table)


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markdown", help="also write the table as markdown to this file")
    args = parser.parse_args(argv)

    checks = run_checks(load())
    print_table(checks)
    failed = [c for c in checks if not c.passed]
    if args.markdown:
        with atomic_file(args.markdown) as tmp:
            tmp.write_text(markdown_table(checks))
    if failed:
        print(f"quality gate FAILED: {len(failed)} of {len(checks)} checks", file=sys.stderr)
        raise SystemExit(1)
    print(f"quality gate passed: {len(checks)} checks")


if __name__ == "__main__":
    raise SystemExit(main())
