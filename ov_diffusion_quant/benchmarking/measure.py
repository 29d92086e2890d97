"""One benchmark configuration, measured in this process: load, warm up, timed text-to-image runs.

The stage runs each configuration in a fresh process (``python -m stages.benchmark --one``) so that its
load time and peak RSS are its own. Each: `warmup` untimed runs, then `runs` timed runs cycling through
the first `prompts` validation prompts.
"""

from __future__ import annotations

import contextlib
import json
import time

from ov_diffusion_quant.common.errors import one_line
from ov_diffusion_quant.benchmarking.configurations import CONFIGURATIONS, Configuration, prompt_schedule
from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.common.resources import peak_rss_mb
from ov_diffusion_quant.config.params import Params, Variant
from ov_diffusion_quant.runtime.timing import latency_summary, median, timed_compiles

COMPILED_PROPERTIES = ("INFERENCE_PRECISION_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS")


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


def timed_metrics(load_seconds: float, compiles: list[float], first_run: float | None, seconds: list[float],
                  runs: list[dict[str, list[float]]], denoiser: str) -> dict:
    """A configuration's metrics from its load, its timed runs and their per-component calls."""
    return {
        "load_seconds": round(load_seconds, 3),
        "compile_seconds": round(sum(compiles), 3),
        "first_run_seconds": round(first_run or seconds[0], 5),
        "latency_s": latency_summary(seconds),
        "runs_s": [round(value, 5) for value in seconds],
        "components_s": component_times(runs, denoiser),
        "peak_rss_mb": peak_rss_mb(),
    }


def measure_optimum(params: Params, variant: Variant, device: str, configuration: Configuration,
                    prompts: list[dict]) -> dict:
    from ov_diffusion_quant.families import family_for
    from ov_diffusion_quant.orchestration.inference import load_variant
    from ov_diffusion_quant.runtime.recording import TimedCompiledModel, hooked

    bench, generation = params.benchmark, variant.generation
    denoiser = family_for(variant).denoiser
    compiles: list[float] = []
    started = time.perf_counter()
    with timed_compiles(compiles):
        pipeline = load_variant(variant.name, device, optimized=configuration.optimized, f32=configuration.f32,
                                params=params, static_shapes=bench.static_shapes, peer=configuration.peer)
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
        "metrics": timed_metrics(load_seconds, compiles, first_run, seconds, runs, denoiser),
        "env": {**compiled_env(slots, denoiser), "input_shapes": "static" if bench.static_shapes else "dynamic"},
    }


def measure_text_encoder_apart(params: Params, variant: Variant, device: str, configuration: Configuration,
                                prompts: list[dict]) -> dict:
    """The pipeline in two parts that are never in memory together: the text encoder alone encodes every prompt of
    the schedule and is released, then the denoiser and decoder generate from those encodings. Each run's latency is
    its encoding plus its generation; load and compile times are both parts' sums, peak RSS the higher part's."""
    import gc

    from ov_diffusion_quant.families import family_for
    from ov_diffusion_quant.orchestration.inference import load_variant
    from ov_diffusion_quant.runtime.recording import TimedCompiledModel, hooked

    bench, generation = params.benchmark, variant.generation
    family = family_for(variant)
    denoiser = family.denoiser
    schedule = prompt_schedule(prompts, bench.warmup + bench.runs, generation.seed)
    compiles: list[float] = []
    load_seconds = 0.0

    def load(parts):
        nonlocal load_seconds
        started = time.perf_counter()
        with timed_compiles(compiles):
            pipeline = load_variant(variant.name, device, optimized=configuration.optimized, f32=configuration.f32,
                                    params=params, static_shapes=bench.static_shapes, parts=parts,
                                    peer=configuration.peer)
        load_seconds += time.perf_counter() - started
        return pipeline

    pipeline = load(("text_encoder",))
    slots = pipeline.compiled_model_slots()
    env = compiled_env(slots, "text_encoder")
    encoded, encode_seconds = [], []
    for caption, _ in schedule:
        started = time.perf_counter()
        encoded.append(pipeline.encode(caption))
        encode_seconds.append(time.perf_counter() - started)
    del pipeline, slots
    gc.collect()

    pipeline = load(tuple(name for name in family.components if name != "text_encoder"))
    slots = pipeline.compiled_model_slots()
    first_run = None
    for index in range(bench.warmup):
        started = time.perf_counter()
        pipeline.text_to_image(schedule[index][0], generation, schedule[index][1], encoded=encoded[index])
        first_run = first_run or time.perf_counter() - started + encode_seconds[index]
    calls: dict[str, list[float]] = {name: [] for name in slots}
    seconds, runs = [], []
    with contextlib.ExitStack() as stack:
        for name in slots:
            stack.enter_context(hooked(pipeline, name,
                                       lambda compiled, sink=calls[name]: TimedCompiledModel(compiled, sink)))
        for index in range(bench.warmup, len(schedule)):
            for sink in calls.values():
                sink.clear()
            caption, seed = schedule[index]
            started = time.perf_counter()
            pipeline.text_to_image(caption, generation, seed, encoded=encoded[index])
            seconds.append(time.perf_counter() - started + encode_seconds[index])
            runs.append({"text_encoder": [encode_seconds[index]], **{name: list(sink) for name, sink in calls.items()}})
    precisions = {env["inference_precision"], compiled_env(slots, denoiser)["inference_precision"]}
    return {
        "metrics": timed_metrics(load_seconds, compiles, first_run, seconds, runs, denoiser),
        "env": {**compiled_env(slots, denoiser),
                "inference_precision": ", ".join(sorted(precisions)),
                "input_shapes": "static" if bench.static_shapes else "dynamic",
                "text_encoder_apart": "the text encoder ran alone and was released before the other components were "
                                      "compiled; each latency is its encoding plus its generation"},
    }


def measure_genai(params: Params, variant: Variant, device: str, configuration: Configuration,
                  prompts: list[dict]) -> dict:
    import openvino_genai

    from ov_diffusion_quant.orchestration.inference import dvc_target_for, model_dir_for

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


def measure_one(params: Params, variant: Variant, device: str, name: str, prompts: list[dict],
                text_encoder_apart: bool = False) -> dict:
    configuration = CONFIGURATIONS[name]
    measure = measure_genai if configuration.runtime == "genai" else measure_optimum
    if text_encoder_apart:
        measure = measure_text_encoder_apart
    return measure(params, variant, device, configuration, prompts)
