"""Time one denoiser step with dynamic vs static input shapes (a measuring tool, not a stage).

    python scripts/static_shape_step.py <variant> [--runs 3]

Feeds the first recorded calibration sample to the FP and optimized denoiser IRs, compiled as exported
(dynamic shapes) and reshaped to that sample's shapes, at the CPU's default precision.
"""

from __future__ import annotations

import argparse
import time

import openvino as ov

from stages import calibration_data, paths
from stages.families import get_family
from stages.params import load


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variant")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    variant = load().variant(args.variant)
    family = get_family(variant.model.family)
    sample = calibration_data.load(paths.calibration_data(variant.name))[0][0]
    core = ov.Core()
    for label, model_dir in (("fp", paths.fp_model(variant.name)), ("optimized", paths.optimized_model(variant.name, "CPU"))):
        for static in (False, True):
            model = core.read_model(model_dir / family.denoiser / "openvino_model.xml")
            if static:
                model.reshape({port.get_any_name(): list(sample[port.get_any_name()].shape) for port in model.inputs})
            compiled = core.compile_model(model, "CPU")
            compiled(sample)
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                compiled(sample)
                times.append(time.perf_counter() - started)
            print(f"{label:9s} {'static' if static else 'dynamic':7s} median step {sorted(times)[len(times) // 2]:.3f} s "
                  f"({compiled.get_property('INFERENCE_PRECISION_HINT')})", flush=True)
            del compiled, model


if __name__ == "__main__":
    main()
