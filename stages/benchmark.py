"""benchmark stage: latency, load time and peak memory of the FP and optimized models on one device.

    python -m stages.benchmark <variant> <device>   ->  metrics/<variant>/<device>/benchmark.json

Configurations, each measured in a fresh process (``--one``) so that its load time and
peak RSS are its own:
  fp               FP export, device's default precision (bf16 for FP16 IR on AMX CPUs)  benchmark.bf16_baseline
  fp_f32           FP export with INFERENCE_PRECISION_HINT=f32                          benchmark.f32_baseline
  optimized        quantized model, device's default precision
  genai_fp         FP export in OpenVINO GenAI's Text2ImagePipeline         benchmark.runtimes has genai; sdxl only
  genai_optimized  quantized model in GenAI
Each: `warmup` untimed runs, then `runs` timed text-to-image runs cycling through the first
`prompts` validation prompts. FP and optimized run back to back, and with `rounds` > 1 every
configuration runs again in each round with the timed runs pooled (`round_medians_s` shows the
drift). Speedups are median ratios from this same run. Numbers are metrics; strings (versions,
precision in force, why GenAI did not run) live under `env`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from stages.common import paths
from stages.runtime.devices import check_device
from stages.common.errors import UserError, argument_parser, main_with_clear_errors, one_line
from stages.common.outputs import write_json
from stages.config.params import BenchmarkParams, Params, Variant, load
from stages.common.prompts import validation_prompts
from stages.common.resources import peak_rss_mb
from stages.runtime.timing import OtherProcessesCpu, latency_summary, median, ratio, timed_compiles

log = logging.getLogger(__name__)
CPU_FLAGS = ("amx_int8", "amx_bf16", "avx512_vnni", "avx_vnni")
COMPILED_PROPERTIES = ("INFERENCE_PRECISION_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS")


@dataclass(frozen=True)
class Configuration:
    runtime: str  # "optimum" (this project's pipelines, stages.runtime.inference) or "genai"
    optimized: bool
    f32: bool = False


CONFIGURATIONS = {
    "fp": Configuration("optimum", optimized=False),
    "fp_f32": Configuration("optimum", optimized=False, f32=True),
    "optimized": Configuration("optimum", optimized=True),
    "genai_fp": Configuration("genai", optimized=False),
    "genai_optimized": Configuration("genai", optimized=True),
}
# (speedup name, baseline, candidate): median end-to-end and per-denoiser-step ratios
SPEEDUPS = (("optimized_vs_fp", "fp", "optimized"), ("optimized_vs_fp_f32", "fp_f32", "optimized"),
            ("genai_optimized_vs_genai_fp", "genai_fp", "genai_optimized"))


def planned(bench: BenchmarkParams, family: str) -> tuple[list[str], str]:
    """The configurations to run, and what happens with GenAI (a note for env)."""
    # FP and optimized back to back, so that a drift in the machine's speed affects their ratio least
    names = (["fp"] if bench.bf16_baseline else []) + ["optimized"] + (["fp_f32"] if bench.f32_baseline else [])
    if "genai" not in bench.runtimes:
        return names, "GenAI not run: benchmark.runtimes has no genai"
    if family != "sdxl":
        return names, f"GenAI not run: it is benchmarked for the sdxl family only, this is {family}"
    return names + ["genai_fp", "genai_optimized"], "loaded"


def prompt_schedule(prompts: list[dict], count: int, first_seed: int, offset: int = 0) -> list[tuple[str, int]]:
    """(caption, seed) for ``count`` runs, cycling through the prompts with a seed per run."""
    return [(prompts[(offset + i) % len(prompts)]["caption"], first_seed + offset + i) for i in range(count)]


# -- one configuration, in this process ------------------------------------------------------------
def _compiled_property(compiled, name: str):
    try:
        value = compiled.get_property(name)
    except RuntimeError:
        return None
    return value.get_type_name() if hasattr(value, "get_type_name") else value


def compiled_env(slots: dict, denoiser: str) -> dict:
    """Precision, streams and threads in force, read from the compiled models themselves."""
    compiled = {name: getattr(holder, attribute) for name, (holder, attribute) in slots.items()}
    unreported = "n/a (the device does not report it)"
    precisions = {name: _compiled_property(model, "INFERENCE_PRECISION_HINT") or unreported
                  for name, model in compiled.items()}
    env = {"inference_precision": str(precisions[denoiser]) if len(set(precisions.values())) == 1
           else ", ".join(f"{name}={value}" for name, value in precisions.items())}
    for prop in COMPILED_PROPERTIES[1:]:
        value = _compiled_property(compiled[denoiser], prop)
        env[prop.lower()] = unreported if value is None else value
    return env


def component_times(runs: list[dict[str, list[float]]], denoiser: str) -> dict[str, float]:
    """Per-image seconds of each part of the pipeline (medians over the timed runs)."""
    def per_run(select):
        return median([sum(sum(calls) for name, calls in run.items() if select(name)) for run in runs])

    return {
        "text_encoders": per_run(lambda name: name.startswith("text_encoder")),
        "denoiser": per_run(lambda name: name == denoiser),
        "denoiser_per_step": median([sum(run[denoiser]) / len(run[denoiser]) for run in runs]),
        "denoiser_steps": int(median([len(run[denoiser]) for run in runs])),
        "vae_decoder": per_run(lambda name: name == "vae_decoder"),
    }


def measure_optimum(params: Params, variant: Variant, device: str, configuration: Configuration,
                    prompts: list[dict]) -> dict:
    from stages.families import family_class
    from stages.runtime.inference import load_variant
    from stages.runtime.recording import TimedCompiledModel, hooked

    bench, generation = params.benchmark, variant.generation
    denoiser = family_class(variant.model.family).denoiser
    compiles: list[float] = []
    started = time.perf_counter()
    with timed_compiles(compiles):
        pipeline = load_variant(variant.name, device, optimized=configuration.optimized, f32=configuration.f32,
                                params=params, static_shapes=bench.static_shapes)
    load_seconds = time.perf_counter() - started
    slots = pipeline.compiled_model_slots()

    first_run = None
    for caption, seed in prompt_schedule(prompts, bench.warmup, generation.seed):
        started = time.perf_counter()
        pipeline.text_to_image(caption, generation, seed)
        first_run = first_run or time.perf_counter() - started

    calls: dict[str, list[float]] = {name: [] for name in slots}
    seconds, runs = [], []
    with contextlib.ExitStack() as stack:
        for name in slots:
            stack.enter_context(hooked(pipeline, name,
                                       lambda compiled, sink=calls[name]: TimedCompiledModel(compiled, sink)))
        for caption, seed in prompt_schedule(prompts, bench.runs, generation.seed, offset=bench.warmup):
            for sink in calls.values():
                sink.clear()
            started = time.perf_counter()
            pipeline.text_to_image(caption, generation, seed)
            seconds.append(time.perf_counter() - started)
            runs.append({name: list(sink) for name, sink in calls.items()})
    return {
        "metrics": {
            "load_seconds": round(load_seconds, 3),
            "compile_seconds": round(sum(compiles), 3),
            "first_run_seconds": round(first_run or seconds[0], 5),
            "latency_s": latency_summary(seconds),
            "runs_s": [round(value, 5) for value in seconds],
            "components_s": component_times(runs, denoiser),
            "peak_rss_mb": peak_rss_mb(),
        },
        "env": {**compiled_env(slots, denoiser), "input_shapes": "static" if bench.static_shapes else "dynamic"},
    }


def measure_genai(params: Params, variant: Variant, device: str, configuration: Configuration,
                  prompts: list[dict]) -> dict:
    import openvino_genai

    from stages.runtime.inference import dvc_target_for, model_dir_for

    bench, generation = params.benchmark, variant.generation
    model_dir = model_dir_for(variant.name, device, configuration.optimized)
    if not model_dir.is_dir():
        raise UserError(f"{model_dir} does not exist yet: run `dvc repro "
                        f"{dvc_target_for(variant.name, device, configuration.optimized)}`")

    def generate(caption: str, seed: int):
        return pipeline.generate(caption, width=generation.width, height=generation.height,
                                 num_inference_steps=generation.steps, guidance_scale=generation.guidance,
                                 generator=openvino_genai.TorchGenerator(seed))

    first_run = None
    try:
        started = time.perf_counter()
        pipeline = openvino_genai.Text2ImagePipeline(str(model_dir), device)
        load_seconds = time.perf_counter() - started
        for caption, seed in prompt_schedule(prompts, bench.warmup, generation.seed):
            started = time.perf_counter()
            generate(caption, seed)
            first_run = first_run or time.perf_counter() - started
    except Exception as error:  # noqa: BLE001 - whatever GenAI rejects the directory with: say why, do not fail
        return {"skipped": f"{model_dir} does not run in OpenVINO GenAI: {type(error).__name__}: {one_line(error)}"}

    seconds, runs = [], []
    for caption, seed in prompt_schedule(prompts, bench.runs, generation.seed, offset=bench.warmup):
        started = time.perf_counter()
        generate(caption, seed)
        seconds.append(time.perf_counter() - started)
        perf = pipeline.get_performance_metrics()  # of the last generate call; ms (unet steps in µs)
        steps = list(perf.raw_metrics.unet_inference_durations)
        runs.append({
            "text_encoders": sum(perf.get_text_encoder_infer_duration().values()) / 1e3,
            "denoiser": sum(steps) / 1e6,
            "denoiser_per_step": sum(steps) / len(steps) / 1e6 if steps else 0.0,
            "denoiser_steps": len(steps),
            "vae_decoder": perf.get_vae_decoder_infer_duration() / 1e3,
        })
    components = {name: median([run[name] for run in runs]) for name in runs[0]}
    components["denoiser_steps"] = int(components["denoiser_steps"])
    compile_config = model_dir / "compile_config.json"
    per_component = json.loads(compile_config.read_text()) if compile_config.exists() else {}
    return {
        "metrics": {
            "load_seconds": round(load_seconds, 3),
            "first_run_seconds": round(first_run or seconds[0], 5),
            "latency_s": latency_summary(seconds),
            "runs_s": [round(value, 5) for value in seconds],
            "components_s": components,
            "peak_rss_mb": peak_rss_mb(),
        },
        "env": {
            "inference_precision": "device default (GenAI does not expose its compiled models)",
            **({"compile_config": "not applied by GenAI: " + json.dumps(per_component)} if per_component else {}),
        },
    }


def measure_one(params: Params, variant: Variant, device: str, name: str, prompts: list[dict]) -> dict:
    configuration = CONFIGURATIONS[name]
    measure = measure_genai if configuration.runtime == "genai" else measure_optimum
    return measure(params, variant, device, configuration, prompts)


# -- the stage: every configuration in its own process ----------------------------------------------
def run_in_fresh_process(name: str, variant: str, device: str, prompts: list[dict]) -> dict:
    """Measure one configuration in a new Python process; the prompts go in on stdin, its JSON comes out."""
    command = [sys.executable, "-m", "stages.benchmark", "--one", name, variant, device]
    done = subprocess.run(command, input=json.dumps(prompts), capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        if done.returncode == 2 and lines and lines[-1].startswith("error: "):
            raise UserError(lines[-1].removeprefix("error: "))
        log.debug("stderr of the %s process:\n%s", name, done.stderr)
        raise RuntimeError(f"benchmark of {name} failed in its own process (exit {done.returncode}): "
                           f"{lines[-1] if lines else 'no output'}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_flags() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return {flag: "unknown (no /proc/cpuinfo)" for flag in CPU_FLAGS}
    flags = set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return {flag: "yes" if flag in flags else "no" for flag in CPU_FLAGS}


def environment(device: str, runtimes: set[str]) -> dict:
    import openvino as ov

    core = ov.Core()
    env = {
        "openvino": ov.get_version(),
        "device": device,
        "device_name": str(core.get_property(device, "FULL_DEVICE_NAME")),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_flags": cpu_flags(),
    }
    if "genai" in runtimes:
        import openvino_genai

        env["openvino_genai"] = openvino_genai.get_version()
    return env


def pooled(rounds: list[dict]) -> dict:
    """One configuration's metrics over several rounds: timed runs pooled, costs as medians, peak RSS the max."""
    if len(rounds) == 1:
        return rounds[0]
    seconds = [value for measured in rounds for value in measured["runs_s"]]
    merged = {key: median([measured[key] for measured in rounds])
              for key in ("load_seconds", "compile_seconds", "first_run_seconds") if key in rounds[0]}
    components = {key: median([measured["components_s"][key] for measured in rounds])
                  for key in rounds[0]["components_s"]}
    components["denoiser_steps"] = int(components["denoiser_steps"])
    return {**merged, "latency_s": latency_summary(seconds), "runs_s": seconds,
            "round_medians_s": [measured["latency_s"]["median"] for measured in rounds],
            "components_s": components, "peak_rss_mb": max(measured["peak_rss_mb"] for measured in rounds)}


