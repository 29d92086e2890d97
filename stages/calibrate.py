"""calibrate stage: run the FP pipeline over prompts and record the denoiser's inputs.

    python -m stages.calibrate <variant>    ->  data/calibration/<variant>/[<component>/]

Collection runs at the variant's size and steps on CPU (the artifact does not depend
on the target device) and stops before the VAE: latents are never decoded. Components
listed in ``calibrate.other_components`` (e.g. the VAE decoder, for a calibrated INT8
recipe) are recorded from full runs over the first usable prompts, into a sub-directory.
"""

from __future__ import annotations

import itertools
import time

from tqdm import tqdm

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import UserError, argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.outputs import atomic_dir, remove_stale_temps, write_json
from ov_diffusion_quant.runtime.preflight import dir_gb, heavy_stage
from ov_diffusion_quant.evaluation.prompts import calibration_prompts, prompt_provenance
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.families import family_for
from ov_diffusion_quant.quantization import calibration_data
from ov_diffusion_quant.runtime import host_facts
from ov_diffusion_quant.runtime.recording import RecordingCompiledModel, hooked


def collect(pipeline, denoiser: str, prompts, generation, subset_size: int, progress: bool = True, sink=None):
    """Return (samples, manifest rows, skipped-too-long count, prompts used). The samples go to ``sink`` (e.g. a
    calibration_data.ShardWriter that writes them as they come) or, without one, to a list."""
    samples = [] if sink is None else sink
    rows, skipped, used = [], 0, 0
    bar = tqdm(total=subset_size, desc="calibration samples", unit="sample", disable=not progress)
    with hooked(pipeline, denoiser, lambda compiled: RecordingCompiledModel(compiled, samples)):
        for prompt in prompts:
            if pipeline.prompt_token_count(prompt["caption"]) > pipeline.max_prompt_tokens:
                skipped += 1
                continue
            before = len(samples)
            pipeline.text_to_image(prompt["caption"], generation, seed=generation.seed + used, output_type="latent")
            used += 1
            rows += [{"prompt_id": prompt["id"], "step": step} for step in range(len(samples) - before)]
            bar.update(min(len(samples), subset_size) - bar.n)
            if len(samples) >= subset_size:
                break
    bar.close()
    return samples if sink is not None else samples[:subset_size], rows[:subset_size], skipped, used


def collect_component(pipeline, component: str, prompts, generation, sink) -> None:
    """Inputs of ``component`` over full text-to-image runs (decoded, so that every component runs), into ``sink``
    (a calibration_data.ShardWriter with its limit) until it is full."""
    with hooked(pipeline, component, lambda compiled: RecordingCompiledModel(compiled, sink)):
        for index, prompt in enumerate(prompts):
            if len(sink) >= sink.limit:
                break
            pipeline.text_to_image(prompt["caption"], generation, seed=generation.seed + index)


def notebook_way_cost(pipeline, denoiser: str, prompts: list[dict], generation) -> dict:
    """Seconds per denoiser sample collected our way (latents only) and the notebooks' way (full
    pipeline with VAE decode and image post-processing), interleaved on the same prompts and model."""
    latent_seconds = decode_seconds = 0.0
    calls: list = []
    with hooked(pipeline, denoiser, lambda compiled: RecordingCompiledModel(compiled, calls)):
        for index, prompt in enumerate(prompts):
            for output_type in ("latent", "pil"):
                started = time.perf_counter()
                pipeline.text_to_image(prompt["caption"], generation, seed=generation.seed + index,
                                       output_type=output_type)
                elapsed = time.perf_counter() - started
                if output_type == "latent":
                    latent_seconds += elapsed
                else:
                    decode_seconds += elapsed
    samples = len(calls) // 2
    return {
        "compare_prompts": len(prompts),
        "seconds_per_sample_latents_only": round(latent_seconds / samples, 4),
        "seconds_per_sample_notebook_way": round(decode_seconds / samples, 4),
        "notebook_way_over_latents_only": round(decode_seconds / latent_seconds, 3),
    }


