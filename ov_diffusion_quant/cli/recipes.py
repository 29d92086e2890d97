"""The recipe search's table: every candidate with its gate metrics, INT8 share, latency and seconds.

    ovdq recipes <variant> [<device>] [--metrics FILE]   (or: python -m ov_diffusion_quant.cli.recipes ...)

Reads metrics/<variant>/<device>/recipe.json (the recipe stage's, `make search` or `dvc repro
recipe@<variant>-<device>`) and prints it as markdown: which candidate the search chose, and on what host.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.artifacts import read_json
from ov_diffusion_quant.common.errors import UserError, argument_parser, main_with_clear_errors

COLUMNS = {"candidate": "candidate", "passed": "gate (validation)", "adherence_drop": "adherence drop",
           "ssim_min_t2i": "SSIM min", "psnr_min_t2i": "PSNR min", "ssim_min_i2i": "SSIM min i2i",
           "psnr_min_i2i": "PSNR min i2i", "int8_macs_share": "INT8 share of MACs", "denoiser_ms": "denoiser ms",
           "total_seconds": "seconds"}


def table(summary: dict) -> str:
    host = summary.get("host", {})

    def verdict_of(row: dict) -> str:
        return "skipped (saturates)" if row.get("skipped") else "pass" if row["passed"] else "FAIL"

    rows = [{label: verdict_of(row) if key == "passed" else row.get(key) for key, label in COLUMNS.items()}
            for row in summary["candidates"]]
    frame = pd.DataFrame(rows).dropna(axis=1, how="all")
    frame = frame.astype(object).where(frame.notna(), None)  # a skipped row's metrics print as "-", not nan
    chosen = summary.get("chosen")
    verdict = (f"chosen: **{chosen}** ({', '.join(f'{c}={r}' for c, r in summary.get('recipes', {}).items())})"
               if chosen else f"no candidate passes; the closest is **{summary.get('closest')}**"
               if summary.get("closest") else "every candidate was skipped: its INT8 sums saturate on this host")
    return (f"Recipe search on {summary['num_prompts']} prompts of {summary['validation_prompts']}, host "
            f"{host.get('cpu')} ({host.get('isa_class')}, {host.get('precision')}), {summary['seconds']:.0f} s; "
            f"{verdict}\n\n" + frame.to_markdown(index=False, floatfmt=".4g", missingval="-") + "\n")


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("device", nargs="?", default="CPU")
    parser.add_argument("--metrics", help="a recipe.json (default: metrics/<variant>/<device>/recipe.json)")
    args = parser.parse_args(argv)
    path = Path(args.metrics) if args.metrics else paths.metrics(args.variant, "recipe.json", args.device)
    if not path.is_file():
        raise UserError(f"{path} does not exist: run `dvc repro recipe@{args.variant}-{args.device}` (or `make search`)")
    summary = read_json(path)
    if not summary.get("searched"):
        raise UserError(f"{args.variant} does not search its recipe (variants.{args.variant}.quantize.search is null): "
                        f"it takes {', '.join(f'{c}={r}' for c, r in summary.get('recipes', {}).items())}")
    sys.stdout.write(table(summary))


if __name__ == "__main__":
    raise SystemExit(main())
