"""Dynamic vs static input shapes, FP vs optimized, in one process with the calls interleaved (a measuring tool).

    python scripts/static_shape_step.py <variant> [--components transformer,vae_decoder] [--rounds 5]

For each component (default: the denoiser, and every component with recorded calibration inputs), the FP and
optimized IRs are compiled twice at the CPU's default precision: as exported (dynamic shapes) and reshaped
to the recorded input's shapes. Then every round calls each of the four once, so that a drift in the
machine's speed hits all of them alike. Prints per-call medians and the ratios that matter.
"""

from __future__ import annotations

import statistics
import time

import openvino as ov

from ov_diffusion_quant.quantization import calibration_data
from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors
from ov_diffusion_quant.common import paths
from ov_diffusion_quant.families import get_family
from ov_diffusion_quant.runtime.inference import input_shapes
from ov_diffusion_quant.config.params import load


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("--components", help="comma-separated; default: the denoiser and recorded components")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    variant = load().variant(args.variant)
    family = get_family(variant.model.family)
    data_dir = paths.calibration_data(variant.name)
    components = args.components.split(",") if args.components else [family.denoiser] + [
        name for name in family.components if (data_dir / name / calibration_data.MANIFEST).is_file()]
    core = ov.Core()
    compiled = {}
    for component in components:
        sample = calibration_data.load(data_dir if component == family.denoiser else data_dir / component)[0][0]
        for label, model_dir in (("fp", paths.fp_model(variant.name)),
                                 ("optimized", paths.optimized_model(variant.name, "CPU"))):
            for static in (False, True):
                model = core.read_model(model_dir / component / "openvino_model.xml")
                if static:
                    model.reshape(input_shapes(model, sample))
                model_compiled = core.compile_model(model, "CPU")
                model_compiled(sample)  # first call outside the timing
                compiled[(component, label, static)] = (model_compiled, sample)
    times = {key: [] for key in compiled}
    for _ in range(args.rounds):
        for key, (model_compiled, sample) in compiled.items():
            started = time.perf_counter()
            model_compiled(sample)
            times[key].append(time.perf_counter() - started)
    median = {key: statistics.median(values) for key, values in times.items()}
    for component in components:
        for static in (False, True):
            shapes = "static " if static else "dynamic"
            fp, opt = median[(component, "fp", static)], median[(component, "optimized", static)]
            print(f"{component:16s} {shapes}  fp {fp:.3f} s  optimized {opt:.3f} s  -> {fp / opt:.2f}x")
        for label in ("fp", "optimized"):
            gain = median[(component, label, False)] / median[(component, label, True)]
            print(f"{component:16s} {label:9s} static over dynamic: {gain:.2f}x")


if __name__ == "__main__":
    raise SystemExit(main())