def check_subset_size(subset_size: int, most: int, where: str, how: str) -> None:
    if most < subset_size:
        raise UserError(f"subset_size {subset_size} is larger than what the prompt source yields: at most {most} "
                        f"samples ({how}); lower {where} or add prompts")


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    args = parser.parse_args(argv)

    # 1. Check the inputs before the model loads
    params = load()
    variant = params.variant(args.variant)
    family = family_for(variant)
    prompt_source = variant.calibrate.prompts or params.calibrate.prompts
    subset_size, where = variant.calibrate.subset_size, f"variants.{variant.name}.calibrate.subset_size"
    prompts = calibration_prompts(prompt_source)  # a local file is read and checked here
    if prompt_source.source == "local":
        # a text-to-image run records one denoiser input per step (guidance is batched into the same call)
        prompts = list(prompts)
        check_subset_size(subset_size, len(prompts) * variant.generation.steps, where,
                          f"{len(prompts)} prompts in {prompt_source.path} x {variant.generation.steps} steps")
    remove_stale_temps(paths.calibration_data(variant.name))
    with heavy_stage("calibrate", variant.name, None, dir_gb(paths.fp_model(variant.name)),
                     host=host_facts.provenance()) as run:
        pipeline = family.load(paths.fp_model(variant.name), "CPU")

        with atomic_dir(paths.calibration_data(variant.name)) as out_dir:
            # 2. The denoiser's inputs, latents only, written in shards as they come
            started = time.perf_counter()
            shards = calibration_data.ShardWriter(out_dir, limit=subset_size)
            _, rows, skipped, used = collect(pipeline, family.denoiser, prompts, variant.generation, subset_size,
                                             sink=shards)
            seconds = time.perf_counter() - started
            check_subset_size(subset_size, len(shards), where, f"{used} usable prompts, {skipped} skipped as too long")
            shards.close({"variant": variant.name, "denoiser": family.denoiser, "samples": rows})

            # 3. Other components' inputs, from full runs
            def fitting_prompts():
                return (prompt for prompt in calibration_prompts(prompt_source)
                        if pipeline.prompt_token_count(prompt["caption"]) <= pipeline.max_prompt_tokens)

            others = {}
            for component, count in variant.calibrate.other_components.items():
                (out_dir / component).mkdir()
                others[component] = calibration_data.ShardWriter(out_dir / component, limit=count)
                collect_component(pipeline, component, fitting_prompts(), variant.generation, others[component])
                if len(others[component]) < count:
                    raise UserError(f"calibrate.other_components.{component} = {count}: only {len(others[component])} "
                                    f"inputs of {component} were recorded (does it run in text-to-image?)")
                others[component].close({"variant": variant.name, "component": component})

            # 4. Optionally, what the notebooks' way of collecting (decoding every image) would cost
            cost = {}
            if params.calibrate.compare_notebook_prompts:
                cost = notebook_way_cost(pipeline, family.denoiser,
                                         list(itertools.islice(fitting_prompts(), params.calibrate.compare_notebook_prompts)),
                                         variant.generation)

        # 5. The metrics
        resources = run.metrics()
        write_json(paths.metrics(variant.name, "calibrate.json"), {
            "samples": len(shards),
            "prompts_used": used,
            "prompts_skipped_too_long": skipped,
            "seconds": round(seconds, 2),
            "seconds_per_sample": round(seconds / len(shards), 4),
            "peak_rss_mb": round(resources["peak_rss_gb"] * 1024, 1),  # the whole stage's, loading included
            "other_components": {component: len(values) for component, values in others.items()},
            **cost,
            "prompts": prompt_provenance(prompt_source),
            "resources": resources,
            "host": host_facts.provenance(),
        })


if __name__ == "__main__":
    raise SystemExit(main())
