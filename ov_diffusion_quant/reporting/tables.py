"""The tables of results the docs link to, made from the committed metrics and records: `ovdq tables`.

    reports/benchmarks.md        every benchmarked run: latency, speedups, components, memory, sizes, costs;
                                 and each op profile against its INT8 ceiling
    reports/resources.md         the pre-flight's memory estimate beside the peak each heavy stage reached
    reports/recipe_search.md     the recipe search per host class: choice, held-out gate, saturation, speed
    reports/scaling/scaling.md   calibration time and memory against the number of samples (+ scaling.csv)
    reports/op_profile.md        every variant's op profile per kind of CPU (reports/<variant>/op_profile-*.md)

Every row names its host class and precision and the file it comes from; nothing is typed in by hand.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

import pandas as pd

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.quantization.chosen import failed_label

REPORTS = paths.REPORTS
RECORDED = "recorded"  # reports/<variant>/recorded/<run>-[CPU-]<stage>.json: runs kept beside the current metrics
GENERATED = "Made by `ovdq tables` from the committed files each row links; do not edit."


def _json(path: Path) -> dict | list | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _link(path: Path, text: str | None = None) -> str:
    target = path.relative_to(REPORTS).as_posix() if path.is_relative_to(REPORTS) else "../" + path.as_posix()
    return f"[{text or path.name}]({target})"


def _fmt(value, spec: str = ".3f", unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def host_of(record: dict | None) -> tuple[str, str]:
    """(host class, precision) of a metrics file: its host block, or (older runs) its benchmark environment."""
    if not record:
        return "?", "?"
    if "host" in record:
        return record["host"]["isa_class"], record["host"]["precision"]
    env = record.get("env", {})
    flags = env.get("cpu_flags", {})
    isa = "amx" if flags.get("amx_int8") == "yes" else "avx512_vnni" if flags.get("avx512_vnni") == "yes" else "?"
    return isa, env.get("configurations", {}).get("fp", {}).get("inference_precision", "?")


# 1. Benchmarked runs -------------------------------------------------------------------------------------------------

def benchmark_runs() -> list[dict]:
    """Every benchmarked run: metrics/<v>/<device>/ and reports/<v>/recorded/, with the stage records beside it."""
    runs = []
    for benchmark in sorted(paths.METRICS.glob("*/*/benchmark.json")):
        variant, device = benchmark.parts[-3], benchmark.parts[-2]
        runs.append({"variant": variant, "device": device, "benchmark": benchmark,
                     "quantize": paths.metrics(variant, "quantize.json", device),
                     "evaluate": paths.metrics(variant, "evaluate.json", device),
                     "export": paths.metrics(variant, "export.json"),
                     "calibrate": paths.metrics(variant, "calibrate.json")})
    for benchmark in sorted(REPORTS.glob(f"*/{RECORDED}/*-benchmark.json")):
        stem = benchmark.name.removesuffix("-benchmark.json")  # <run>-<device>
        run, device = stem.rsplit("-", 1)
        folder = benchmark.parent
        runs.append({"variant": benchmark.parts[-3], "device": device, "benchmark": benchmark, "run": run,
                     "quantize": folder / f"{stem}-quantize.json", "evaluate": folder / f"{stem}-evaluate.json",
                     "export": folder / f"{run}-export.json",
                     "calibrate": folder / f"{run}-calibrate.json"})
    return runs


def _config(benchmark: dict, name: str) -> dict | None:
    return benchmark["configurations"].get(name)


def _pair(benchmark: dict, key: Callable[[dict], float | None], spec: str = ".3f") -> str:
    fp, opt = _config(benchmark, "fp"), _config(benchmark, "optimized")
    if not fp or not opt or key(fp) is None:
        return "-"
    return f"{key(fp):{spec}} → {key(opt):{spec}} ({key(fp) / key(opt):.2f}×)"


def _similarity(evaluate: dict | None, path: Path) -> str:
    """SSIM and PSNR minima of FP against optimized, text-to-image (and image-to-image)."""
    if not evaluate:
        return "-"
    modes = [f"{label} {evaluate[mode]['ssim']['min']:.3f} / {evaluate[mode]['psnr']['min']:.1f} dB"
             for mode, label in (("text2image", "t2i"), ("image2image", "i2i")) if mode in evaluate]
    return "; ".join(modes) + f" ({_link(path)})"


def _components_quantized(quantize: dict | None) -> str:
    """Per quantized component: seconds (NNCF's phases), peak RSS."""
    cells = []
    for component, done in (quantize or {}).get("components", {}).items():
        phases = done.get("phase_seconds")
        detail = (f" (statistics {phases['statistics']:.0f}, SmoothQuant {phases['smooth_quant']:.0f}, bias correction "
                  f"{phases['bias_correction']:.0f})" if phases else "")
        peak = f", {done['peak_rss_mb'] / 1024:.1f} GB" if "peak_rss_mb" in done else ""
        cells.append(f"{component} {done['seconds']:.0f} s{detail}{peak}")
    return "; ".join(cells) or "-"


def run_column(run: dict) -> dict[str, str]:
    benchmark = _json(run["benchmark"])
    quantize, export, calibrate, evaluate = (_json(run[stage]) for stage in ("quantize", "export", "calibrate",
                                                                            "evaluate"))
    isa, precision = host_of(benchmark)
    measured = benchmark.get("measured", {})
    speedup = benchmark["speedup"]
    medians = [_fmt((_config(benchmark, name) or {}).get("latency_s", {}).get("median"), ".3f", " s")
               for name in ("fp", "fp_f32", "optimized")]
    components = (quantize or {}).get("components", {})
    return {
        "run": _link(run["benchmark"],
                     f"{run['variant']}/{run['device']}" + (f" ({run['run']})" if "run" in run else "")),
        "host class, FP precision": f"{isa}, {precision}",
        "resolution, steps": (f"{measured['width']}×{measured['height']}, {measured['steps']}" if measured
                              else "not recorded"),
        "recipes": ", ".join(f"{c}={r}" for c, r in measured.get("recipes", {}).items())
                   or ", ".join(f"{c}={d['recipe']}" for c, d in components.items()) or "-",
        "per image FP / FP f32 / optimized": " / ".join(medians),
        "speedup vs FP / vs FP f32": f"**{_fmt(speedup.get('optimized_vs_fp'), '.2f', '×')}** / "
                                     f"{_fmt(speedup.get('optimized_vs_fp_f32'), '.2f', '×')}",
        "GenAI runtime speedup": _fmt(speedup.get("genai_optimized_vs_genai_fp"), ".2f", "×"),
        "denoiser step, s": _pair(benchmark, lambda c: c["components_s"]["denoiser_per_step"]),
        "text encoders, s": _pair(benchmark, lambda c: c["components_s"].get("text_encoders")),
        "VAE decode, s": _pair(benchmark, lambda c: c["components_s"].get("vae_decoder")),
        "peak RSS FP / FP f32 / optimized, GB": " / ".join(
            _fmt((_config(benchmark, name) or {}).get("peak_rss_mb", 0) / 1024 or None, ".1f")
            for name in ("fp", "fp_f32", "optimized")),
        "SSIM min / PSNR min, FP vs optimized": _similarity(evaluate, run["evaluate"]),
        "model size FP → optimized, MB": (f"{quantize['fp_mb']:.0f} → {quantize['optimized_mb']:.0f}"
                                          if quantize else "-"),
        "quantized parts, MB": "; ".join(f"{c} {d['fp_mb']:.0f} → {d['optimized_mb']:.0f}"
                                         for c, d in components.items()) or "-",
        "quantize: s, peak RSS GB": (f"{quantize['seconds']:.0f}, {quantize['peak_rss_mb'] / 1024:.1f}"
                                     if quantize else "-") + (f" ({_link(run['quantize'])})" if quantize else ""),
        "quantize per component: s, peak RSS": _components_quantized(quantize),
        "export: s": (f"{export['export_seconds']:.0f} ({_link(run['export'])})" if export else "-"),
        "calibration: s per sample; notebook way over latents only": (
            f"{calibrate['seconds_per_sample']:.2f}; "
            f"{_fmt(calibrate.get('notebook_way_over_latents_only'), '.2f', '×')}"
            f" ({_link(run['calibrate'])})" if calibrate else "-"),
        "other processes' CPU share": _fmt(benchmark["env"].get("other_processes_cpu_share"), ".1%"),
    }


def _transpose(columns: list[dict[str, str]]) -> str:
    if not columns:
        return "(none)\n"
    keys = list(columns[0])
    lines = ["| | " + " | ".join(column[keys[0]] for column in columns) + " |",
             "|---|" + "---|" * len(columns)]
    lines += [f"| {key} | " + " | ".join(column[key] for column in columns) + " |" for key in keys[1:]]
    return "\n".join(lines) + "\n"


# "Per image (...): FP a s, optimized b s = **Mx**", then ", P% of the INT8 ceiling (...) **Cx**." (measured INT8
# rates) or "; INT8 ceiling (<how>) **Cx**." (the profiles made with a fixed 2:1 ceiling)
PER_IMAGE = re.compile(r"Per image \((\w+) x (\d+) steps.*?FP ([\d.]+) s, optimized ([\d.]+) s = \*\*([\d.]+)x\*\*"
                       r"(?:, (\d+)% of the INT8 ceiling.*?\*\*([\d.]+)x\*\*"
                       r"|; INT8 ceiling \(([^)]*)\) \*\*([\d.]+)x\*\*)")
SIZE = re.compile(r"static shapes, (\d+)x(\d+)")


def op_profile_rows() -> list[dict[str, str]]:
    """Each committed op profile's per-image totals and its denoiser's row, beside the INT8 ceiling."""
    rows = []
    for path in sorted(REPORTS.glob("*/op_profile-*.md")):
        text = path.read_text()
        per_image, size = PER_IMAGE.search(text), SIZE.search(text)
        if not per_image:
            continue
        denoiser = per_image.group(1)
        row = next((line.split("|") for line in text.splitlines()
                    if line.startswith(f"| {denoiser} | optimized |")), None)
        cells = [cell.strip() for cell in row[1:-1]] if row else []
        measured, ceiling = float(per_image.group(5)), float(per_image.group(7) or per_image.group(9))
        step = (f"{cells[-3]}, {cells[-2]} ({cells[-1]})" if len(cells) == 13 else f"{cells[-2]}, {cells[-1]}"
                if cells else "-")
        rows.append({"profile": _link(path, f"{path.parent.name} on {path.stem.removeprefix('op_profile-')}"),
                     "precision": cells[2] if cells else "-",
                     "size": f"{size.group(1)}×{size.group(2)}" if size else "-",
                     "INT8 ceiling per image": f"{ceiling:.2f}×"
                                               + (f" ({per_image.group(8)})" if per_image.group(8) else ""),
                     "measured per image (components summed)": f"{measured:.2f}× ({measured / ceiling:.0%})",
                     "denoiser call: ceiling, measured (of the ceiling)": step})
    return rows


def benchmarks_md() -> str:
    runs = benchmark_runs()
    full = [run_column(run) for run in runs if not run["variant"].startswith("tiny-")]
    tiny = [run_column(run) for run in runs if run["variant"].startswith("tiny-")]
    profile = pd.DataFrame(op_profile_rows())
    return "\n".join([
        "# Benchmarks", "", GENERATED, "",
        "Medians of end-to-end text-to-image runs, FP at the host's default precision, FP with f32 forced, and the "
        "optimized model, each in a fresh process (docs/benchmarks.md says how). Host class and precision per column; "
        "the `*-arch` variants are the real architectures with random weights, the tiny ones measure overhead.", "",
        "## Full-size architectures and the trained reference model", "", _transpose(full),
        "## Tiny variants (overhead, not speed)", "", _transpose(tiny),
        "## Op profiles against this CPU's INT8 ceiling", "",
        "From reports/<variant>/op_profile-<host class>.md (`ovdq profile`): static shapes, components summed per "
        "image, and the denoiser's own call.", "",
        profile.to_markdown(index=False) if len(profile) else "(none)", ""])


# 2. Pre-flight estimates against peaks -------------------------------------------------------------------------------

def resources_md() -> str:
    rows = []
    files = sorted([*paths.METRICS.glob("*/*.json"), *paths.METRICS.glob("*/*/*.json"),
                    *(REPORTS / "scaling").glob("*/*/*/*.json")])
    for path in files:
        record = _json(path)
        if not isinstance(record, dict) or "resources" not in record:
            continue
        resources, (isa, precision) = record["resources"], host_of(record)
        estimate = resources.get("estimate") or {}
        rows.append({"record": _link(path, path.relative_to(path.parts[0]).as_posix()),
                     "host class, precision": f"{isa}, {precision}",
                     "estimate GB (disk GB)": f"{_fmt(estimate.get('memory_gb'), '.1f')}"
                                              + (f" ({estimate['disk_gb']:.1f})" if estimate.get("disk_gb") else ""),
                     "basis": estimate.get("memory_basis", "-"),
                     "available at start GB": _fmt(resources.get("available_gb_at_start"), ".1f"),
                     "peak RSS GB": _fmt(resources.get("peak_rss_gb"), ".2f"),
                     "peak anonymous GB": _fmt(resources.get("peak_anonymous_gb"), ".2f")})
    table = pd.DataFrame(rows)
    return "\n".join(["# Pre-flight estimates beside the peaks", "", GENERATED, "",
                      "The `resources` block of every heavy stage's record (runtime/preflight.py): the memory it "
                      "expected to need and why, and what it reached (RSS counts the memory-mapped IR's pages).", "",
                      table.to_markdown(index=False) if len(table) else "(none)", ""])


# 3. The recipe search per host class ---------------------------------------------------------------------------------

SEARCH = REPORTS / "recipe_search"
# candidates timed by the twin with the same ops in INT8 (only bias values differ: full bias correction is hours at
# full size)
TIMED_AS = {"float-embeddings-full-bias-correction": "float-embeddings",
            "saturation-free": "saturation-free-fast-bias-correction",
            "saturation-free-int8-attention": "saturation-free-int8-attention-fast-bias-correction"}


def held_out(path: Path, gate) -> str:
    """Adherence, SSIM and PSNR minimum on the held-out captions, and the gate's verdict on them."""
    from ov_diffusion_quant.evaluation.checks import metric_checks

    data = _json(path)
    a = data["adherence"]
    failed = [c.metric.split(" ")[0].replace("prompt", "adherence")
              for c in metric_checks("held-out", "CPU", gate, data, "") if not c.passed]
    return (f"{a['fp']['attributes']:.3f} → {a['optimized']['attributes']:.3f} ({a['drop']:.3f}), SSIM "
            f"{data['text2image']['ssim']['min']:.3f}, PSNR {data['text2image']['psnr']['min']:.1f} dB: "
            + (f"**FAIL** ({', '.join(failed)})" if failed else "pass") + f" ({_link(path)})")


def _candidates(search: dict) -> dict[str, dict]:
    return {row["candidate"]: row for row in search["candidates"]}


def speed_ratio(directory: Path, chosen: str) -> str:
    record = _json(directory / "recipe_speed.json")
    if not record:
        return "not measured"
    rows, twin = record["rows"], TIMED_AS.get(chosen)
    if chosen in rows:
        return f"{rows[chosen]['speed_vs_notebook']:.3f}×"
    if twin in rows:
        return f"{rows[twin]['speed_vs_notebook']:.3f}× (as {twin})"
    return "not measured"


def pixart_arch_speed(directory: Path, chosen: str) -> str:
    """The chosen recipe's speed over FP on pixart-lcm-arch at 1024² (`make bench-arch` records), where one ran the
    same recipes on the search's host class."""
    search = _json(directory / "recipe.json")
    recipes = _candidates(search)[chosen]["recipes"]
    records = [paths.METRICS / "pixart-lcm-arch" / "CPU" / "benchmark.json",
               *sorted((REPORTS / "pixart-lcm-arch" / "recorded").glob("*benchmark.json"))]
    for path in records:
        record = _json(path)
        if (record and record["measured"]["height"] == 1024 and record["measured"]["recipes"] == recipes
                and record["host"]["isa_class"] == search["host"]["isa_class"]):
            speedup = record["speedup"]
            return (f"step {speedup['denoiser_step_optimized_vs_fp']:.2f}×, image {speedup['optimized_vs_fp']:.2f}× "
                    f"({record['host']['precision']}, {_link(path, 'benchmark')})")
    return "not measured"


def per_class_rows(gate, family_records: str | None = None, speed: Callable[[Path, str], str] = speed_ratio,
                   speed_header: str = "full-size denoiser step, chosen vs default") -> list[str]:
    """One row per host class: the notebook's recipe and the search's choice on the held-out captions. The SDXL
    reference's records are reports/recipe_search/<class>/, another family's <class>/<family_records>/."""
    lines = ["| host class (precision) | default on held-out: adherence FP → opt. (drop), SSIM min, PSNR min: gate | "
             f"chosen | chosen on held-out | INT8 share of MACs, default → chosen | {speed_header} |",
             "|---|---|---|---|---|---|"]
    classes = sorted(p for p in SEARCH.iterdir() if p.is_dir())
    for directory in [c / family_records for c in classes] if family_records else classes:
        if not (directory / "recipe.json").exists():
            continue
        current = directory / "saturation_rule" if (directory / "saturation_rule").is_dir() else directory
        default = _candidates(_json(directory / "recipe.json"))["notebook"]
        search = _json(current / "recipe.json")
        chosen = _candidates(search).get(search.get("chosen"))
        if not chosen:
            lines.append(f"| {_link(current / 'recipe.json', current.relative_to(SEARCH).parts[0])} | ... | none "
                         f"(closest: {search.get('closest')}) | - | - | - |")
            continue
        lines.append(f"| {_link(current / 'recipe.json', current.relative_to(SEARCH).parts[0])} "
                     f"({search['host']['precision']}) | "
                     f"{held_out(directory / 'evaluate_default.json', gate)} | {chosen['candidate']} | "
                     f"{held_out(current / 'evaluate_chosen.json', gate)} | "
                     f"{_fmt(default.get('int8_macs_share'), '.4f')} → {chosen['int8_macs_share']:.4f} | "
                     f"{speed(current, chosen['candidate'])} |")
    return lines


def _drop(drop, stopped) -> str:
    """A candidate's adherence drop; a stopped one's is the least it could still be, shown where it says anything."""
    if not stopped:
        return _fmt(drop)
    return f"≥ {_fmt(drop)}" if drop is not None and drop > 0 else "-"


def candidate_rows() -> list[str]:
    """Every candidate of every recorded search on the validation captions."""
    lines = ["| search | host (precision) | candidate | gate on validation | adherence drop | SSIM min | PSNR min | "
             "INT8 share of the denoiser's MACs | of the image's |", "|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(SEARCH.rglob("recipe*.json")):
        search = _json(path)
        if not isinstance(search, dict) or "candidates" not in search:
            continue
        host = search.get("host", {})
        for row in search["candidates"]:
            stopped = row.get("stopped_early")  # its adherence drop is the least it could still reach
            verdict = ("skipped: " + row["failed_checks"][0].split(": ", 2)[-1] if row.get("skipped")
                       else "**chosen**" if row["candidate"] == search.get("chosen") else "pass" if row["passed"]
                       else failed_label(row))
            lines.append(f"| {_link(path, path.relative_to(SEARCH).as_posix())} | {host.get('isa_class', '?')} "
                         f"({host.get('precision', '?')}) | {row['candidate']} | {verdict} | "
                         f"{_drop(row.get('adherence_drop'), stopped)} | {_fmt(row.get('ssim_min_t2i'))} | "
                         f"{_fmt(row.get('psnr_min_t2i'), '.1f')} | {_fmt(row.get('int8_macs_share'), '.4f')} | "
                         f"{_fmt(row.get('image_int8_macs_share'), '.4f')} |")
    return lines


def speed_rows() -> list[str]:
    """The candidates' full-size UNet step (scripts/recipe_speed.py records), interleaved with FP."""
    lines = ["| record | host (precision) | rounds | model | recipe | INT8 share of MACs | step, median s | vs FP | "
             "vs the first candidate: median ratio (per-round min–max) |", "|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(SEARCH.rglob("recipe_speed*.json")):
        record = _json(path)
        host = record["host"]
        for name, row in record["rows"].items():
            per_round = next((v for k, v in row.items() if k.endswith("_per_round")), None)
            ratio = next((v for k, v in row.items()
                          if k.startswith("speed_vs_") and not k.endswith("_per_round")), None)
            spread = f" ({per_round['min']:.2f}–{per_round['max']:.2f})" if per_round else ""
            lines.append(f"| {_link(path, path.relative_to(SEARCH).as_posix())} | {host['isa_class']} "
                         f"({host['precision']}) | {record['rounds']} | {name} | `{row['recipe']}` | "
                         f"{row['int8_macs_share']:.4f} | {row['step_seconds_median']:.3f} | "
                         f"{row['speedup_vs_fp']:.2f}× | {_fmt(ratio, '.3f', '×')}{spread} |")
    return lines


def held_out_rows(gate) -> list[str]:
    lines = ["| run | host class | recipe | held out: adherence FP → opt. (drop), SSIM min, PSNR min: gate |",
             "|---|---|---|---|"]
    for path in sorted(SEARCH.glob("*/held_out_by_recipe/evaluate_*.json")):
        lines.append(f"| {path.parent.parent.name} | {host_of(_json(path))[0]} | "
                     f"{path.stem.removeprefix('evaluate_')} | {held_out(path, gate)} |")
    return lines


def divergence_rows() -> list[str]:
    """The INT8 ops that compute differently with and without VNNI (records of the divergence runs)."""
    lines = ["| record | recipe | saturating INT8 ops (by the rule) | ops that differ between the classes | "
             "op error vs FP, per class | UNet output error vs FP, mean per class |", "|---|---|---|---|---|---|"]
    for path in sorted(SEARCH.glob("*/int8_divergence*.json")):
        record = _json(path)
        for name, result in record["divergence"].items():
            classes = record["classes"]
            saturating = record["models"][name]["saturating_without_vnni"]
            lines.append(f"| {_link(path, path.relative_to(SEARCH).as_posix())} | {name} | "
                         f"{'; '.join(f'{n} {cause}' for cause, n in saturating.items()) or 'none'} | "
                         f"{result['ops_differing_between_classes']} of {result['ops']} | "
                         + " / ".join(f"{result['op_error_vs_fp'][c]:.3f}" for c in classes) + " | "
                         + " / ".join(f"{result['output_error_vs_fp'][c]['mean']:.3f}" for c in classes)
                         + f" ({' / '.join(classes)}) |")
    return lines


def adherence_rows() -> list[str]:
    """Every judged evaluation: the scene judge's accuracy per attribute, FP and optimized."""
    lines = ["| evaluation | host (precision) | model | shape | colour | count | position | background | adherence "
             "(mean) | all five right |", "|---|---|---|---|---|---|---|---|---|---|"]
    for path in sorted([*paths.METRICS.glob("*/*/evaluate.json"), *SEARCH.rglob("evaluate_*.json")]):
        record = _json(path)
        if "adherence" not in record:
            continue
        isa, precision = host_of(record)
        for model in ("fp", "optimized"):
            judged = record["adherence"][model]
            per = judged["per_attribute"]
            lines.append(f"| {_link(path, path.relative_to(path.parts[0]).as_posix())} | {isa} ({precision}) | "
                         f"{model} | "
                         + " | ".join(f"{per[a]:.2f}" for a in ("shape", "color", "count", "position", "background"))
                         + f" | {judged['attributes']:.3f} | {judged['overall']:.2f} |")
    return lines


def regression_rows() -> list[str]:
    path = REPORTS / "recipe_regressions.json"
    lines = ["| variant | host (precision) | recipe | SSIM min | PSNR min | adherence FP → opt. | gate |",
             "|---|---|---|---|---|---|---|"]
    for row in _json(path) or []:
        adherence = (f"{row['adherence_fp']:.3f} → {row['adherence_optimized']:.3f}"
                     if row.get("adherence_fp") is not None else "-")
        gate = row["gate"] if row["gate"] == "pass" else f"**FAIL** ({', '.join(row['failed_checks'])})"
        host = row["host"]
        lines.append(f"| {row['variant']} | {host['isa_class']} ({host['precision']}) | {row['recipe']} | "
                     f"{row['ssim_min']:.3f} | {row['psnr_min']:.1f} | {adherence} | {gate} |")
    return lines


def recipe_search_md() -> str:
    from ov_diffusion_quant.config.params import load

    params = load()
    gate = params.variant("trained-sdxl-snapshot").gate
    return "\n".join([
        "# The recipe search on the trained reference models, per host class", "", GENERATED,
        "Held-out verdicts apply params.yaml's gate of the reference's snapshot variant. Records: "
        f"{_link(SEARCH, 'recipe_search/')}"
        " (a class run under `ovdq emulate` is `*-emulated`; without VNNI the choice is `saturation_rule/`'s).", "",
        "## Per host class: the SDXL reference (trained-sdxl-snapshot)", "", *per_class_rows(gate), "",
        "## Per host class: the PixArt reference (trained-pixart-snapshot, records in `<class>/pixart/`)", "",
        *per_class_rows(params.variant("trained-pixart-snapshot").gate, "pixart", pixart_arch_speed,
                        "chosen vs FP on pixart-lcm-arch, 1024², 4 steps: transformer step, image"), "",
        "## Every candidate on the validation captions", "",
        "A candidate stopped early rendered until the gate was certain to fail it: its minimums are over the captions "
        "it rendered; its adherence drop is the least it could still reach, shown where that is above 0.", "",
        *candidate_rows(), "",
        "## Held-out runs of other recipes", "", *held_out_rows(gate), "",
        "## The full-size UNet step per candidate (`scripts/recipe_speed.py`, sdxl-turbo-arch at 512²)", "",
        *speed_rows(), "",
        "## INT8 ops with and without VNNI (emulated avx512 against avx512_vnni)", "", *divergence_rows(), "",
        "## Prompt adherence per attribute (the scene judge, first 100 held-out captions)", "", *adherence_rows(), "",
        "## Deliberately worse recipes through evaluate and the gate", "",
        f"From {_link(REPORTS / 'recipe_regressions.json')}: similarity is text-to-image, minimum over prompts.", "",
        *regression_rows(), ""])


# 4. Calibration at scale ---------------------------------------------------------------------------------------------

SCALING = REPORTS / "scaling"


def scaling_rows() -> list[dict]:
    """Per variant, precision, sample count and calibrated component: calibrate's and quantize's records."""
    found = []
    for quantize_path in sorted(SCALING.glob("*/*/*/quantize.json"),
                                key=lambda p: (p.parts[-4], p.parts[-3], int(p.parts[-2]))):
        variant, requested, samples = quantize_path.parts[-4:-1]
        quantize, calibrate = _json(quantize_path), _json(quantize_path.parent / "calibrate.json")
        for component, done in quantize["components"].items():
            if "statistics_passes" not in done:
                continue  # not calibrated (weight-only recipes)
            seconds = done["phase_seconds"]
            found.append({
                "variant": variant, "precision_param": requested, "samples": int(samples),
                "size": ("{width}×{height}, {steps} steps".format(**quantize["measured"]) if "measured" in quantize
                         else "-"),
                "host": quantize["host"]["isa_class"], "inference_precision": quantize["host"]["precision"],
                "label": f"{variant} {component} ({done['statistics_precision']} statistics)",
                "calibrate_seconds": calibrate["seconds"],
                "calibrate_seconds_per_sample": calibrate["seconds_per_sample"],
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


def scaling_outputs() -> dict[Path, str]:
    table = pd.DataFrame(scaling_rows())
    outputs = {SCALING / "scaling.csv": table.to_csv(index=False)}
    shown = table[["variant", "size", "host", "statistics_precision", "samples", "calibrate_seconds_per_sample",
                   "calibrate_peak_rss_gb", "component", "passes", "statistics_seconds", "smooth_quant_seconds",
                   "bias_correction_seconds", "saving_seconds", "quantize_minutes", "component_peak_rss_gb",
                   "quantize_peak_rss_gb"]]
    outputs[SCALING / "scaling.md"] = (
        "# Calibration at scale\n\nMade by `ovdq tables` from the records in "
        "reports/scaling/<variant>/<precision param>/<samples>/ (`ovdq experiment <variant> --calibration-sizes "
        "N...`); do not edit. The host class and the precision the statistics ran in are per row.\n\n" + shown.to_markdown(index=False) + "\n")
    return outputs


# 5. The op profiles, gathered ----------------------------------------------------------------------------------------

def op_profile_md() -> str:
    parts = ["# Where the time goes (`ovdq profile`): each variant's latest profile per kind of CPU, from "
             "reports/<variant>/"]
    for path in sorted(REPORTS.glob("*/op_profile-*.md")):
        text = path.read_text().splitlines()
        parts += ["", f"## {path.parent.name} on `{path.stem.removeprefix('op_profile-')}`: "
                      f"{text[0].removeprefix('# ')}", *text[1:]]
    return "\n".join(parts) + "\n"


def outputs() -> dict[Path, str]:
    """Every table file and its content."""
    return {REPORTS / "benchmarks.md": benchmarks_md(), REPORTS / "resources.md": resources_md(),
            REPORTS / "recipe_search.md": recipe_search_md(), REPORTS / "op_profile.md": op_profile_md(),
            **scaling_outputs()}


def write(files: dict[Path, str]) -> list[Path]:
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)


def stale() -> list[Path]:
    """The table files whose committed content is not what the committed records make."""
    return [path for path, text in outputs().items() if not path.is_file() or path.read_text() != text]


def write_scaling() -> list[Path]:
    return write(scaling_outputs())


def write_op_profiles() -> list[Path]:
    return write({REPORTS / "op_profile.md": op_profile_md()})
