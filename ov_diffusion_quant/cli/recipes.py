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
from ov_diffusion_quant.quantization.chosen import failed_label

COLUMNS = {"candidate": "candidate", "passed": "gate (validation)", "adherence_drop": "adherence drop",
           "ssim_min_t2i": "SSIM min", "psnr_min_t2i": "PSNR min", "ssim_min_i2i": "SSIM min i2i",
           "psnr_min_i2i": "PSNR min i2i", "image_int8_macs_share": "INT8 share of the image's MACs",
           "int8_macs_share": "the denoiser's", "denoiser_ms": "denoiser ms",
           "statistics": "statistics", "statistics_seconds": "s statistics", "quantize_seconds": "s quantize",
           "validation_seconds": "s validation", "total_seconds": "seconds"}


def _statistics(reuse) -> str | None:
    """A row's statistics reuse per component ("shared", or why it made its own passes), short."""
    if not isinstance(reuse, dict):
        return reuse
    return "; ".join(how.split(":")[0] if len(reuse) == 1 else f"{component}: {how.split(':')[0]}"
                     for component, how in reuse.items()) or "none"


def table(summary: dict) -> str:
    host = summary.get("host", {})

    def verdict_of(row: dict) -> str:
        return "skipped (saturates)" if row.get("skipped") else "pass" if row["passed"] else failed_label(row)

    rows = [{label: verdict_of(row) if key == "passed" else _statistics(row.get(key)) if key == "statistics"
             else row.get(key) for key, label in COLUMNS.items()} for row in summary["candidates"]]
    frame = pd.DataFrame(rows).dropna(axis=1, how="all")
    frame = frame.astype(object).where(frame.notna(), None)  # a skipped row's metrics print as "-", not nan
    chosen = summary.get("chosen")
    verdict = (f"chosen: **{chosen}** ({', '.join(f'{c}={r}' for c, r in summary.get('recipes', {}).items())})"
               if chosen else f"no candidate passes; the closest is **{summary.get('closest')}**"
               if summary.get("closest") else "every candidate was skipped: its INT8 sums saturate on this host")
    return (f"Recipe search on {summary['num_prompts']} prompts of {summary['validation_prompts']}, host "
            f"{host.get('cpu')} ({host.get('isa_class')}, {host.get('precision')}), {summary['seconds']:.0f} s"
            + (f" (shared statistics {summary['statistics_seconds']:.0f} s, FP images "
               f"{summary['fp_images_seconds']:.0f} s)" if summary.get("statistics_seconds") is not None
               and summary.get("fp_images_seconds") is not None else "") + "; "
            f"{verdict}\n\n" + frame.to_markdown(index=False, floatfmt=".4g", missingval="-") + "\n"
            + ("\nA stopped candidate rendered until the gate was certain to fail it: its minimums are over the "
               "captions it rendered, its adherence drop is the least it could still reach.\n"
               if any(row.get("stopped_early") for row in summary["candidates"]) else ""))


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
        raise UserError(f"{args.variant} did not search its recipe (it is not in search.variants): "
                        f"it takes {', '.join(f'{c}={r}' for c, r in summary.get('recipes', {}).items())}")
    sys.stdout.write(table(summary))


if __name__ == "__main__":
    raise SystemExit(main())
