"""quantize stage: apply the variant's NNCF recipes to the exported model for one device.

    python -m stages.quantize <variant> <device>   ->  models/<variant>/optimized-<device>/

The output has the export's layout with only the quantized components replaced, plus
compile_config.json (per-component compile settings applied on load) and
quantization.json (what was done), so it loads wherever the export loads.
"""

from __future__ import annotations

import shutil
import time

import openvino as ov

from stages.quantization import calibration_data
from stages.common import paths
from stages.common.artifacts import read_ir
from stages.runtime.devices import check_device, nncf_target_device
from stages.common.errors import UserError, argument_parser, main_with_clear_errors
from stages.families import get_family
from stages.families.base import COMPILE_CONFIG_FILE
from stages.common.outputs import atomic_dir, dir_size_bytes, remove_stale_temps, write_json
from stages.config.params import load
from stages.runtime import host
from stages.quantization.recipes import NEEDS_CALIBRATION, apply_recipe, count_quantized_ops
from stages.common.resources import peak_rss_mb


def component_size(model_dir, component: str) -> int:
    return dir_size_bytes(model_dir / component)


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("device")
    args = parser.parse_args(argv)

    variant = load().variant(args.variant)
    device = check_device(args.device)
    family = get_family(variant.model.family)
    spec = variant.quantize
    fp_dir = paths.fp_model(variant.name)
    family.check_exported(fp_dir)
    remove_stale_temps(paths.optimized_model(variant.name, device))  # a killed run's copy of the model, first

    def calibration_for(component: str):
        """The recorded inputs of ``component``: the denoiser's at the top of the calibration directory,
        others (``calibrate.other_components``) in a sub-directory."""
        if spec.components[component] not in NEEDS_CALIBRATION:
            return None
        data_dir = paths.calibration_data(variant.name)
        if component != family.denoiser:
            data_dir = data_dir / component
            if not data_dir.is_dir():
                raise UserError(f"recipe {spec.components[component]!r} for {component} needs its recorded inputs: "
                                f"set variants.{variant.name}.calibrate.other_components.{component} to a "
                                f"sample count (e.g. 4) and run `dvc repro calibrate@{variant.name}`")
        return calibration_data.load(data_dir)[0], data_dir

    calibrations = {component: calibration_for(component) for component in spec.components}  # fail before work
    started = time.perf_counter()
    components, compile_config = {}, family.read_compile_config(fp_dir)
    with atomic_dir(paths.optimized_model(variant.name, device)) as out_dir:
        shutil.copytree(fp_dir, out_dir, dirs_exist_ok=True)
        for component, recipe in spec.components.items():
            xml = fp_dir / component / "openvino_model.xml"
            model = read_ir(xml)
            calibration = calibrations.pop(component)
            if calibration is not None:
                calibration_data.check_matches_model(calibration[0], model, calibration[1])
            component_started = time.perf_counter()
            result = apply_recipe(
                recipe, model, spec, component=component,
                calibration=calibration[0] if calibration is not None else None,
                ignored_scope=family.ignored_scope(component, model) if spec.ignored_scope and recipe == "int8"
                else None,
                target_device=nncf_target_device(device), variant=variant.name,
            )
            target = out_dir / component / "openvino_model.xml"
            target.unlink()
            target.with_suffix(".bin").unlink()
            ov.save_model(result.model, target, compress_to_fp16=True)
            if result.compile_config:
                compile_config[component] = {**compile_config.get(component, {}), **result.compile_config}
            fp_bytes, opt_bytes = component_size(fp_dir, component), component_size(out_dir, component)
            components[component] = {
                "recipe": recipe,
                "seconds": round(time.perf_counter() - component_started, 2),
                "fp_mb": round(fp_bytes / 2**20, 3),
                "optimized_mb": round(opt_bytes / 2**20, 3),
                "compression_ratio": round(fp_bytes / opt_bytes, 3),
                **result.details,
                **count_quantized_ops(ov.Core().read_model(target)),
            }
        write_json(out_dir / COMPILE_CONFIG_FILE, compile_config)
        write_json(out_dir / "quantization.json", {"variant": variant.name, "device": device,
                                                   "recipes": spec.components, "smooth_quant_alpha":
                                                   spec.smooth_quant_alpha, "ignored_scope": spec.ignored_scope})
        total_fp, total_opt = dir_size_bytes(fp_dir), dir_size_bytes(out_dir)

    write_json(paths.metrics(variant.name, "quantize.json", device), {
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": peak_rss_mb(),
        "fp_mb": round(total_fp / 2**20, 3),
        "optimized_mb": round(total_opt / 2**20, 3),
        "compression_ratio": round(total_fp / total_opt, 3),
        "components": components,
        "host": host.provenance(),
    })


if __name__ == "__main__":
    raise SystemExit(main())