def speedups(configurations: dict[str, dict]) -> dict[str, float]:
    result = {}
    for label, baseline, candidate in SPEEDUPS:
        if baseline in configurations and candidate in configurations:
            base, cand = configurations[baseline], configurations[candidate]
            result[label] = ratio(base["latency_s"]["median"], cand["latency_s"]["median"])
            result[f"denoiser_step_{label}"] = ratio(base["components_s"]["denoiser_per_step"],
                                                     cand["components_s"]["denoiser_per_step"])
    return {label: value for label, value in result.items() if value is not None}


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("device")
    parser.add_argument("--one", choices=sorted(CONFIGURATIONS), metavar="CONFIGURATION",
                        help="internal: measure one configuration in this process, prompts as JSON on stdin, "
                             "and print its JSON")
    args = parser.parse_args(argv)

    params = load()
    variant = params.variant(args.variant)
    device = check_device(args.device)
    if args.one:
        print(json.dumps(measure_one(params, variant, device, args.one, json.load(sys.stdin))))
        return

    # loaded once here, not in every configuration's process (the `datasets` import alone takes ~1 s)
    prompts = validation_prompts(params.validation_prompts_path, params.benchmark.prompts)
    names, genai_status = planned(params.benchmark, variant.model.family)
    by_round: dict[str, list[dict]] = {}
    env_by_configuration, skipped = {}, {}
    with OtherProcessesCpu() as others:
        for round_index in range(params.benchmark.rounds):
            for name in names:
                if name in skipped:
                    continue
                result = run_in_fresh_process(name, variant.name, device, prompts)
                if "skipped" in result:
                    skipped[name] = result["skipped"]
                    log.info("%s: skipped: %s", name, result["skipped"])
                    continue
                by_round.setdefault(name, []).append(result["metrics"])
                env_by_configuration[name] = result["env"]
                measured = result["metrics"]
                log.info("round %d/%d %s: median %.4f s, load %.2f s, peak RSS %.0f MB, precision %s",
                         round_index + 1, params.benchmark.rounds, name, measured["latency_s"]["median"],
                         measured["load_seconds"], measured["peak_rss_mb"], result["env"]["inference_precision"])
    configurations = {name: pooled(rounds) for name, rounds in by_round.items()}
    if others.share > 0.1:
        log.warning("note: other processes used %.0f%% of this machine's CPU during the benchmark: the timings "
                    "are noisy", others.share * 100)

    env = environment(device, {CONFIGURATIONS[name].runtime for name in names})
    env["other_processes_cpu_share"] = others.share
    env.update(genai="; ".join(dict.fromkeys(skipped.values())) or genai_status, configurations=env_by_configuration)
    write_json(paths.metrics(variant.name, "benchmark.json", device),
               {"configurations": configurations, "speedup": speedups(configurations), "env": env})


if __name__ == "__main__":
    raise SystemExit(main())
