"""quantize stage: apply the recipe the recipe stage chose to the exported model, for one device.

    python -m stages.quantize <variant> <device>   ->  models/<variant>/optimized-<device>/

The recipe is data/recipes/<variant>/<device>.json (params' components, or the search's choice on this host). The
search's choice comes with the candidate's quantized components (data/recipes/<variant>/<device>-model/), which are
taken as they are: the model is the one the search measured, quantized once. Otherwise a recipe that shares NNCF's
statistics takes them from data/statistics/<variant>/<device>/ (the statistics stage), without passes over the
calibration set.
The output has the export's layout with only the quantized components replaced, plus compile_config.json
(per-component compile settings applied on load), quantization.json (what was done), openvino_config.json (the same
as optimum-intel's quantization_config) and a model card README.md, so it loads wherever the export loads.
"""

from __future__ import annotations

import logging
import time

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.outputs import atomic_dir, dir_size_bytes, remove_stale_temps, write_json
from ov_diffusion_quant.runtime.preflight import MEMORY_FACTORS, WEIGHT_ONLY_QUANTIZE_FACTOR, dir_gb, heavy_stage
from ov_diffusion_quant.common.resources import peak_rss_mb
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.families import family_for
from ov_diffusion_quant.quantization.apply import (copy_export, kept_quantized, load_calibrations, load_statistics,
                                                   quantize_into, take_quantized)
from ov_diffusion_quant.quantization.chosen import read_chosen
from ov_diffusion_quant.reporting.model_card import MODEL_CARD, model_card, write_openvino_config
from ov_diffusion_quant.runtime import host_facts
from ov_diffusion_quant.runtime.devices import check_device, nncf_target_device

log = logging.getLogger(__name__)


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("device")
    args = parser.parse_args(argv)

    # 1. Inputs: the export, the chosen recipe and the calibration data it needs (checked before any work)
    variant = load().variant(args.variant)
    device = check_device(args.device)
    family = family_for(variant)
    fp_dir = paths.fp_model(variant.name)
    family.check_exported(fp_dir)
    chosen = read_chosen(variant, device)
    kept = kept_quantized(paths.chosen_model(variant.name, device), chosen.components) if chosen.candidate else None
    # the search's model needs neither calibration data nor statistics: it is quantized already
    calibrated = {} if kept is not None else chosen.components
    calibrations = load_calibrations(variant.name, family, calibrated, paths.calibration_data(variant.name))
    statistics = load_statistics(paths.statistics(variant.name, device), calibrated)
    remove_stale_temps(paths.optimized_model(variant.name, device))  # a killed run's copy of the model, first
    fp_gb = dir_gb(fp_dir)
    # the components are quantized one at a time: the largest, by what its recipe costs, decides the peak
    factors = {component: MEMORY_FACTORS["quantize"]["bf16"] if calibrations.get(component) is not None
               else WEIGHT_ONLY_QUANTIZE_FACTOR for component in chosen.components}  # kept: copies, under either
    largest = max(factors, key=lambda component: factors[component] * dir_gb(fp_dir / component))
    with heavy_stage("quantize", variant.name, device, fp_gb, host=host_facts.provenance(), disk_gb=fp_gb,
                     factor=factors[largest],
                     largest_part=(largest, dir_gb(fp_dir / largest)),
                     disk_path=paths.optimized_model(variant.name, device)) as run:
        quantize(variant, device, family, fp_dir, chosen, kept, calibrations, statistics, run)


def quantize(variant, device, family, fp_dir, chosen, kept, calibrations, statistics, run) -> None:
    # 2. Quantize into a copy of the export, or take the search's quantized components
    started = time.perf_counter()
    with atomic_dir(paths.optimized_model(variant.name, device)) as out_dir:
        copy_export(fp_dir, out_dir)
        if kept is not None:
            log.info("%s: the search's model of candidate %s, as it was measured", variant.name, chosen.candidate)
            take_quantized(paths.chosen_model(variant.name, device), out_dir, kept)
            done = kept
        else:
            done = quantize_into(out_dir, fp_dir, family, chosen.components, calibrations, nncf_target_device(device),
                                 variant.quantize.large_model_patches,
                                 f"variants.{variant.name}.quantize.large_model_patches", statistics=statistics)
        write_json(out_dir / paths.quantization_record(variant.name, device).name, {
            "variant": variant.name, "device": device, "candidate": chosen.candidate,
            "recipes": {component: recipe.label() for component, recipe in done.recipes.items()},
            "components": {component: recipe.to_json() for component, recipe in done.recipes.items()}})
        # where optimum-intel and the hub look: its quantization_config, and a model card
        measured = host_facts.measured(variant, {c: recipe.label() for c, recipe in done.recipes.items()})
        write_openvino_config(out_dir, family, fp_dir, done.recipes,
                              {c: details.get("calibration_samples") for c, details in done.components.items()})
        (out_dir / MODEL_CARD).write_text(model_card(variant, device, family, done.recipes, done.components, measured,
                                                     host_facts.provenance(), done.saturating))
        total_fp, total_opt = dir_size_bytes(fp_dir), dir_size_bytes(out_dir)
    isa, saturating = host_facts.isa_class(), done.saturating
    if saturating and host_facts.int8_sums_saturate(isa):
        log.warning("%s on %s: INT8 sums saturate on this host class (no VNNI), and this model has %s; a recipe with "
                    "overflow_fix: enable and attention_scores in its ignored_scope avoids it, as does overflow_fix: enable with "
                    "attention_overflow_fix: enable (docs/reference-model.md)",
                    variant.name, isa, ", ".join(f"{count} {cause}" for cause, count in saturating.items()))

    # 3. Metrics
    write_json(paths.metrics(variant.name, "quantize.json", device), {
        "measured": measured,
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": peak_rss_mb(),
        "fp_mb": round(total_fp / 2**20, 3),
        "optimized_mb": round(total_opt / 2**20, 3),
        "compression_ratio": round(total_fp / total_opt, 3),
        "candidate": chosen.candidate,
        # where the quantized components come from: this stage, or the candidate stage of the search that chose them
        "quantized_by": f"candidate@{variant.name}-{device}-{chosen.candidate}" if kept is not None else "quantize",
        "components": done.components,
        "saturating_without_vnni": saturating,  # INT8 ops whose sums saturate on CPUs without VNNI
        "resources": run.metrics(),
        "host": host_facts.provenance(),
    })


if __name__ == "__main__":
    raise SystemExit(main())
