"""The summary table: one row per enabled variant x device (and recorded runs of the others), beside the
OpenVINO notebooks' published figures. Every cell is filled: a value that does not exist says why, as
"n/a (reason)".

Reads metrics/<variant>/*.json and metrics/<variant>/<device>/*.json.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ov_diffusion_quant.common import artifacts, paths
from ov_diffusion_quant.config.params import Params
from ov_diffusion_quant.runtime import host_facts

MEASURED = "measured, this machine"
RECORDED = "recorded run, not re-run by this repro"
PUBLISHED = "published, other hardware"
NOT_PUBLISHED = "n/a (not published)"
MODES = ("text2image", "image2image")
# The OpenVINO notebooks' printed results (their hardware, full-size models, FP16 IR at the device default).
PUBLISHED_ROWS = (
    {"variant": "sdxl-turbo", "device": "notebook run A", "speedup_vs_fp": 1.78, "unet_compression": 1.995,
     "note": "sdxl-turbo notebook: text-to-image pipeline with INT8 UNet vs FP16 (1.391 s -> 0.781 s); "
             "UNet .bin 1.995x"},
    {"variant": "sdxl-turbo", "device": "notebook run B", "speedup_vs_fp": 2.64,
     "note": "sdxl-turbo notebook, another published run: text-to-image pipeline 1.775 s -> 0.673 s"},
    {"variant": "pixart-lcm", "device": "notebook", "speedup_vs_fp": 1.013, "transformer_compression": 1.979,
     "text_encoder_compression": 4.514, "vae_decoder_compression": 2.012,
     "note": "pixart notebook: hybrid transformer, INT4 text encoder and VAE decoder vs FP16"},
)
SECTIONS = {
    "Size (MB on disk; compression = FP size / optimized size)": ("fp_mb", "optimized_mb", "compression_ratio"),
    "Similarity of FP and optimized images (same prompts and seeds)": tuple(
        f"{mode}_{metric}" for mode in MODES
        for metric in ("psnr_mean", "psnr_min", "ssim_mean", "ssim_min", "clip_sim")) + ("prompt_adherence",),
    "Latency on this machine (median seconds per image) and speedups": (
        "fp_precision", "fp_median_s", "fp_f32_median_s", "optimized_median_s", "speedup_vs_fp", "speedup_vs_fp_f32",
        "denoiser_step_speedup_vs_fp", "denoiser_step_speedup_vs_fp_f32", "genai_fp_median_s",
        "genai_optimized_median_s", "genai_speedup", "other_processes_cpu_share"),
    "Cost (load = a fresh process's load_variant, library imports included)": (
        "calibration_s_per_sample", "calibration_notebook_way_over_latents_only", "quantize_s",
        "quantize_peak_rss_mb", "load_fp_s", "load_optimized_s",
        "compile_fp_s", "compile_optimized_s", "peak_rss_fp_mb", "peak_rss_optimized_mb"),
}
def read_json(path: Path) -> dict | None:
    return artifacts.read_json(path) if path.exists() else None


def missing(path: Path, stage: str) -> str:
    return f"n/a (no {path}: run `dvc repro {stage}`)"


def size_columns(quantize: dict | None, path: Path, stage: str, family: str, components: list[str]) -> dict:
    if quantize is None:
        return {column: missing(path, stage) for column in ("fp_mb", "optimized_mb", "compression_ratio",
                                                            *(f"{c}_compression" for c in components))}
    row = {name: quantize[name] for name in ("fp_mb", "optimized_mb", "compression_ratio")}
    for component in components:
        if component in quantize["components"]:
            row[f"{component}_compression"] = quantize["components"][component]["compression_ratio"]
        else:
            row[f"{component}_compression"] = f"n/a (not in {family}'s recipes)"
    return row


def similarity_columns(evaluate: dict | None, path: Path, stage: str, family: str) -> dict:
    columns = SECTIONS["Similarity of FP and optimized images (same prompts and seeds)"]
    if evaluate is None:
        return {column: missing(path, stage) for column in columns}
    # the reason ends in advice on how to fix it; its first clause is enough here
    clip_skipped = evaluate.get("clip_sim_skipped", "").split(": ")[0]
    row = {}
    for mode in MODES:
        if mode not in evaluate:
            row.update({f"{mode}_{metric}": f"n/a ({family} has no {mode})"
                        for metric in ("psnr_mean", "psnr_min", "ssim_mean", "ssim_min", "clip_sim")})
            continue
        for metric in ("psnr", "ssim"):
            row[f"{mode}_{metric}_mean"] = evaluate[mode][metric]["mean"]
            row[f"{mode}_{metric}_min"] = evaluate[mode][metric]["min"]
        clip = evaluate[mode].get("clip_sim")
        row[f"{mode}_clip_sim"] = (f"{clip['mean']:.4f} (min {clip['min']:.4f})" if clip
                                   else f"n/a (CLIP skipped: {clip_skipped or 'no reason recorded'})")
    judged = evaluate.get("adherence")  # the scenes judge: mean accuracy over the five attributes (the gated score)
    row["prompt_adherence"] = (f"FP {judged['fp']['attributes']:.3f}, optimized {judged['optimized']['attributes']:.3f}"
                               if judged else "n/a (no judge: not a trained reference model)")
    return row


def latency_columns(benchmark: dict | None, path: Path, stage: str) -> dict:
    columns = SECTIONS["Latency on this machine (median seconds per image) and speedups"]
    if benchmark is None:
        return {column: missing(path, stage) for column in columns}
    configurations, speedup, env = benchmark["configurations"], benchmark["speedup"], benchmark["env"]
    absent = {
        "fp": "n/a (benchmark.bf16_baseline is off)",
        "fp_f32": "n/a (benchmark.f32_baseline is off)",
        "optimized": "n/a (not measured)",
        "genai_fp": f"n/a ({env.get('genai', 'GenAI not run')})",
        "genai_optimized": f"n/a ({env.get('genai', 'GenAI not run')})",
    }

    def median_of(name):
        return configurations[name]["latency_s"]["median"] if name in configurations else absent[name]

    def speedup_of(label, baseline, candidate):
        if label in speedup:
            return speedup[label]
        return absent[baseline] if baseline not in configurations else absent[candidate]

    fp_env = env.get("configurations", {}).get("fp", {})
    return {
        "fp_precision": fp_env.get("inference_precision", absent["fp"]),
        "fp_median_s": median_of("fp"),
        "fp_f32_median_s": median_of("fp_f32"),
        "optimized_median_s": median_of("optimized"),
        "speedup_vs_fp": speedup_of("optimized_vs_fp", "fp", "optimized"),
        "speedup_vs_fp_f32": speedup_of("optimized_vs_fp_f32", "fp_f32", "optimized"),
        "denoiser_step_speedup_vs_fp": speedup_of("denoiser_step_optimized_vs_fp", "fp", "optimized"),
        "denoiser_step_speedup_vs_fp_f32": speedup_of("denoiser_step_optimized_vs_fp_f32", "fp_f32", "optimized"),
        "genai_fp_median_s": median_of("genai_fp"),
        "genai_optimized_median_s": median_of("genai_optimized"),
        "genai_speedup": speedup_of("genai_optimized_vs_genai_fp", "genai_fp", "genai_optimized"),
        # timings taken while other processes were busy are noisy: say how busy
        "other_processes_cpu_share": env.get("other_processes_cpu_share", "n/a (not recorded)"),
    }


def cost_columns(calibrate: dict | None, quantize: dict | None, benchmark: dict | None, name: str,
                 device: str) -> dict:
    def from_benchmark(configuration, key, label):
        if benchmark is None:
            return missing(paths.metrics(name, "benchmark.json", device), f"benchmark@{name}-{device}")
        measured = benchmark["configurations"].get(configuration)
        return measured[key] if measured else f"n/a ({label} not benchmarked)"

    quantize_missing = missing(paths.metrics(name, "quantize.json", device), f"quantize@{name}-{device}")
    return {
        "calibration_s_per_sample": calibrate["seconds_per_sample"] if calibrate
        else missing(paths.metrics(name, "calibrate.json"), f"calibrate@{name}"),
        "calibration_notebook_way_over_latents_only": calibrate.get(
            "notebook_way_over_latents_only", "n/a (calibrate.compare_notebook_prompts is 0)") if calibrate
        else missing(paths.metrics(name, "calibrate.json"), f"calibrate@{name}"),
        "quantize_s": quantize["seconds"] if quantize else quantize_missing,
        "quantize_peak_rss_mb": quantize["peak_rss_mb"] if quantize else quantize_missing,
        "load_fp_s": from_benchmark("fp", "load_seconds", "FP"),
        "load_optimized_s": from_benchmark("optimized", "load_seconds", "optimized"),
        "compile_fp_s": from_benchmark("fp", "compile_seconds", "FP"),
        "compile_optimized_s": from_benchmark("optimized", "compile_seconds", "optimized"),
        "peak_rss_fp_mb": from_benchmark("fp", "peak_rss_mb", "FP"),
        "peak_rss_optimized_mb": from_benchmark("optimized", "peak_rss_mb", "optimized"),
    }


def reported(params: Params) -> list[tuple[str, str, str]]:
    """(variant, device, source): every enabled variant x device, then recorded runs of the others."""
    rows = [(name, device, MEASURED) for name in params.enabled for device in params.devices]
    for name in params.variants:
        if name in params.enabled or not (paths.METRICS / name).is_dir():
            continue
        rows += [(name, device_dir.name, RECORDED) for device_dir in sorted((paths.METRICS / name).iterdir())
                 if (device_dir / "benchmark.json").is_file()]
    return rows


def measured_host(data: dict) -> dict | None:
    """The host a row's metrics were measured on: their "host" block, or (metrics written before it existed)
    what the benchmark's environment says."""
    for stem in ("benchmark", "evaluate", "quantize"):
        if data.get(stem) and "host" in data[stem]:
            return data[stem]["host"]
    env = (data.get("benchmark") or {}).get("env")
    if env and "cpu_flags" in env:
        isa = "amx" if env["cpu_flags"].get("amx_int8") == "yes" else \
            "avx512_vnni" if env["cpu_flags"].get("avx512_vnni") == "yes" else "unknown"
        return {"isa_class": isa, "precision": env.get("configurations", {}).get("fp", {}).get("inference_precision")}
    return None


