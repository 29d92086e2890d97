"""Apply component recipes to an exported model directory: what the quantize stage does, and the recipe search
for each candidate. The output has the export's layout with only the quantized components replaced, plus
compile_config.json (per-component compile settings applied on load)."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import openvino as ov

from ov_diffusion_quant.common.artifacts import read_ir
from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.common.outputs import dir_size_bytes, link_or_copy, write_json
from ov_diffusion_quant.common.resources import RssPeak
from ov_diffusion_quant.families.base import COMPILE_CONFIG_FILE
from ov_diffusion_quant.quantization import calibration_data
from ov_diffusion_quant.quantization.nncf_patches import large_model_patches, statistics_record
from ov_diffusion_quant.config.recipes import ComponentRecipe
from ov_diffusion_quant.quantization.ir_analysis import count_quantized_ops, saturating_int8_ops
from ov_diffusion_quant.quantization.recipes import RecipeContext, RecipeResult, apply, ptq_arguments, shares_statistics


@dataclass
class Validation:
    """accuracy_control's validation: a function of (compiled component, prompts) and the prompts."""
    validate: Callable[[Any, list], tuple[float, list[float]]]
    items: list
    max_drop: float | None


@dataclass
class Quantized:
    components: dict[str, dict] = field(default_factory=dict)  # per component: recipe, sizes, seconds, op counts
    recipes: dict[str, ComponentRecipe] = field(default_factory=dict)  # what to record (accuracy_control: int8)
    # the INT8 ops that would saturate on a CPU without VNNI (recipes.saturating_int8_ops), as "component: cause"
    saturating: dict[str, int] = field(default_factory=dict)


def load_calibrations(variant_name: str, family, components: dict[str, ComponentRecipe],
                      calibration_dir: Path) -> dict[str, tuple[list, Path] | None]:
    """The recorded inputs of every component whose recipe needs them (the denoiser's at the top of the
    calibration directory, others in a sub-directory); a missing one fails before any work."""
    loaded = {}
    for component, recipe in components.items():
        if not recipe.definition.needs_calibration:
            loaded[component] = None
            continue
        data_dir = calibration_dir if component == family.denoiser else calibration_dir / component
        if not data_dir.is_dir():
            raise UserError(f"recipe {recipe.recipe!r} for {component} needs its recorded inputs: set "
                            f"variants.{variant_name}.calibrate.other_components.{component} to a sample count "
                            f"(e.g. 4) and run `dvc repro calibrate@{variant_name}`")
        loaded[component] = (calibration_data.load(data_dir)[0], data_dir)
    return loaded


def copy_export(fp_dir: Path, out_dir: Path, link: bool = False) -> None:
    """The export's files into ``out_dir`` (hard links with ``link``: a scratch copy that is never written to)."""
    shutil.copytree(fp_dir, out_dir, dirs_exist_ok=True, copy_function=os.link if link else shutil.copy2)


def _context(family, component: str, model, calibration: list | None, target_device,
             validation: Validation | None = None, statistics=None) -> RecipeContext:
    return RecipeContext(
        component=component, calibration=calibration, target_device=target_device,
        ignored_scope=lambda names: family.ignored_scope(component, model, names),
        validate=validation.validate if validation else None, validation_items=validation.items if validation else None,
        default_max_drop=validation.max_drop if validation else None, statistics=statistics)


def quantize_model(recipe: ComponentRecipe, model, family, component: str, calibration: list | None, target_device,
                   large_model_switch: str = "auto", switch_name: str = "large_model_patches",
                   validation: Validation | None = None, statistics=None) -> RecipeResult:
    """One component's model through its recipe; a calibrated recipe of a large model takes the large-model path
    (ov_diffusion_quant/quantization/nncf_patches.py) when ``large_model_switch`` (auto, on, off) says so.
    ``statistics``: the component's shared statistics (shared_statistics.py), which a recipe that can takes
    instead of passes over ``calibration``."""
    context = _context(family, component, model, calibration, target_device, validation, statistics)
    if not recipe.definition.needs_calibration:
        return apply(recipe, model, context)
    with statistics_record() as statistics, large_model_patches(model, large_model_switch, switch_name) as patched:
        result = apply(recipe, model, context)
    result.details.update(patched, **statistics, calibration_samples=len(calibration))
    return result


def load_statistics(directory: Path, components: dict[str, ComponentRecipe]) -> dict:
    """The shared statistics (stage statistics) of every component whose recipe takes them."""
    from ov_diffusion_quant.quantization.shared_statistics import SharedStatistics

    return {component: SharedStatistics.load(directory / component) for component, recipe in components.items()
            if shares_statistics(recipe) and (directory / component).is_dir()}


