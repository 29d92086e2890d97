"""statistics stage: NNCF's statistics over the calibration set, collected once for every recipe that shares them.

    python -m stages.statistics <variant> <device>
        -> data/statistics/<variant>/<device>/<component>/     (ov_diffusion_quant/quantization/shared_statistics.py)
        -> data/statistics/<variant>/<device>.json             passes, seconds, peak memory, the recipes covered

The recipes are the variant's components and, when it searches (search.variants), every candidate's: int8 recipes
that differ in ignored scope, preset, overflow fix or fast bias correction share one pass per SmoothQuant setting;
the search's candidates and quantize then apply their recipe without touching the calibration data. A recipe that
cannot share (full bias correction, hybrid, accuracy control) makes its own passes where it is applied. The
statistics depend on this host's precision, so they are cached per host class.
"""

from __future__ import annotations

import logging
import time

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.outputs import atomic_dir, remove_stale_temps, write_json
from ov_diffusion_quant.common.resources import peak_rss_mb
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.families import family_for
from ov_diffusion_quant.quantization.apply import collect_statistics, load_calibrations
from ov_diffusion_quant.runtime import host_facts
from ov_diffusion_quant.runtime.devices import check_device, nncf_target_device
from ov_diffusion_quant.runtime.preflight import dir_gb, heavy_stage

log = logging.getLogger(__name__)


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("device")
    args = parser.parse_args(argv)

    # 1. The recipes to collect for, per calibrated component
    params = load()
    variant = params.variant(args.variant)
    device = check_device(args.device)
    family = family_for(variant)
    fp_dir = paths.fp_model(variant.name)
    family.check_exported(fp_dir)
    candidates = variant.quantize.search.candidates if params.searches(variant.name) else ()
    recipes: dict[str, list] = {}
    for components in (variant.quantize.components, *(candidate.components for candidate in candidates)):
        for component, recipe in components.items():
            if recipe.definition.needs_calibration:
                recipes.setdefault(component, []).append(recipe)
    calibrations = load_calibrations(variant.name, family, {c: r[0] for c, r in recipes.items()},
                                     paths.calibration_data(variant.name))

    # 2. One collection per component
    out = paths.statistics(variant.name, device)
    remove_stale_temps(out)
    started, record = time.perf_counter(), {}
    largest = max(recipes, key=lambda component: dir_gb(fp_dir / component), default=None)
    with heavy_stage("statistics", variant.name, device, dir_gb(fp_dir), host=host_facts.provenance(),
                     largest_part=(largest, dir_gb(fp_dir / largest)) if largest else None) as run, \
            atomic_dir(out) as tmp:
        for component, component_recipes in recipes.items():
            statistics, record[component] = collect_statistics(
                fp_dir, family, component, component_recipes, calibrations[component][0], nncf_target_device(device),
                variant.quantize.large_model_patches, f"variants.{variant.name}.quantize.large_model_patches")
            if statistics is not None:
                statistics.save(tmp / component)
            log.info("%s: %d statistics passes for %d recipes in %.0f s", component,
                     record[component]["statistics_passes"], len(record[component]["recipes"]),
                     record[component].get("seconds", 0))
        (tmp / "components.txt").write_text("".join(f"{component}\n" for component in sorted(recipes)))

    # 3. Metrics
    write_json(paths.statistics_record(variant.name, device), {
        "seconds": round(time.perf_counter() - started, 2), "peak_rss_mb": peak_rss_mb(), "components": record,
        "resources": run.metrics(), "host": host_facts.provenance()})


if __name__ == "__main__":
    raise SystemExit(main())
