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

from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.outputs import atomic_file, check_writable_file
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.evaluation.checks import FAIL, NOT_GATED, PASS, Check
from ov_diffusion_quant.reporting.quality_gate import cells, markdown_table, run_checks, verdict

log = logging.getLogger(__name__)


def print_table(checks: list[Check]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="quality gate")
    for column in ("variant", "device", "mode", "metric", "threshold", "value", "result"):
        table.add_column(column)
    for c in checks:
        threshold, value, result = cells(c)
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
