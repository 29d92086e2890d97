"""A markdown regression report for a pull request: metrics and params against a base revision, and the gate.

    ovdq ci-report [--base REV] [--out FILE]       (or: python -m ov_diffusion_quant.cli.ci_report ...)
    ovdq ci-report --base origin/main --out ci_report.md

Runs `dvc metrics diff --md` and `dvc params diff --md` against ``--base`` and appends the
quality gate's table. Exits 1 when the gate fails, so CI can post the report and still go red.
"""

from __future__ import annotations

import argparse

import subprocess
import sys

from ov_diffusion_quant.common.errors import UserError, argument_parser, main_with_clear_errors
from ov_diffusion_quant.reporting.quality_gate import markdown_table, run_checks, verdict
from ov_diffusion_quant.common.outputs import atomic_file, check_writable_file
from ov_diffusion_quant.config.params import load


def dvc_diff(kind: str, base: str) -> str:
    result = subprocess.run(["dvc", kind, "diff", base, "--md"], capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError(f"`dvc {kind} diff {base}` failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip() or f"No {kind} changes against `{base}`."


def build_report(base: str) -> tuple[str, bool]:
    params = load()
    checks = run_checks(params)
    result = verdict(checks, params)
    sections = [
        f"## Quantization quality report (against `{base}`)",
        f"**Quality gate: {'passed' if result.passed else 'FAILED'}** ({result.line})",
        "### Gate", markdown_table(checks),
        "### Metrics", dvc_diff("metrics", base),
        "### Params", dvc_diff("params", base),
    ]
    return "\n\n".join(sections) + "\n", result.passed


def arguments() -> argparse.ArgumentParser:
    parser = argument_parser(__doc__)
    parser.add_argument("--base", default="HEAD", help="git revision to compare against (default: HEAD)")
    parser.add_argument("--out", help="write the markdown here as well as to stdout")
    return parser


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    args = arguments().parse_args(argv)
    if args.out:
        check_writable_file(args.out, "--out")
    report, passed = build_report(args.base)
    sys.stdout.write(report)
    if args.out:
        with atomic_file(args.out) as tmp:
            tmp.write_text(report)
    if not passed:
        raise SystemExit(1)


if __name__ == "__main__":
    raise SystemExit(main())