def other_host_mark(measured: dict | None) -> str:
    """"" for this host's kind (ISA class and precision), else what the row was measured on."""
    if measured is None:
        return "host not recorded"
    here = host_facts.provenance()
    if (measured.get("isa_class"), measured.get("precision")) == (here["isa_class"], here["precision"]):
        return ""
    return f"other host: {measured.get('isa_class')}, {measured.get('precision')}"


def measured_row(params: Params, name: str, device: str, components: list[str], source: str = MEASURED) -> dict:
    family = params.variant(name).model.family
    files = {stem: paths.metrics(name, f"{stem}.json", device) for stem in ("quantize", "evaluate", "benchmark")}
    files["calibrate"] = paths.metrics(name, "calibrate.json")
    data = {stem: read_json(path) for stem, path in files.items()}
    return {
        "source": source, "variant": name, "device": device, "host_mark": other_host_mark(measured_host(data)),
        **size_columns(data["quantize"], files["quantize"], f"quantize@{name}-{device}", family, components),
        **similarity_columns(data["evaluate"], files["evaluate"], f"evaluate@{name}-{device}", family),
        **latency_columns(data["benchmark"], files["benchmark"], f"benchmark@{name}-{device}"),
        **cost_columns(data["calibrate"], data["quantize"], data["benchmark"], name, device),
        "note": f"{family}; recipes "
                + ", ".join(f"{c}={r}" for c, r in recipes_of(data, params.variant(name)).items()),
    }


