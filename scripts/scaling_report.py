"""The table and plot data of calibration at scale, from the records scripts/calibration_scaling.sh copied.

    python scripts/scaling_report.py     ->  reports/scaling/scaling.{csv,md}, and per variant and precision
                                             reports/scaling/<variant>/<precision>/scaling.csv (dvc.yaml's plots)

One row per variant, precision and sample count: calibrate's seconds and peak RSS, and per quantized component
the passes over the calibration set, the precision its statistics model was compiled in, seconds per NNCF phase
and peak RSS, as the stages recorded them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors  # noqa: E402

ROOT = Path("reports/scaling")


def rows(root: Path) -> list[dict]:
    found = []
    for quantize_path in sorted(root.glob("*/*/*/quantize.json"), key=lambda p: (p.parts[-4], p.parts[-3],
                                                                                  int(p.parts[-2]))):
        variant, requested, samples = quantize_path.parts[-4:-1]
        quantize = json.loads(quantize_path.read_text())
        calibrate = json.loads((quantize_path.parent / "calibrate.json").read_text())
        for component, done in quantize["components"].items():
            if "statistics_passes" not in done:
                continue  # not calibrated (weight-only recipes)
            seconds = done["phase_seconds"]
            found.append({
                "variant": variant, "precision_param": requested, "samples": int(samples),
                "host": quantize["host"]["isa_class"], "inference_precision": quantize["host"]["precision"],
                "label": f"{variant} {component} ({done['statistics_precision']} statistics)",
                "calibrate_seconds": calibrate["seconds"], "calibrate_seconds_per_sample": calibrate["seconds_per_sample"],
                "calibrate_peak_rss_gb": round(calibrate.get("peak_rss_mb", float("nan")) / 1024, 2),
                "component": component, "recipe": done["recipe"], "passes": done["statistics_passes"],
                "statistics_precision": done["statistics_precision"],
                "statistics_seconds": seconds["statistics"], "smooth_quant_seconds": seconds["smooth_quant"],
                "bias_correction_seconds": seconds["bias_correction"], "saving_seconds": seconds.get("saving"),
                "component_seconds": done["seconds"],
                "quantize_minutes": round(quantize["seconds"] / 60, 2),
                "component_peak_rss_gb": round(done["peak_rss_mb"] / 1024, 2),
                "quantize_peak_rss_gb": round(quantize["peak_rss_mb"] / 1024, 2),
            })
    return found


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)

    import pandas as pd

    table = pd.DataFrame(rows(args.root))
    table.to_csv(args.root / "scaling.csv", index=False)
    for (variant, requested), series in table.groupby(["variant", "precision_param"]):  # one line each in the plots
        series.to_csv(args.root / variant / requested / "scaling.csv", index=False)
    shown = table[["variant", "host", "statistics_precision", "samples", "calibrate_seconds_per_sample",
                   "calibrate_peak_rss_gb", "component", "passes", "statistics_seconds", "smooth_quant_seconds",
                   "bias_correction_seconds", "saving_seconds", "quantize_minutes", "component_peak_rss_gb",
                   "quantize_peak_rss_gb"]]
    (args.root / "scaling.md").write_text(
        "# Calibration at scale (`scripts/calibration_scaling.sh`, table by `scripts/scaling_report.py`)\n\n"
        + shown.to_markdown(index=False) + "\n")
    print(shown.to_markdown(index=False))


if __name__ == "__main__":
    raise SystemExit(main())
