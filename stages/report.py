"""report stage: one summary of every enabled variant x device, beside the notebooks' published figures.

Variants that are not enabled but have metrics in metrics/ from an earlier run (the full-size `*-arch`
variants, which `make bench-arch` runs outside the default DAG) appear too, marked "recorded".

    python -m stages.report
        -> reports/summary.md    for people: size, similarity, latency, cost, each beside the published figures
        -> reports/summary.csv   the same, one row per variant x device plus the published rows
        -> reports/latency.csv   median latency per configuration, long format (DVC plot)
        -> reports/similarity.csv  SSIM / PSNR per prompt from every evaluate_per_prompt.csv, long format (DVC plot)

Reads metrics/<variant>/*.json and metrics/<variant>/<device>/*.json (ov_diffusion_quant/reporting/summary.py).
Every cell is filled: a value that does not exist says why, as "n/a (reason)".
"""

from __future__ import annotations

import logging

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.outputs import atomic_file
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.reporting.markdown import markdown
from ov_diffusion_quant.reporting.plots import latency_table, similarity_table
from ov_diffusion_quant.reporting.summary import summary_table

SUMMARY_MD, SUMMARY_CSV, LATENCY_CSV, SIMILARITY_CSV = (
    paths.REPORTS / name for name in ("summary.md", "summary.csv", "latency.csv", "similarity.csv"))
log = logging.getLogger(__name__)


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.parse_args(argv)

    params = load()
    table = summary_table(params)
    with atomic_file(SUMMARY_CSV) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_file(LATENCY_CSV) as tmp:
        latency_table(params).to_csv(tmp, index=False)
    with atomic_file(SIMILARITY_CSV) as tmp:
        similarity_table(params).to_csv(tmp, index=False)
    with atomic_file(SUMMARY_MD) as tmp:
        tmp.write_text(markdown(params, table))
    log.info("wrote %s, %s, %s and %s", SUMMARY_MD, SUMMARY_CSV, LATENCY_CSV, SIMILARITY_CSV)


if __name__ == "__main__":
    raise SystemExit(main())
