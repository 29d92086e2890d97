"""How a quantized denoiser computes on two host classes: every compute op's output, class against class and
against FP (a diagnostic, not in CI or `dvc repro`).

    python scripts/int8_divergence.py <variant> NAME=DIR [NAME=DIR ...] [--classes avx512 avx512_vnni]
        [--samples 8] --out FILE

Each DIR is an optimized model directory of <variant> (e.g. models/<v>/optimized-CPU copied aside per recipe).
Each class runs in its own process under scripts/emulate_host.py (oneDNN's cap is read at start-up) on the first
--samples recorded calibration inputs (`dvc repro calibrate@<variant>` first): the FP denoiser and each model's,
with every MatMul, Convolution and ScaledDotProductAttention added as an output. The record has, per model: what
recipes.saturating_int8_ops finds in it, the denoiser output's relative error against FP per class (on every
recorded input) and of each op against the FP model's same op, and how many ops differ between the classes, with the first that does (in graph order) and the
largest differences. Where the kernels of the two classes agree, the model computes the same bits on both.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import UserError, argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.outputs import write_json

COMPUTE = ("MatMul", "Convolution", "ScaledDotProductAttention")
HERE = Path(__file__).resolve().parent


def dump(models: dict[str, Path], denoiser: str, data_dir: Path, samples: int, out: Path) -> None:
    """In the emulated process: every model's denoiser outputs and compute-op outputs, into one npz."""
    import openvino as ov

    from ov_diffusion_quant.quantization import calibration_data

    recorded, _ = calibration_data.load(data_dir)
    core, arrays = ov.Core(), {}
    for name, model_dir in models.items():
        model = core.read_model(model_dir / denoiser / "openvino_model.xml")
        ops = [op for op in model.get_ordered_ops() if op.get_type_name() in COMPUTE]
        model.add_outputs([op.output(0) for op in ops])
        compiled = core.compile_model(model, "CPU")
        kinds = {port.get_any_name(): port.get_element_type() for port in model.inputs}
        for index, sample in enumerate(recorded):
            inputs = {key: value.astype(kinds[key].to_dtype()) for key, value in sample.items() if key in kinds}
            result = compiled(inputs)
            arrays[f"{name}/output/{index}"] = result[0]
            if index < samples:
                for number, op in enumerate(ops, 1):
                    arrays[f"{name}/op/{op.get_friendly_name()}/{index}"] = result[number]
    np.savez(out, **arrays)


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / (np.linalg.norm(b) or 1.0))


def summarize(runs: dict[str, dict], names: list[str], samples: int) -> dict:
    first, second = list(runs)
    outputs = sorted({int(key.rsplit("/", 1)[1]) for key in runs[first].files if key.startswith("fp/output/")})
    summary = {}
    for name in names:
        if name == "fp":
            continue
        ops = list(dict.fromkeys(key.split("/op/", 1)[1].rsplit("/", 1)[0]
                                 for key in runs[first].files if key.startswith(f"{name}/op/")))
        between = {op: float(np.mean([relative(runs[first][f"{name}/op/{op}/{i}"], runs[second][f"{name}/op/{op}/{i}"])
                                      for i in range(samples)])) for op in ops}
        differing = [op for op in ops if between[op] > 1e-6]
        summary[name] = {
            "output_error_vs_fp": {cls: {"mean": round(float(np.mean(errors)), 5), "max": round(float(np.max(errors)), 5)}
                                   for cls, errors in ((cls, [relative(run[f"{name}/output/{i}"], run[f"fp/output/{i}"])
                                                              for i in outputs]) for cls, run in runs.items())},
            # each op's output against the FP model's same op, mean over ops and compared inputs
            "op_error_vs_fp": {cls: round(float(np.mean([relative(run[f"{name}/op/{op}/{i}"], run[f"fp/op/{op}/{i}"])
                                                          for op in ops if f"fp/op/{op}/0" in run.files
                                                          for i in range(samples)])), 5) for cls, run in runs.items()},
            "output_between_classes": round(float(np.mean([relative(runs[first][f"{name}/output/{i}"],
                                                                    runs[second][f"{name}/output/{i}"])
                                                           for i in outputs])), 6),
            "ops": len(ops), "ops_differing_between_classes": len(differing),
            "first_differing_op": differing[0] if differing else None,
            "largest_differences": {op: round(between[op], 4) for op in sorted(differing, key=between.get)[::-1][:5]},
        }
    return summary


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("models", nargs="+", help="NAME=DIR: an optimized model directory of the variant")
    parser.add_argument("--classes", nargs=2, default=["avx512", "avx512_vnni"])
    parser.add_argument("--samples", type=int, default=8, help="recorded inputs whose op outputs are compared")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)  # the per-class child process
    args = parser.parse_args(argv)

    from ov_diffusion_quant.config.params import load
    from ov_diffusion_quant.families import family_for
    from ov_diffusion_quant.quantization.recipes import saturating_int8_ops

    family = family_for(load().variant(args.variant))
    models = {"fp": paths.fp_model(args.variant)}
    for item in args.models:
        name, _, directory = item.partition("=")
        if not name or not directory or not (Path(directory) / family.denoiser / "openvino_model.xml").is_file():
            raise UserError(f"{item!r}: give NAME=DIR, DIR an optimized model directory with "
                            f"{family.denoiser}/openvino_model.xml")
        models[name] = Path(directory)
    if args.dump:
        dump(models, family.denoiser, paths.calibration_data(args.variant), args.samples, args.dump)
        return

    import openvino as ov

    runs = {}
    with tempfile.TemporaryDirectory(prefix="int8-divergence-") as scratch:
        for host_class in args.classes:
            out = Path(scratch) / f"{host_class}.npz"
            subprocess.run([sys.executable, str(HERE / "emulate_host.py"), host_class, "--", sys.executable, __file__,
                            *sys.argv[1:], "--dump", str(out)], check=True)
            runs[host_class] = np.load(out)
        record = {
            "variant": args.variant, "classes": args.classes, "samples_compared_per_op": args.samples,
            "models": {name: {"dir": str(directory),
                              "saturating_without_vnni": saturating_int8_ops(
                                  ov.Core().read_model(directory / family.denoiser / "openvino_model.xml"))}
                       for name, directory in models.items() if name != "fp"},
            "divergence": summarize(runs, list(models), args.samples),
        }
    write_json(args.out, record)
    print(json.dumps(record["divergence"], indent=1))


if __name__ == "__main__":
    raise SystemExit(main())
