"""params.yaml, loaded and validated in one place into typed objects.

Every stage calls :func:`load` and reads only what it declares as a DVC param;
errors are one line that names the bad value and what is allowed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from stages.common.errors import UserError
from stages.config.specs import (  # noqa: F401  (re-exported: the params API in one import)
    ModelSpec,
    TrainSpec,
    VariantEvaluate,
    ScenesParams,
    GenerationSpec,
    CalibrateSpec,
    QuantizeSpec,
    GateSpec,
    Variant,
    PromptSource,
    EvaluateParams,
    BenchmarkParams,
    Params,
    check_variant_name,
    VARIANT_NAME,
    FAMILIES,
    RECIPES,
    PROMPT_SOURCES,
    LARGE_MODEL_PATHS,
)

PARAMS_FILE = Path("params.yaml")


def _require(section: dict, key: str, where: str) -> Any:
    if not isinstance(section, dict) or key not in section:
        raise UserError(f"params.yaml: missing '{where}.{key}'")
    return section[key]


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UserError(f"params.yaml: {where} = {value!r}: must be a positive integer")
    return value


TRAINED_SOURCE = "trained"  # `source: trained`: the source stage trains the reference model


def _train_spec(raw: Any, where: str) -> TrainSpec:
    if not isinstance(raw, dict):
        raise UserError(f"params.yaml: {where} must map steps (and batch_size, lr, vae_steps, taesd_steps, threads)"
                        " for source 'trained'")
    lr = raw.get("lr", 1e-3)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < 1:
        raise UserError(f"params.yaml: {where}.lr = {lr!r}: must be a number in (0, 1)")
    return TrainSpec(
        steps=_positive_int(_require(raw, "steps", where), f"{where}.steps"),
        batch_size=_positive_int(raw.get("batch_size", 32), f"{where}.batch_size"),
        lr=float(lr),
        vae_steps=_positive_int(raw.get("vae_steps", 600), f"{where}.vae_steps"),
        taesd_steps=_positive_int(raw.get("taesd_steps", 500), f"{where}.taesd_steps"),
        threads=_positive_int(raw.get("threads", 2), f"{where}.threads"),
    )


def _model_spec(raw: dict, where: str, variant: str) -> ModelSpec:
    family = _require(raw, "family", where)
    if family not in FAMILIES:
        raise UserError(f"unknown family {family!r} at {where}.family: allowed are {', '.join(FAMILIES)}")
    source = _require(raw, "source", where)
    if not isinstance(source, str) or not source:
        raise UserError(f"params.yaml: {where}.source = {source!r}: use 'tiny', a hub id or a local path")
    spec = ModelSpec(
        family=family,
        source=source,
        seed=int(raw.get("seed", 0)),
        taesd=raw.get("taesd"),
        max_length=_positive_int(raw.get("max_length", 120), f"{where}.max_length"),
        weights_variant=raw.get("weights_variant"),
        revision=_revision(raw.get("revision"), f"{where}.revision"),
        taesd_revision=_revision(raw.get("taesd_revision"), f"{where}.taesd_revision"),
    )
    if source == TRAINED_SOURCE or "train" in raw:
        if source != TRAINED_SOURCE or family != "sdxl":
            raise UserError(f"params.yaml: {where}: `train` goes with `source: trained`, for the sdxl family only")
        # the source stage writes the trained pipeline (and its tiny autoencoder) here; export reads it as a path
        trained = f"models/{variant}/source"
        spec = replace(spec, source=trained, taesd=f"{trained}/taesd" if spec.taesd == TRAINED_SOURCE else spec.taesd,
                       train=_train_spec(raw.get("train"), f"{where}.train"))
    return spec


def _revision(value: Any, where: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise UserError(f"params.yaml: {where} = {value!r}: use a commit hash, tag or branch of the hub repo (or null)")
    return value


def _generation_spec(raw: dict, family: str, where: str) -> GenerationSpec:
    from stages.families import family_class

    spec = GenerationSpec(
        height=_positive_int(_require(raw, "height", where), f"{where}.height"),
        width=_positive_int(_require(raw, "width", where), f"{where}.width"),
        steps=_positive_int(_require(raw, "steps", where), f"{where}.steps"),
        guidance=float(raw.get("guidance", 0.0)),
        seed=int(raw.get("seed", 0)),
        img2img_steps=_positive_int(raw.get("img2img_steps", 2), f"{where}.img2img_steps"),
        img2img_strength=float(raw.get("img2img_strength", 0.5)),
    )
    family_class(family).check_size(spec.height, spec.width)
    return spec


def _quantize_spec(raw: dict, family: str, where: str) -> QuantizeSpec:
    from stages.families import family_class

    components = raw.get("components")
    allowed = family_class(family).components
    if not isinstance(components, dict) or not components:
        raise UserError(f"params.yaml: {where}.components must map components ({', '.join(allowed)}) to recipes")
    for component, recipe in components.items():
        if component not in allowed:
            raise UserError(f"unknown component {component!r} at {where}.components: {family} has {', '.join(allowed)}")
        if recipe not in RECIPES:
            raise UserError(f"unknown recipe {recipe!r} at {where}.components.{component}: allowed are {', '.join(RECIPES)}")
    alpha = raw.get("smooth_quant_alpha")
    if alpha is not None and not (alpha == -1 or 0.0 <= float(alpha) <= 1.0):
        raise UserError(f"params.yaml: {where}.smooth_quant_alpha = {alpha!r}: use null, -1 (off) or a value in [0, 1]")
    ratio = float(raw.get("int4_ratio", 1.0))
    if not 0.0 < ratio <= 1.0:
        raise UserError(f"params.yaml: {where}.int4_ratio = {ratio!r}: must be in (0, 1]")
    large = raw.get("large_model_path", "auto")
    if isinstance(large, bool):  # YAML 1.1 (PyYAML) reads a bare on/off as a boolean
        large = "on" if large else "off"
    if large not in LARGE_MODEL_PATHS:
        raise UserError(f"params.yaml: {where}.large_model_path = {large!r}: allowed are {', '.join(LARGE_MODEL_PATHS)}")
    return QuantizeSpec(
        components=dict(components),
        smooth_quant_alpha=None if alpha is None else float(alpha),
        ignored_scope=bool(raw.get("ignored_scope", True)),
        int4_group_size=int(raw.get("int4_group_size", 64)),
        int4_ratio=ratio,
        large_model_path=large,
    )


def _calibrate_spec(raw: dict, family: str, where: str) -> CalibrateSpec:
    from stages.families import family_class

    others = raw.get("other_components") or {}
    if not isinstance(others, dict):
        raise UserError(f"params.yaml: {where}.other_components must map components to sample counts, "
                        f"e.g. {{vae_decoder: 4}}")
    family_cls = family_class(family)
    allowed = [name for name in family_cls.components if name != family_cls.denoiser]
    for component, count in others.items():
        if component not in allowed:
            raise UserError(f"unknown component {component!r} at {where}.other_components: allowed are "
                            f"{', '.join(allowed)} (the denoiser's count is subset_size)")
        _positive_int(count, f"{where}.other_components.{component}")
    prompts = raw.get("prompts")
    if prompts is not None and (not isinstance(prompts, str) or not prompts.endswith(".jsonl")):
        raise UserError(f"params.yaml: {where}.prompts = {prompts!r}: a JSON-lines file (.jsonl) or null")
    return CalibrateSpec(
        subset_size=_positive_int(_require(raw, "subset_size", where), f"{where}.subset_size"),
        other_components={component: int(count) for component, count in others.items()},
        prompts=prompts,
    )


JUDGES = ("scenes",)


def _variant_evaluate(raw: Any, where: str) -> VariantEvaluate:
    if raw is None:
        return VariantEvaluate()
    if not isinstance(raw, dict):
        raise UserError(f"params.yaml: {where} must map prompts / num_prompts / judge")
    judge, prompts = raw.get("judge"), raw.get("prompts")
    if judge is not None and judge not in JUDGES:
        raise UserError(f"unknown judge {judge!r} at {where}.judge: allowed are {', '.join(JUDGES)} (or null)")
    if prompts is not None and (not isinstance(prompts, str) or not prompts.endswith(".jsonl")):
        raise UserError(f"params.yaml: {where}.prompts = {prompts!r}: a JSON-lines file (.jsonl) or null")
    count = raw.get("num_prompts")
    return VariantEvaluate(prompts=prompts, judge=judge,
                           num_prompts=None if count is None else _positive_int(count, f"{where}.num_prompts"))


def _gate_spec(raw: dict | None, where: str) -> GateSpec | None:
    if raw is None:
        return None
    clip = raw.get("clip_sim_min")
    drop = raw.get("adherence_drop_max")
    return GateSpec(
        ssim_min=float(_require(raw, "ssim_min", where)),
        psnr_min=float(_require(raw, "psnr_min", where)),
        clip_sim_min=None if clip is None else float(clip),
        adherence_drop_max=None if drop is None else float(drop),
    )


def _variant(name: str, raw: dict) -> Variant:
    check_variant_name(name)
    where = f"variants.{name}"
    model = _model_spec(_require(raw, "model", where), f"{where}.model", name)
    calibrate_raw = raw.get("calibrate", {})
    return Variant(
        name=name,
        model=model,
        generation=_generation_spec(_require(raw, "generation", where), model.family, f"{where}.generation"),
        calibrate=_calibrate_spec(calibrate_raw, model.family, f"{where}.calibrate"),
        quantize=_quantize_spec(_require(raw, "quantize", where), model.family, f"{where}.quantize"),
        gate=_gate_spec(raw.get("gate"), f"{where}.gate"),
        evaluate=_variant_evaluate(raw.get("evaluate"), f"{where}.evaluate"),
    )


def parse(raw: dict[str, Any]) -> Params:
    """Validate a params mapping (as read from params.yaml)."""
    variants = {name: _variant(name, body) for name, body in (_require(raw, "variants", "") or {}).items()}
    enabled = list(raw.get("enabled") or [])
    for name in enabled:
        check_variant_name(name)
        if name not in variants:
            raise UserError(f"unknown variant {name!r} in 'enabled': params.yaml defines {', '.join(sorted(variants))}")
    devices = list(raw.get("devices") or ["CPU"])

    calibrate = raw.get("calibrate", {})
    prompts = calibrate.get("prompts", {})
    source = prompts.get("source", "local")
    if source not in PROMPT_SOURCES:
        raise UserError(f"unknown prompt source {source!r} at calibrate.prompts.source: allowed are {', '.join(PROMPT_SOURCES)}")

    evaluate = raw.get("evaluate", {})
    benchmark = raw.get("benchmark", {})
    runtimes = list(benchmark.get("runtimes", ["optimum"]))
    for runtime in runtimes:
        if runtime not in ("optimum", "genai"):
            raise UserError(f"unknown runtime {runtime!r} at benchmark.runtimes: allowed are optimum, genai")
    if "optimum" not in runtimes:
        raise UserError(f"benchmark.runtimes = {runtimes!r}: must include optimum (the project's own pipelines, "
                        "always measured); genai is the optional second runtime")
    warmup = benchmark.get("warmup", 1)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise UserError(f"params.yaml: benchmark.warmup = {warmup!r}: must be a non-negative integer")
    num_prompts = evaluate.get("num_prompts", 8)
    if isinstance(num_prompts, bool) or not isinstance(num_prompts, int) or num_prompts <= 0:
        raise UserError(f"params.yaml: evaluate.num_prompts = {num_prompts!r}: the validation count must be a positive integer")
    return Params(
        enabled=enabled,
        devices=devices,
        variants=variants,
        calibration_prompts=PromptSource(
            source=source,
            path=str(prompts.get("path", "data/prompts/calibration.jsonl")),
            dataset_id=str(prompts.get("dataset_id", "google-research-datasets/conceptual_captions")),
            split=str(prompts.get("split", "train")),
            shuffle_seed=int(prompts.get("shuffle_seed", 42)),
            column=str(prompts.get("column", "caption")),
            revision=_revision(prompts.get("revision"), "calibrate.prompts.revision"),
        ),
        calibrate_compare_prompts=int(calibrate.get("compare_notebook_prompts", 0)),
        validation_prompts_path=str(evaluate.get("prompts", "data/prompts/validation.jsonl")),
        evaluate=EvaluateParams(
            num_prompts=num_prompts,
            seeds=[int(s) for s in evaluate.get("seeds", [0])],
            clip_model=evaluate.get("clip_model"),
            clip_revision=_revision(evaluate.get("clip_revision"), "evaluate.clip_revision"),
        ),
        benchmark=BenchmarkParams(
            warmup=warmup,
            runs=_positive_int(benchmark.get("runs", 3), "benchmark.runs"),
            prompts=_positive_int(benchmark.get("prompts", 3), "benchmark.prompts"),
            f32_baseline=bool(benchmark.get("f32_baseline", True)),
            bf16_baseline=bool(benchmark.get("bf16_baseline", True)),
            runtimes=runtimes,
            rounds=_positive_int(benchmark.get("rounds", 1), "benchmark.rounds"),
            static_shapes=bool(benchmark.get("static_shapes", False)),
        ),
        raw=raw,
        host_precision=_host_precision((raw.get("host") or {}).get("precision", "auto")),
        scenes=_scenes(raw.get("scenes") or {}),
    )


def _scenes(raw: dict) -> ScenesParams:
    size = _positive_int(raw.get("image_size", 64), "scenes.image_size")
    if size % 32:
        raise UserError(f"params.yaml: scenes.image_size = {size}: use a multiple of 32 (the SDXL family's size step)")
    return ScenesParams(seed=int(raw.get("seed", 0)), image_size=size,
                        train_size=_positive_int(raw.get("train_size", 6000), "scenes.train_size"),
                        heldout_size=_positive_int(raw.get("heldout_size", 200), "scenes.heldout_size"))


def _host_precision(value: Any) -> str:
    from stages.runtime.host import PRECISIONS

    if value not in PRECISIONS:
        raise UserError(f"params.yaml: host.precision = {value!r}: allowed are {', '.join(PRECISIONS)}")
    return value


def load(path: Path | str = PARAMS_FILE) -> Params:
    path = Path(path)
    if not path.exists():
        raise UserError(f"no {path} here: run the stages from the repository root")
    with path.open() as handle:
        return parse(yaml.safe_load(handle) or {})
