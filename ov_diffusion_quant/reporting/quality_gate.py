"""The quality gate over the enabled variants: every variant x device's evaluate metrics against its thresholds
(params `variants.<v>.gate`), the verdict, and the table. The gate stage and `ovdq ci-report` both use it."""

from __future__ import annotations

from dataclasses import dataclass

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.artifacts import read_json
from ov_diffusion_quant.config.specs import Params
from ov_diffusion_quant.evaluation.checks import FAIL, NOT_GATED, PASS, Check, metric_checks


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


def cells(c: Check) -> tuple[str, str, str]:
    threshold = "-" if c.threshold is None else f"≥ {c.threshold:g}"
    value = "-" if c.threshold is None else "n/a" if c.value is None else f"{c.value:.4g}"
    result = {PASS: "pass", NOT_GATED: f"not gated ({c.note})", FAIL: f"**FAIL** {c.note}".strip()}[c.status]
    return threshold, value, result


def markdown_table(checks: list[Check]) -> str:
    lines = ["| variant | device | mode | metric | threshold | value | result |", "|---|---|---|---|---|---|---|"]
    for c in checks:
        threshold, value, result = cells(c)
        lines.append(f"| {c.variant} | {c.device} | {c.mode} | {c.metric} | {threshold} | {value} | {result} |")
    if not checks:
        lines.append("| - | - | - | - | - | - | nothing enabled: no check |")
    return "\n".join(lines) + "\n"