def collect_statistics(fp_dir: Path, family, component: str, recipes: list[ComponentRecipe], calibration: list,
                       target_device, large_model_switch: str, switch_name: str):
    """NNCF's statistics of one component over its calibration set, once for every recipe in ``recipes`` that can
    share them (recipes.shares_statistics); returns them (None when no recipe shares) and how it went."""
    from ov_diffusion_quant.quantization.shared_statistics import collect

    model = read_ir(fp_dir / component / "openvino_model.xml")
    unique = {json.dumps(recipe.to_json(), sort_keys=True): recipe for recipe in recipes}
    sharing = [recipe for recipe in unique.values() if shares_statistics(recipe)]
    if not sharing:
        return None, {"recipes": [], "statistics_passes": 0}
    configs = [ptq_arguments(recipe, _context(family, component, model, calibration, target_device))
               for recipe in sharing]
    started = time.perf_counter()
    with RssPeak() as peak, statistics_record() as record, \
            large_model_patches(model, large_model_switch, switch_name) as patched:
        statistics = collect(model, calibration, configs)
    return statistics, {"recipes": [recipe.label() for recipe in sharing], **record, **patched,
                        "calibration_samples": len(calibration), "seconds": round(time.perf_counter() - started, 2),
                        "peak_rss_mb": peak.peak_mb}


def quantize_into(out_dir: Path, fp_dir: Path, family, components: dict[str, ComponentRecipe],
                  calibrations: dict, target_device, large_model_switch: str, switch_name: str,
                  validation: Validation | None = None, statistics: dict | None = None) -> Quantized:
    """Replace each component of ``out_dir`` (a copy of ``fp_dir``) by its recipe's output. ``statistics``:
    component -> its shared statistics, for the recipes that take them."""
    done = Quantized()
    compile_config = family.read_compile_config(fp_dir)
    for component, recipe in components.items():
        xml = fp_dir / component / "openvino_model.xml"
        model = read_ir(xml)
        calibration = calibrations.get(component)
        if calibration is not None:
            calibration_data.check_matches_model(calibration[0], model, calibration[1])
        started = time.perf_counter()
        with RssPeak() as peak:
            result = quantize_model(recipe, model, family, component, calibration[0] if calibration else None,
                                    target_device, large_model_switch, switch_name, validation,
                                    (statistics or {}).get(component))
            target = out_dir / component / "openvino_model.xml"
            target.unlink()
            target.with_suffix(".bin").unlink()
            saving = time.perf_counter()
            ov.save_model(result.model, target, compress_to_fp16=True)
            saving = time.perf_counter() - saving
        if "phase_seconds" in result.details:  # the NNCF phases of a calibrated recipe (nncf_patches.statistics_record)
            result.details["phase_seconds"]["saving"] = round(saving, 2)
        if result.compile_config:
            compile_config[component] = {**compile_config.get(component, {}), **result.compile_config}
        recorded = result.equivalent or recipe
        fp_bytes, opt_bytes = dir_size_bytes(fp_dir / component), dir_size_bytes(out_dir / component)
        done.recipes[component] = recorded
        saved = ov.Core().read_model(target)
        done.components[component] = {
            "recipe": recorded.label(),
            "seconds": round(time.perf_counter() - started, 2),
            "fp_mb": round(fp_bytes / 2**20, 3),
            "optimized_mb": round(opt_bytes / 2**20, 3),
            "compression_ratio": round(fp_bytes / opt_bytes, 3),
            "peak_rss_mb": peak.peak_mb,
            **result.details,
            **count_quantized_ops(saved),
        }
        done.saturating.update({f"{component}: {cause}": count for cause, count in saturating_int8_ops(saved).items()})
        del model, result, saved  # before the next component is read: one component's models in memory at a time
    write_json(out_dir / COMPILE_CONFIG_FILE, compile_config)
    return done


QUANTIZED_RECORD = "quantized.json"


def keep_quantized(model_dir: Path, done: Quantized, out_dir: Path) -> None:
    """The quantized components of ``model_dir`` (``done``'s) with its compile_config.json and a record of ``done``
    into ``out_dir``, so that quantize takes the model the search measured instead of quantizing it again."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _copy_quantized(model_dir, out_dir, done)
    write_json(out_dir / QUANTIZED_RECORD, {
        "recipes": {component: recipe.to_json() for component, recipe in done.recipes.items()},
        "components": done.components, "saturating": done.saturating})


def kept_quantized(kept_dir: Path, components: dict[str, ComponentRecipe]) -> Quantized | None:
    """What :func:`keep_quantized` kept, if it is a model of exactly ``components`` (else None: quantize)."""
    from ov_diffusion_quant.config.recipes import parse_component

    record = kept_dir / QUANTIZED_RECORD
    if not record.exists():
        return None
    data = json.loads(record.read_text())
    recipes = {component: parse_component(body, f"{record}: recipes.{component}")
               for component, body in data["recipes"].items()}
    if {c: r.to_json() for c, r in recipes.items()} != {c: r.to_json() for c, r in components.items()}:
        return None
    return Quantized(components=data["components"], recipes=recipes, saturating=data["saturating"])


def take_quantized(kept_dir: Path, out_dir: Path, done: Quantized) -> None:
    """The kept components and compile_config.json into ``out_dir`` (a copy of the export)."""
    for component in done.recipes:
        shutil.rmtree(out_dir / component)
    _copy_quantized(kept_dir, out_dir, done)


def _copy_quantized(source: Path, target: Path, done: Quantized) -> None:
    for component in done.recipes:
        shutil.copytree(source / component, target / component, copy_function=link_or_copy)
    shutil.copy2(source / COMPILE_CONFIG_FILE, target / COMPILE_CONFIG_FILE)
