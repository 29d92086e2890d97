"""The quality gate: every enabled variant x device against its thresholds in params.yaml.

    python -m stages.gate [--markdown reports/gate.md]

Prints a table (pass / FAIL / not gated) and exits 1 if any check fails. A gate must not pass on
silence: a threshold whose metric is missing (no evaluate run, or CLIP skipped) fails; a variant x
device that should be gated but yields no check fails; a variant with `gate: null` is reported as
"not gated", never as a pass; and a run that checked nothing at all (nothing enabled, or nothing
gated) fails unless `gate.allow_empty` is true.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.artifacts import read_json
from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.outputs import atomic_file, check_writable_file
from ov_diffusion_quant.config.params import Params, load
from ov_diffusion_quant.evaluation.checks import FAIL, MODES, NOT_GATED, PASS, Check, metric_checks  # noqa: F401

log = logging.getLogger(__name__)
@dataclass
class Verdict:
    passed: bool
    line: str  # the one-line summary


def run_checks(params: Params) -> list[Check]:
    checks: list[Check] = []
    for name in params.enabled:
        variant = params.variant(name)
        for device in params.devices:
            if variant.gate is None:
                checks.append(Check(name, device, "-", "-", None, None, f"gate: null in variants.{name}"))
                continue
            path = paths.metrics(name, "evaluate.json", device)
            if not path.exists():
                checks.append(Check(name, device, "-", "evaluate.json", 0.0, None,
                                    f"missing: run `dvc repro evaluate@{name}-{device}`"))
                continue
            checks += metric_checks(name, device, variant.gate, read_json(path),
                                    f"re-run `dvc repro -f evaluate@{name}-{device}`")
    return checks


def verdict(checks: list[Check], params: Params) -> Verdict:
    failed = [c for c in checks if c.status == FAIL]
    checked = [c for c in checks if c.status != NOT_GATED]
    ungated = sorted({f"{c.variant} on {c.device}" for c in checks if c.status == NOT_GATED})
    note = f" ({', '.join(ungated)}: not gated)" if ungated else ""
    if failed:
        return Verdict(False, f"quality gate FAILED: {len(failed)} of {len(checked)} checks{note}")
    if not checked:
        why = "nothing is enabled" if not params.enabled else "every enabled variant has `gate: null`"
        if params.gate.allow_empty:
            return Verdict(True, f"quality gate passed with no checks: {why} (gate.allow_empty is true){note}")
        return Verdict(False, f"quality gate FAILED: it checked nothing ({why}): set thresholds in "
                              "variants.<v>.gate, or gate.allow_empty: true to accept a run without checks")
    return Verdict(True, f"quality gate passed: {len(checked)} checks{note}")


def _cells(c: Check) -> tuple[str, str, str]:
    threshold = "-" if c.threshold is None else f"≥ {c.threshold:g}"
    value = "-" if c.threshold is None else "n/a" if c.value is None else f"{c.value:.4g}"
    result = {PASS: "pass", NOT_GATED: f"not gated ({c.note})", FAIL: f"**FAIL** {c.note}".strip()}[c.status]
    return threshold, value, result


def markdown_table(checks: list[Check]) -> str:
    lines = ["| variant | device | mode | metric | threshold | value | result |", "|---|---|---|---|---|---|---|"]
    for c in checks:
        threshold, value, result = _cells(c)
        lines.append(f"| {c.variant} | {c.device} | {c.mode} | {c.metric} | {threshold} | {value} | {result} |")
    if not checks:
        lines.append("| - | - | - | - | - | - | nothing enabled: no check |")
    return "\n".join(lines) + "\n"


def print_table(checks: list[Check]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="quality gate")
    for column in ("variant", "device", "mode", "metric", "threshold", "value", "result"):
        table.add_column(column)
    for c in checks:
        threshold, value, result = _cells(c)
        styled = {PASS: "[green]pass[/]", NOT_GATED: f"[yellow]not gated[/] ({c.note})",
                  FAIL: f"[red]FAIL[/] {c.note}"}[c.status]
        table.add_row(c.variant, c.device, c.mode, c.metric, threshold.replace("≥", ">="), value, styled)
    Console(width=160).print(table)


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--markdown", help="also write the table as markdown to this file")
    args = parser.parse_args(argv)
    if args.markdown:
        check_writable_file(args.markdown, "--markdown")

    params = load()
    checks = run_checks(params)
    print_table(checks)
    result = verdict(checks, params)
    if args.markdown:
        with atomic_file(args.markdown) as tmp:
            tmp.write_text(markdown_table(checks))
    if not result.passed:
        log.error(result.line)
        raise SystemExit(1)
    log.info(result.line)


if __name__ == "__main__":
    raise SystemExit(main())
