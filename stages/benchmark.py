"""benchmark stage: latency, load time and peak memory of the FP and optimized models on one device.

    python -m stages.benchmark <variant> <device>   ->  metrics/<variant>/<device>/benchmark.json

Configurations (ov_diffusion_quant/benchmarking/configurations.py), each measured in a fresh process (``--one``) so
that its load time and peak RSS are its own: FP at the device's default precision (bf16 for FP16 IR on
AMX CPUs), FP with INFERENCE_PRECISION_HINT=f32, optimized, and for SDXL the same two directories in
OpenVINO GenAI. FP and optimized run back to back; ``benchmark.rounds`` > 1 repeats every configuration
in alternating rounds with the timed runs pooled. A progress bar on stderr counts the runs; the child
processes' stderr goes to a log file whose path is printed first.
"""

from __future__ import annotations

import json
import sys

from ov_diffusion_quant.benchmarking.configurations import (CONFIGURATIONS, F32_WEIGHTS_FACTOR, planned,
                                                             text_encoder_apart)
from ov_diffusion_quant.benchmarking.measure import measure_one
from ov_diffusion_quant.benchmarking.runner import run_benchmark
from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.artifacts import read_json
from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.outputs import write_json
from ov_diffusion_quant.runtime.preflight import dir_gb, heavy_stage
from ov_diffusion_quant.common.resources import mem_available_gb
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.families import family_for
from ov_diffusion_quant.runtime import host_facts
from ov_diffusion_quant.runtime.devices import check_device


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("device")
    parser.add_argument("--one", choices=sorted(CONFIGURATIONS), metavar="CONFIGURATION",
                        help="internal: measure one configuration in this process, prompts as JSON on stdin, "
                             "and print its JSON")
    parser.add_argument("--text-encoder-apart", action="store_true",
                        help="internal, with --one: run the text encoder alone first (measure_text_encoder_apart)")
    args = parser.parse_args(argv)

    params = load()
    variant = params.variant(args.variant)
    device = check_device(args.device)
    if args.one:
        print(json.dumps(measure_one(params, variant, device, args.one, json.load(sys.stdin), args.text_encoder_apart)))
        return
    fp_dir = paths.fp_model(variant.name)
    fp_gb, text_encoder_gb = dir_gb(fp_dir), dir_gb(fp_dir / "text_encoder")
    names, _ = planned(params.benchmark, family_for(variant))
    apart = {name: why for name in names
             if (why := text_encoder_apart(params.benchmark, family_for(variant), name, fp_gb, text_encoder_gb,
                                           mem_available_gb()))}
    # the largest configuration (FP with f32 forced) holds the FP model in f32, or its text encoder when apart
    largest = {"factor": F32_WEIGHTS_FACTOR, "largest_part": ("the text encoder in f32", text_encoder_gb)} if apart else {}
    with heavy_stage("benchmark", variant.name, device, fp_gb, host=host_facts.provenance(), **largest) as run:
        metrics = run_benchmark(params, variant, device, apart)
        record = paths.quantization_record(variant.name, device)  # what quantize applied
        measured = host_facts.measured(variant, read_json(record)["recipes"] if record.exists() else None)
        write_json(paths.metrics(variant.name, "benchmark.json", device),
                   {"measured": measured, **metrics, "resources": run.metrics()})


if __name__ == "__main__":
    raise SystemExit(main())
