"""params.yaml, loaded and validated in one place into typed objects.

Every stage calls :func:`load` and reads only what it declares as a DVC param. Every value is checked
here, its type and its range, before any stage does any work (so a bad value never reaches NNCF,
diffusers or OpenVINO halfway through a run): an error is one line that names the bad value and what
is allowed, a YAML syntax error names its line, and a key this file does not know is refused (a
misspelt knob would otherwise be silently ignored).
`ovdq params` also checks every variant against its family and prints the variants the DAG runs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import yaml

from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.config.families import family_names
from ov_diffusion_quant.config.recipes import parse_component
from ov_diffusion_quant.config.optimum_peers import PEERS
from ov_diffusion_quant.config.specs import (  # noqa: F401  (re-exported: the params API in one import)
    ModelSpec,
    GenerationSpec,
    CalibrateSpec,
    QuantizeSpec,
    Candidate,
    SearchSpec,
    SEARCH_OBJECTIVES,
    GateSpec,
    GateParams,
    Variant,
    PromptSource,
    EvaluateParams,
    BenchmarkParams,
    Params,
    check_variant_name,
    VARIANT_NAME,
    SourceKind,
    PROMPT_SOURCES,
    PSNR_CAP_DB,
    LARGE_MODEL_SWITCHES,
    TrainSpec,
    VariantEvaluate,
    ScenesParams,
    CalibrateParams,
    HostParams,
    PRECISIONS,
    SearchParams,
)

PARAMS_FILE = Path("params.yaml")
SEED_MAX = 2**32 - 1  # every generator the pipelines seed (torch, numpy, datasets' shuffle) takes 0 .. 2**32 - 1
MAX_LENGTH_MAX = 512  # T5 tokenizers' model_max_length
RUNTIMES = ("optimum", "genai")
TEXT_ENCODER_APART = ("auto", "always", "never")
SEARCH_PROMPT_DIRS = ("data/prompts/", "data/scenes/")


# -- typed readers: each returns the value or raises one line naming it ----------------------------------
def _default(spec: type, name: str) -> Any:
    """A spec field's default (the dataclasses in specs.py are the one home of the code's defaults)."""
    return {f.name: f for f in dataclasses.fields(spec)}[name].default


def _default_factory(spec: type, name: str) -> Any:
    return {f.name: f for f in dataclasses.fields(spec)}[name].default_factory()


def _bad(where: str, value: Any, rule: str) -> UserError:
    return UserError(f"params.yaml: {where} = {value!r}: {rule}")


def _section(raw: Any, where: str, keys: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
    """A mapping with only known keys (and the required ones)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"params.yaml: {where or 'the file'} must be a mapping (key: value), "
                        f"not {type(raw).__name__} {raw!r}"[:300])
    prefix = f"{where}." if where else ""
    for key in raw:
        if key not in keys:
            raise UserError(f"params.yaml: unknown key '{prefix}{key}': {where or 'the top level'} takes "
                            f"{', '.join(keys)}")
    for key in required:
        if key not in raw:
            raise UserError(f"params.yaml: missing '{prefix}{key}'")
    return raw


def _int(value: Any, where: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low) \
            or (high is not None and value > high):
        if high is None:
            rule = {1: "must be a positive integer", 0: "must be a non-negative integer"}.get(low, "must be an integer")
        else:
            rule = f"must be an integer from {low} to {high}"
        raise _bad(where, value, rule)
    return value