def recipes_of(data: dict, variant) -> dict[str, str]:
    """The recipes the row's results measured (their `measured` block), else what params.yaml names now."""
    for stem in ("benchmark", "evaluate", "quantize"):
        recipes = ((data.get(stem) or {}).get("measured") or {}).get("recipes")
        if recipes:
            return recipes
    return {component: recipe.label() for component, recipe in variant.quantize.components.items()}


def quantized_components(params: Params) -> list[str]:
    """Components with a compression figure somewhere: quantized by an enabled variant, or published."""
    ordered: list[str] = []
    for name in dict.fromkeys(name for name, _, _ in reported(params)):
        ordered += [c for c in params.variant(name).quantize.components if c not in ordered]
    for row in PUBLISHED_ROWS:
        ordered += [key.removesuffix("_compression") for key in row
                    if key.endswith("_compression") and key.removesuffix("_compression") not in ordered]
    return ordered


def summary_table(params: Params) -> pd.DataFrame:
    components = quantized_components(params)
    rows = [measured_row(params, name, device, components, source) for name, device, source in reported(params)]
    rows += [{"source": PUBLISHED, **row} for row in PUBLISHED_ROWS]
    table = pd.DataFrame(rows)
    # published rows carry only what the notebooks printed
    return table.astype(object).where(table.notna(), NOT_PUBLISHED)
