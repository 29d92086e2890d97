"""The full-size PixArt search's cost (pixart-lcm at 100 samples, its 4 candidates, 6 validation captions), projected from
the measured parts of the pixart-lcm-arch run committed in metrics/pixart-lcm-arch/CPU/."""
import json
from pathlib import Path

root = Path(__file__).resolve().parents[1]
quantize = json.loads((root / "metrics/pixart-lcm-arch/CPU/quantize.json").read_text())
benchmark = json.loads((root / "metrics/pixart-lcm-arch/CPU/benchmark.json").read_text())
transformer = quantize["components"]["transformer"]
phases = transformer["phase_seconds"]
per_sample_pass = phases["statistics"] / sum(transformer["samples_per_pass"])
samples, captions = 100, 6
candidates = ["full-int8", "float-embeddings", "int8-attention-7-bit", "weights-only"]
fp_image = benchmark["configurations"]["fp"]["latency_s"]["median"]
int8_image = benchmark["configurations"]["optimized"]["latency_s"]["median"]
statistics = 2 * samples * per_sample_pass
after_statistics = quantize["seconds"] - phases["statistics"]  # smooth quant, bias correction, T5 and VAE INT4, saving
one_quantization = statistics + after_statistics
candidate = {name: after_statistics + captions * (fp_image if name == "weights-only" else int8_image)
             for name in candidates}
search = statistics + captions * fp_image + sum(candidate.values()) + after_statistics
record = {
    "what": "projected cost of the full-size PixArt search (`make real`: pixart-lcm, 100 calibration samples, 1024², "
            "4 steps, candidates " + ", ".join(candidates) + f", {captions} validation captions) against one "
            "quantization at the same size, from the measured parts of the pixart-lcm-arch run (8 samples)",
    "sources": ["metrics/pixart-lcm-arch/CPU/quantize.json", "metrics/pixart-lcm-arch/CPU/benchmark.json"],
    "host": quantize["host"],
    "assumptions": {
        "statistics": "linear in samples (2 passes), as measured for sdxl-turbo-arch at 8, 50 and 200 samples "
                      "(reports/scaling/scaling.md)",
        "candidate": "the quantization after the statistics as measured (SmoothQuant, bias correction, T5 and VAE "
                     "INT4, saving), then the validation captions at the measured per-image latency (FP for "
                     "weight-only INT8, the INT8 transformer's for the others)",
    },
    "measured": {"statistics_seconds_per_sample_and_pass": round(per_sample_pass, 2),
                 "quantize_after_statistics_seconds": round(after_statistics, 1),
                 "fp_image_seconds": fp_image, "int8_image_seconds": int8_image,
                 "quantize_peak_rss_gb": round(quantize["peak_rss_mb"] / 1024, 2)},
    "projected_seconds": {"statistics (once)": round(statistics), "fp_images": round(captions * fp_image),
                          **{f"candidate {name}": round(seconds) for name, seconds in candidate.items()},
                          "quantize (chosen, from the shared statistics)": round(after_statistics)},
    "search_seconds": round(search),
    "one_quantization_seconds": round(one_quantization),
    "search_over_one_quantization": round(search / one_quantization, 2),
}
out = root / "reports/recipe_search/avx512_bf16/search-cost/pixart-lcm-100-samples-projected.json"
out.write_text(json.dumps(record, indent=2) + "\n")
print(json.dumps(record, indent=2))