def _number(value: Any, where: str, rule: str, accept: Callable[[float], bool] = lambda _: True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not accept(value):
        raise _bad(where, value, rule)
    return float(value)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _bad(where, value, "must be true or false")
    return value


def _text(value: Any, where: str, rule: str = "must be a non-empty string") -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(where, value, rule)
    return value


def _optional_text(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where, "must be null or a non-empty string")


def _choice(value: Any, where: str, choices: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise UserError(f"unknown {what} {value!r} at {where}: allowed are {', '.join(choices)}")
    return value


def _names(value: Any, where: str, what: str, allow_empty: bool) -> list[str]:
    """A YAML list of distinct non-empty names."""
    if not isinstance(value, list) or (not value and not allow_empty):
        raise _bad(where, value, f"must be a list of {what}{' (it may be empty)' if allow_empty else ''}")
    for item in value:
        _text(item, where, f"must be a list of {what}")
    duplicates = sorted({item for item in value if value.count(item) > 1})
    if duplicates:
        raise _bad(where, value, f"lists {', '.join(duplicates)} more than once")
    return list(value)


# -- the variant registry -----------------------------------------------------------------------------
TRAINED_SOURCE = SourceKind.TRAINED.value  # `source: trained`: the source stage trains the reference model


def _train_spec(raw: Any, where: str) -> TrainSpec:
    raw = _section(raw, where, ("steps", "batch_size", "lr", "vae_steps", "taesd_steps", "threads"),
                   required=("steps",))
    return TrainSpec(
        steps=_int(raw["steps"], f"{where}.steps", 1),
        batch_size=_int(raw.get("batch_size", _default(TrainSpec, "batch_size")), f"{where}.batch_size", 1, 4096),
        lr=_number(raw.get("lr", _default(TrainSpec, "lr")), f"{where}.lr", "must be a number in (0, 1)", lambda value: 0 < value < 1),
        vae_steps=_int(raw.get("vae_steps", _default(TrainSpec, "vae_steps")), f"{where}.vae_steps", 1),
        taesd_steps=_int(raw.get("taesd_steps", _default(TrainSpec, "taesd_steps")), f"{where}.taesd_steps", 1),
        threads=_int(raw.get("threads", _default(TrainSpec, "threads")), f"{where}.threads", 1, 256),
    )


def _revision(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where, "use a commit hash, tag or branch of the hub repo (or null)")


def _model_spec(raw: Any, where: str, variant: str = "<variant>") -> ModelSpec:
    raw = _section(raw, where, ("family", "source", "seed", "taesd", "max_length", "weights_variant", "revision",
                                "taesd_revision", "train"),
                   required=("family", "source"))

    family = _choice(raw["family"], f"{where}.family", family_names(), "family")
    taesd = _optional_text(raw.get("taesd"), f"{where}.taesd")
    return ModelSpec(
        family=family,
        source=_text(raw["source"], f"{where}.source", "use 'tiny', 'arch', a hub id or a local path"),
        seed=_int(raw.get("seed", _default(ModelSpec, "seed")), f"{where}.seed", 0, SEED_MAX),
        taesd=taesd,
        max_length=_int(raw.get("max_length", _default(ModelSpec, "max_length")), f"{where}.max_length", 1, MAX_LENGTH_MAX),
        weights_variant=_optional_text(raw.get("weights_variant"), f"{where}.weights_variant"),
        revision=_revision(raw.get("revision"), f"{where}.revision"),
        taesd_revision=_revision(raw.get("taesd_revision"), f"{where}.taesd_revision"),
    )


def _trained(spec: ModelSpec, raw: Any, where: str, variant: str) -> ModelSpec:
    """`source: trained`: the source stage writes the pipeline (and its tiny autoencoder) to models/<variant>/source,
    which export then reads as a local path."""
    if spec.source != TRAINED_SOURCE and "train" not in raw:
        return spec
    if spec.source != TRAINED_SOURCE:
        raise UserError(f"params.yaml: {where}: `train` goes with `source: trained`")
    trained = f"models/{variant}/source"
    return replace(spec, source=trained, taesd=f"{trained}/taesd" if spec.taesd == TRAINED_SOURCE else spec.taesd,
                   train=_train_spec(raw.get("train"), f"{where}.train"))


def _generation_spec(raw: Any, where: str) -> GenerationSpec:
    """Types and ranges; the family's sizes, steps and image-to-image rules: ModelFamily.check_variant."""
    raw = _section(raw, where, ("height", "width", "steps", "guidance", "seed", "img2img_steps", "img2img_strength"),
                   required=("height", "width", "steps"))
    return GenerationSpec(
        height=_int(raw["height"], f"{where}.height", 1),
        width=_int(raw["width"], f"{where}.width", 1),
        steps=_int(raw["steps"], f"{where}.steps", 1),
        guidance=_number(raw.get("guidance", _default(GenerationSpec, "guidance")), f"{where}.guidance",
                         "must be a number >= 0 (0 or 1: no CFG)", lambda value: value >= 0),
        seed=_int(raw.get("seed", _default(GenerationSpec, "seed")), f"{where}.seed", 0, SEED_MAX),
        img2img_steps=_int(raw.get("img2img_steps", _default(GenerationSpec, "img2img_steps")),
                           f"{where}.img2img_steps", 1),
        img2img_strength=_number(raw.get("img2img_strength", _default(GenerationSpec, "img2img_strength")),
                                 f"{where}.img2img_strength", "must be a number in (0, 1]",
                                 lambda value: 0 < value <= 1),
    )


def _component_recipes(raw: Any, where: str, required: bool = True) -> dict:
    """component -> recipe (the family's component names and scopes: ModelFamily.check_variant)."""

    if not isinstance(raw, dict) or (required and not raw):
        raise UserError(f"params.yaml: {where} must map the family's components to recipes, e.g. {{unet: int8}}")
    return {str(component): parse_component(body, f"{where}.{component}") for component, body in raw.items()}


def _search_spec(raw: Any, components: dict, where: str, family: str, registry: dict) -> SearchSpec | None:
    if raw is None:
        return None
    raw = _section(raw, where, ("candidates", "objective", "prompts", "num_prompts", "stop_early"),
                   required=("candidates", "prompts", "num_prompts"))
    names = _names(raw["candidates"], f"{where}.candidates", "candidate names from search.candidates",
                   allow_empty=False)
    candidates = []
    for index, name in enumerate(names):
        at = f"{where}.candidates[{index}]"
        if name in names[:index]:
            raise _bad(at, name, "is listed twice")
        if name not in registry:
            raise UserError(f"unknown candidate {name!r} at {at}: search.candidates defines "
                            f"{', '.join(registry) or 'none'}")
        if family not in registry[name]:
            raise UserError(f"candidate {name!r} at {at} has no recipe for family {family}: search.candidates.{name} "
                            f"defines {', '.join(registry[name])}")
        candidates.append(Candidate(name, {**components, **registry[name][family]}))
    prompts = _jsonl(_text(raw["prompts"], f"{where}.prompts"), f"{where}.prompts")
    if not prompts.startswith(SEARCH_PROMPT_DIRS):  # the search stages' deps in dvc.yaml
        raise _bad(f"{where}.prompts", prompts, f"must be under {' or '.join(SEARCH_PROMPT_DIRS)} (the search "
                                                "stages' deps)")
    return SearchSpec(
        candidates=tuple(candidates),
        prompts=prompts,
        num_prompts=_int(raw["num_prompts"], f"{where}.num_prompts", 1),
        objective=_choice(raw.get("objective", _default(SearchSpec, "objective")), f"{where}.objective", SEARCH_OBJECTIVES,
                          "objective"),
        stop_early=_bool(raw.get("stop_early", _default(SearchSpec, "stop_early")), f"{where}.stop_early"),
    )


def _candidate_registry(raw: Any) -> dict:
    """`search.candidates`: name -> family -> the components the candidate sets (recipes checked here; component
    names against each family by ModelFamily.check_variant, for the variants that use the candidate)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _bad("search.candidates", raw, "must map candidate names to {<family>: {<component>: <recipe>}}")
    registry = {}
    for name, body in raw.items():
        where = f"search.candidates.{name}"
        if not isinstance(name, str) or not VARIANT_NAME.match(name):
            raise _bad(where, name, "use letters, digits, '_' and '-' only (it names a DVC stage and a params key)")
        if not isinstance(body, dict) or not body:
            raise _bad(where, body, "must map families to the components the candidate sets, e.g. {sdxl: {unet: int8}}")
        for family in body:
            _choice(family, f"{where}.{family}", family_names(), "family")
        registry[name] = {family: _component_recipes(components, f"{where}.{family}")
                          for family, components in body.items()}
    return registry


def _quantize_spec(raw: Any, where: str, family: str, registry: dict) -> QuantizeSpec:
    raw = _section(raw, where, ("components", "large_model_patches", "search"), required=("components",))
    components = _component_recipes(raw["components"], f"{where}.components")
    large = raw.get("large_model_patches", _default(QuantizeSpec, "large_model_patches"))
    if isinstance(large, bool):  # YAML 1.1 (PyYAML) reads a bare on/off as a boolean
        large = "on" if large else "off"
    large = _choice(large, f"{where}.large_model_patches", LARGE_MODEL_SWITCHES, "large_model_patches")
    return QuantizeSpec(components=components, large_model_patches=large,
                        search=_search_spec(raw.get("search"), components, f"{where}.search", family, registry))


def _calibrate_spec(raw: Any, where: str, stage_wide: PromptSource) -> CalibrateSpec:
    raw = _section(raw, where, ("subset_size", "other_components", "prompts"), required=("subset_size",))
    others = raw.get("other_components") or {}
    if not isinstance(others, dict):
        raise UserError(f"params.yaml: {where}.other_components must map components to sample counts, "
                        f"e.g. {{vae_decoder: 4}}")
    return CalibrateSpec(
        subset_size=_int(raw["subset_size"], f"{where}.subset_size", 1),
        other_components={str(component): _int(count, f"{where}.other_components.{component}", 1)
                          for component, count in others.items()},
        prompts=None if raw.get("prompts") is None else _prompt_source(raw["prompts"], f"{where}.prompts", stage_wide),
    )


def _jsonl(value: Any, where: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.endswith(".jsonl")):
        raise _bad(where, value, "use a JSON-lines file (.jsonl) or null")
    return value


JUDGES = ("scenes",)


def _variant_evaluate(raw: Any, where: str) -> VariantEvaluate:
    raw = _section(raw, where, ("prompts", "num_prompts", "judge"))
    judge = raw.get("judge")
    count = raw.get("num_prompts")
    return VariantEvaluate(prompts=_jsonl(raw.get("prompts"), f"{where}.prompts"),
                           num_prompts=None if count is None else _int(count, f"{where}.num_prompts", 1),
                           judge=None if judge is None else _choice(judge, f"{where}.judge", JUDGES, "judge"))


# Thresholds that can never fail (or never pass) are refused: PSNR of 8-bit images is never below 0 dB and
# is capped at PSNR_CAP_DB; SSIM and the CLIP cosine lie in [-1, 1].
THRESHOLDS = {
    "ssim_min": ("a number in (-1, 1]", lambda value: -1 < value <= 1),
    "psnr_min": (f"a number of dB in (0, {PSNR_CAP_DB:g}]", lambda value: 0 < value <= PSNR_CAP_DB),
    "clip_sim_min": ("a number in (-1, 1]", lambda value: -1 < value <= 1),
    # judged variants: how much lower than FP's the optimized model's prompt adherence (0..1) may be
    "adherence_drop_max": ("a number in [0, 1)", lambda value: 0 <= value < 1),
}


def _gate_spec(raw: Any, where: str) -> GateSpec | None:
    if raw is None:
        return None  # explicitly not gated: reported as such, never as a pass
    raw = _section(raw, where, tuple(THRESHOLDS))
    thresholds = {}
    for name, (rule, accept) in THRESHOLDS.items():
        value = raw.get(name)
        thresholds[name] = None if value is None else _number(
            value, f"{where}.{name}", f"use null or {rule} (a threshold that cannot fail checks nothing)", accept)
    if all(value is None for value in thresholds.values()):
        raise UserError(f"params.yaml: {where} has no threshold: set at least one of {', '.join(THRESHOLDS)}, "
                        f"or `gate: null` to leave the variant explicitly ungated")
    return GateSpec(**thresholds)


def _variant(name: str, raw: Any, calibration_prompts: PromptSource, registry: dict) -> Variant:
    check_variant_name(name)
    where = f"variants.{name}"
    raw = _section(raw, where, ("model", "generation", "calibrate", "quantize", "evaluate", "gate"),
                   required=("model", "generation", "calibrate", "quantize", "gate"))
    model = _trained(_model_spec(raw["model"], f"{where}.model"), raw["model"], f"{where}.model", name)
    variant = Variant(
        name=name,
        model=model,
        generation=_generation_spec(raw["generation"], f"{where}.generation"),
        calibrate=_calibrate_spec(raw["calibrate"], f"{where}.calibrate", calibration_prompts),
        quantize=_quantize_spec(raw["quantize"], f"{where}.quantize", model.family, registry),
        gate=_gate_spec(raw["gate"], f"{where}.gate"),
        evaluate=_variant_evaluate(raw.get("evaluate"), f"{where}.evaluate"),
    )
    return variant


# -- stage-wide sections ----------------------------------------------------------------------------------
CALIBRATION_PROMPT_DIRS = ("data/prompts/", "data/scenes/")  # the calibrate stage's deps in dvc.yaml


def _prompt_source(raw: Any, where: str, base: PromptSource) -> PromptSource:
    """A prompt source: ``base`` with the keys ``raw`` gives."""
    raw = _section(raw, where, tuple(f.name for f in dataclasses.fields(PromptSource)))
    get = lambda key: raw.get(key, getattr(base, key))  # noqa: E731
    spec = PromptSource(
        source=_choice(get("source"), f"{where}.source", PROMPT_SOURCES, "prompt source"),
        path=_text(get("path"), f"{where}.path"),
        dataset_id=_text(get("dataset_id"), f"{where}.dataset_id"),
        split=_text(get("split"), f"{where}.split"),
        shuffle_seed=_int(get("shuffle_seed"), f"{where}.shuffle_seed", 0, SEED_MAX),
        column=_text(get("column"), f"{where}.column"),
        revision=_revision(get("revision"), f"{where}.revision"),
    )
    if spec.source == "local":
        _jsonl(spec.path, f"{where}.path")
        if "path" in raw and not spec.path.startswith(CALIBRATION_PROMPT_DIRS):
            raise _bad(f"{where}.path", spec.path, f"must be under {' or '.join(CALIBRATION_PROMPT_DIRS)} (the "
                                                   "calibrate stage's deps)")
    return spec


def _calibrate(raw: Any) -> CalibrateParams:
    raw = _section(raw, "calibrate", ("prompts", "compare_notebook_prompts"))
    return CalibrateParams(
        prompts=_prompt_source(raw.get("prompts"), "calibrate.prompts", PromptSource()),
        compare_notebook_prompts=_int(raw.get("compare_notebook_prompts", _default(CalibrateParams,
                                                                                   "compare_notebook_prompts")),
                                      "calibrate.compare_notebook_prompts", 0),
    )


def _evaluate(raw: Any) -> EvaluateParams:
    raw = _section(raw, "evaluate", ("prompts", "num_prompts", "seeds", "clip_model", "clip_revision"))
    defaults = EvaluateParams()
    num_prompts = raw.get("num_prompts", defaults.num_prompts)
    if isinstance(num_prompts, bool) or not isinstance(num_prompts, int) or num_prompts <= 0:
        raise _bad("evaluate.num_prompts", num_prompts, "the validation count must be a positive integer")
    seeds = raw.get("seeds", defaults.seeds)
    if not isinstance(seeds, list) or not seeds:
        raise _bad("evaluate.seeds", seeds, "must be a non-empty list of seeds")
    return EvaluateParams(
        prompts=_text(raw.get("prompts", defaults.prompts), "evaluate.prompts"),
        num_prompts=num_prompts,
        seeds=[_int(seed, "evaluate.seeds[]", 0, SEED_MAX) for seed in seeds],
        clip_model=_optional_text(raw.get("clip_model", defaults.clip_model), "evaluate.clip_model"),
        clip_revision=_revision(raw.get("clip_revision", defaults.clip_revision), "evaluate.clip_revision"),
    )


def _benchmark(raw: Any) -> BenchmarkParams:
    raw = _section(raw, "benchmark", ("warmup", "runs", "prompts", "rounds", "static_shapes", "bf16_baseline",
                                      "f32_baseline", "runtimes", "text_encoder_apart", "peers"))
    defaults = BenchmarkParams()
    peers = _names(raw.get("peers", defaults.peers), "benchmark.peers", "peer names", allow_empty=True)
    for peer in peers:
        _choice(peer, "benchmark.peers", tuple(PEERS), "peer")
    runtimes = _names(raw.get("runtimes", defaults.runtimes), "benchmark.runtimes", "runtimes", allow_empty=False)
    for runtime in runtimes:
        _choice(runtime, "benchmark.runtimes", RUNTIMES, "runtime")
    if "optimum" not in runtimes:
        raise UserError(f"benchmark.runtimes = {runtimes!r}: must include optimum (the project's own pipelines, "
                        "always measured); genai is the optional second runtime")
    return BenchmarkParams(
        warmup=_int(raw.get("warmup", defaults.warmup), "benchmark.warmup", 0),
        runs=_int(raw.get("runs", defaults.runs), "benchmark.runs", 1),
        prompts=_int(raw.get("prompts", defaults.prompts), "benchmark.prompts", 1),
        f32_baseline=_bool(raw.get("f32_baseline", defaults.f32_baseline), "benchmark.f32_baseline"),
        bf16_baseline=_bool(raw.get("bf16_baseline", defaults.bf16_baseline), "benchmark.bf16_baseline"),
        runtimes=runtimes,
        rounds=_int(raw.get("rounds", defaults.rounds), "benchmark.rounds", 1),
        static_shapes=_bool(raw.get("static_shapes", defaults.static_shapes), "benchmark.static_shapes"),
        text_encoder_apart=_choice(raw.get("text_encoder_apart", defaults.text_encoder_apart),
                                   "benchmark.text_encoder_apart", TEXT_ENCODER_APART, "setting"),
        peers=peers,
    )


def parse(raw: Any) -> Params:
    """Validate a params mapping (as read from params.yaml)."""
    raw = _section(raw, "", ("enabled", "devices", "host", "variants", "scenes", "calibrate", "evaluate", "benchmark",
                             "gate", "search"), required=("enabled", "variants"))
    if not isinstance(raw["variants"], dict) or not raw["variants"]:
        raise _bad("variants", raw["variants"], "must map variant names to their model, generation, calibrate, "
                                                "quantize and gate")
    calibrate = _calibrate(raw.get("calibrate"))
    search = _section(raw.get("search"), "search", ("variants", "candidates"))
    registry = _candidate_registry(search.get("candidates"))
    variants = {str(name): _variant(str(name), body, calibrate.prompts, registry)
                for name, body in raw["variants"].items()}
    enabled = _names(raw["enabled"], "enabled", "variant names", allow_empty=True)
    for name in enabled:
        check_variant_name(name)
        if name not in variants:
            raise UserError(f"unknown variant {name!r} in 'enabled': params.yaml defines {', '.join(sorted(variants))}")
    devices = _names(raw.get("devices", _default_factory(Params, "devices")), "devices",
                     "OpenVINO device names, e.g. [CPU]", allow_empty=False)
    evaluate = _evaluate(raw.get("evaluate"))
    for name, variant in variants.items():
        reported = variant.evaluate.prompts or evaluate.prompts
        if variant.quantize.search is not None and variant.quantize.search.prompts == reported:
            raise UserError(f"params.yaml: variants.{name}.quantize.search.prompts is {reported}, the captions the "
                            "gate reports on: search on a validation split of its own")
    searching = _names(search.get("variants", []), "search.variants", "enabled variant names", allow_empty=True)
    for name in searching:
        if name not in enabled:
            raise UserError(f"search.variants names {name!r}, which is not enabled: the search runs on enabled variants "
                            f"({', '.join(enabled) or 'none'})")
        if variants[name].quantize.search is None:
            raise UserError(f"search.variants names {name!r}, whose variants.{name}.quantize.search is null: give it "
                            "candidates, prompts and num_prompts, or leave it out of search.variants")
        if variants[name].gate is None:
            raise UserError(f"search.variants names {name!r}, which has no gate (variants.{name}.gate is null): the "
                            "search picks the fastest candidate that passes it; set one, or leave it out")
    gate = _section(raw.get("gate"), "gate", ("allow_empty",))
    return Params(
        enabled=enabled,
        variants=variants,
        devices=devices,
        host=_host(raw.get("host")),
        scenes=_scenes(raw.get("scenes")),
        calibrate=calibrate,
        evaluate=evaluate,
        gate=GateParams(allow_empty=_bool(gate.get("allow_empty", _default(GateParams, "allow_empty")),
                                          "gate.allow_empty")),
        benchmark=_benchmark(raw.get("benchmark")),
        search=SearchParams(variants=searching, candidates=registry),
        raw=raw,
    )


def _host(raw: Any) -> HostParams:

    raw = _section(raw, "host", ("precision",))
    return HostParams(precision=_choice(raw.get("precision", _default(HostParams, "precision")), "host.precision",
                                        PRECISIONS, "precision"))


def _scenes(raw: Any) -> ScenesParams:
    raw = _section(raw, "scenes", ("seed", "image_size", "train_size", "heldout_size", "validation_size"))
    size = _int(raw.get("image_size", _default(ScenesParams, "image_size")), "scenes.image_size", 32, 1024)
    if size % 32:
        raise _bad("scenes.image_size", size, "use a multiple of 32 (the reference model's size step)")
    return ScenesParams(seed=_int(raw.get("seed", _default(ScenesParams, "seed")), "scenes.seed", 0, SEED_MAX), image_size=size,
                        train_size=_int(raw.get("train_size", _default(ScenesParams, "train_size")), "scenes.train_size", 1, 1_000_000),
                        heldout_size=_int(raw.get("heldout_size", _default(ScenesParams, "heldout_size")), "scenes.heldout_size", 1, 100_000),
                        validation_size=_int(raw.get("validation_size", _default(ScenesParams, "validation_size")), "scenes.validation_size", 1, 100_000))


SHARED_NODES = ("an alias (*name) or merge key (<<:): `dvc exp run -S` writes a key under it at the anchor, which "
                "changes every place that shares it; write the section out")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys without a word; a params file must not say two things. Nor share a
    node between two places (aliases, merge keys): a sweep's `-S` on one of them would change all."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, SHARED_NODES, event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(None, None, SHARED_NODES, key_node.start_mark)
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path | str) -> Any:
    """A YAML file's content; a syntax error is one line naming the file, line and column."""
    path = Path(path)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "an unknown line"
        context = ""
        if error.context and error.context_mark and error.context_mark is not mark:
            context = f" ({error.context} that starts at line {error.context_mark.line + 1})"
        if not isinstance(error, yaml.constructor.ConstructorError):
            where += " (or the line before)"  # a parser notices a missing ':' or ']' where the next token starts
        raise UserError(f"{path} is not valid YAML at {where}: {error.problem}{context}") from error
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from error


def load(path: Path | str = PARAMS_FILE) -> Params:
    path = Path(path)
    if not path.exists():
        raise UserError(f"no {path} here: run the stages from the repository root")
    return parse(read_yaml(path))


# -- ovdq params ------------------------------------------------------------------------------------------
def describe(params: Params) -> str:
    """The variants the DAG runs (enabled x devices), each with its family, source, recipes and gate."""
    def gate(spec: GateSpec | None) -> str:
        if spec is None:
            return "not gated"
        return ", ".join(f"{name.removesuffix('_min')} >= {value:g}"
                         for name, value in vars(spec).items() if value is not None)

    lines = [f"{len(params.enabled)} enabled variant(s) x {len(params.devices)} device(s) "
             f"({', '.join(params.devices)}):"]
    for name in params.enabled:
        variant = params.variant(name)
        generation = variant.generation
        lines += [f"  {name}: family {variant.model.family}, source {variant.model.source}, "
                  f"{generation.width}x{generation.height}, {generation.steps} step(s)",
                  f"    recipes: {', '.join(f'{c}={r.label()}' for c, r in variant.quantize.components.items())}"
                  + (f" (searched over {len(variant.quantize.search.candidates)} candidates)"
                     if variant.quantize.search else "") + "; "
                  f"gate: {gate(variant.gate)}",
                  f"    stages: source@{name}, export@{name}, calibrate@{name}, "
                  + ", ".join(f"{stage}@{name}-{device}" for device in params.devices
                              for stage in ("statistics", "recipe", "quantize", "peers", "evaluate", "benchmark"))]
    if not params.enabled:
        lines.append("  (none: the DAG runs only gate and report"
                     + ("" if params.gate.allow_empty else ", and the gate fails: it would check nothing") + ")")
    others = sorted(set(params.variants) - set(params.enabled))
    if others:
        lines.append(f"defined, not enabled: {', '.join(others)}")
    return "\n".join(lines)
