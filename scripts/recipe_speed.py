"""The speed of recipe-search candidates on a full-size denoiser (a measuring tool, heavy: not in CI or `dvc repro`).

    python scripts/recipe_speed.py sdxl-turbo-arch --from trained-sdxl-snapshot notebook float-embeddings \\
        [--rounds 10] [--out FILE] [--ir-dir DIR]

The search ranks candidates by the share of the denoiser's multiply-accumulates left in INT8, because the
reference model's 64 px denoiser measures overhead. This confirms the ranking where speed is real: each named
candidate of ``--from``'s `quantize.search` is applied to <variant>'s exported denoiser (its recorded calibration
data, the large-model path as params say), compiled at the recorded input's static shapes at this host's
precision, and timed beside FP with the calls interleaved round by round (host drift hits all alike). Needs
`dvc repro calibrate@<variant>` first. The quantized IRs go to a scratch directory, or with ``--ir-dir`` to DIR/<name>/,
where a later run (e.g. under `ovdq emulate`, to time the same IRs with another class's kernels) reuses
them instead of quantizing again; the record says which were reused.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
from pathlib import Path

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import UserError, argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.outputs import write_json
from ov_diffusion_quant.config.params import load


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    import nncf
    import openvino as ov

    from ov_diffusion_quant.families import get_family
    from ov_diffusion_quant.quantization import calibration_data
    from ov_diffusion_quant.quantization.apply import quantize_model
    from ov_diffusion_quant.quantization.ir_analysis import int8_compute_share
    from ov_diffusion_quant.runtime import host_facts
    from ov_diffusion_quant.runtime.devices import compile_config
    from ov_diffusion_quant.runtime.timing import StaticShapeModel

    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("candidates", nargs="+", help="candidate names of --from's quantize.search")
    parser.add_argument("--from", dest="source", required=True, help="the variant whose search candidates to take")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--ir-dir", type=Path, help="keep the quantized IRs here, and reuse those already there")
    parser.add_argument("--quantize-only", help=argparse.SUPPRESS)  # the per-candidate child process
    args = parser.parse_args(argv)
    params = load()
    variant, source = params.variant(args.variant), params.variant(args.source)
    if source.quantize.search is None:
        raise UserError(f"{args.source} has no quantize.search: name a variant with candidates")
    by_name = {candidate.name: candidate for candidate in source.quantize.search.candidates}
    unknown = [name for name in args.candidates if name not in by_name]
    if unknown:
        raise UserError(f"unknown candidate {unknown[0]!r} of {args.source}: it has {', '.join(by_name)}")
    family = get_family(variant.model.family)
    denoiser = family.denoiser
    fp_xml = paths.fp_model(variant.name) / denoiser / "openvino_model.xml"
    calibration = calibration_data.load(paths.calibration_data(variant.name))[0]
    sample = calibration[0]
    core = ov.Core()
    config = compile_config(extra=family.read_compile_config(paths.fp_model(variant.name)).get(denoiser))

    def compiled_static(model):
        return StaticShapeModel(model, sample, "CPU", config, core=core)

    import subprocess
    import sys

    rows, compiled = {}, {}
    with tempfile.TemporaryDirectory(prefix=".recipe-speed-", dir=paths.fp_model(variant.name).parent) as scratch:
        ir_dir = args.ir_dir or Path(scratch)
        # 1. Quantize what is not there yet, each candidate in a process of its own: full INT8 of the 2.6 B UNet peaks
        #    near the machine's memory, and a process returns all of it when it ends
        for name in args.candidates:
            xml = ir_dir / name / "openvino_model.xml"
            if args.quantize_only:
                if name != args.quantize_only or xml.exists():
                    continue
                started = time.perf_counter()
                xml.parent.mkdir(parents=True, exist_ok=True)
                result = quantize_model(by_name[name].components[denoiser], core.read_model(fp_xml), family, denoiser,
                                        calibration, nncf.TargetDevice.CPU, variant.quantize.large_model_patches,
                                        f"variants.{variant.name}.quantize.large_model_patches")
                ov.save_model(result.model, xml.with_name("partial.xml"), compress_to_fp16=True)
                xml.with_name("partial.xml").rename(xml)
                xml.with_name("partial.bin").rename(xml.with_suffix(".bin"))
                (xml.parent / "seconds.json").write_text(json.dumps(round(time.perf_counter() - started, 1)))
                return
            rows[name] = {"reused_ir": xml.exists()}
            if not xml.exists():
                subprocess.run([sys.executable, __file__, *(argv or sys.argv[1:]), "--ir-dir", str(ir_dir),
                                "--quantize-only", name], check=True)
        if args.quantize_only:
            return
        # 2. Compile FP and every candidate at static shapes, time them interleaved
        compiled["fp"] = compiled_static(core.read_model(fp_xml))
        rows["fp"] = {"recipe": "none", "int8_macs_share": 0.0}
        for name in args.candidates:
            xml = ir_dir / name / "openvino_model.xml"
            model = core.read_model(xml)
            seconds = xml.parent / "seconds.json"
            rows[name].update(recipe=by_name[name].components[denoiser].label(),
                              quantize_seconds=None if rows[name]["reused_ir"] or not seconds.exists()
                              else json.loads(seconds.read_text()), **int8_compute_share(model, sample))
            compiled[name] = compiled_static(model)
            gc.collect()
        times = {name: [] for name in compiled}
        for _ in range(args.rounds):
            for name, model in compiled.items():
                times[name].append(model.call_seconds())
    for name, values in times.items():
        rows[name]["step_seconds_median"] = round(statistics.median(values), 4)
        rows[name]["step_seconds"] = [round(value, 4) for value in values]
        rows[name]["speedup_vs_fp"] = round(statistics.median(times["fp"]) / statistics.median(values), 3)
    first = args.candidates[0]
    for name in args.candidates:
        rows[name]["speed_vs_" + first] = round(statistics.median(times[first]) / statistics.median(times[name]), 3)
        # the same ratio round by round (calls next to each other): its spread is what the medians' ratio can resolve
        per_round = [a / b for a, b in zip(times[first], times[name])]
        rows[name]["speed_vs_" + first + "_per_round"] = {"median": round(statistics.median(per_round), 3),
                                                           "min": round(min(per_round), 3),
                                                           "max": round(max(per_round), 3)}
    record = {"variant": variant.name, "candidates_of": args.source, "denoiser": denoiser, "rounds": args.rounds,
              "input_shapes": {k: list(v.shape) for k, v in sample.items()}, "rows": rows, "host": host_facts.provenance()}
    print(json.dumps(record, indent=1))
    if args.out:
        write_json(args.out, record)


if __name__ == "__main__":
    raise SystemExit(main())
