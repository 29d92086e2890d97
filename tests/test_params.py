"""params.yaml validation: each bad value gets one line naming it and what is allowed."""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import REPO, params_error, params_with
from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.config.params import parse
from ov_diffusion_quant.config.recipes import RECIPES
from ov_diffusion_quant.families import family_names, get_family

RAW = yaml.safe_load((REPO / "params.yaml").read_text())


def test_the_committed_params_are_valid():
    params = parse(RAW)
    assert params.enabled and set(params.enabled) <= set(params.variants)
    assert {"sdxl-turbo", "pixart-lcm"} <= set(params.variants)
    assert params.variant("sdxl-turbo").model.taesd == "madebyollin/taesdxl"
    assert params.variant("pixart-lcm").model.max_length == 120


def test_unknown_family_names_the_allowed_ones():
    message = params_error(params_with("variants.tiny-sdxl-turbo.model.family", "flux"))
    assert "'flux'" in message and all(name in message for name in family_names())


def test_unknown_enabled_variant():
    message = params_error(params_with("enabled", ["tiny-sdxl-turbo", "nope"]))
    assert "'nope'" in message and "tiny-pixart-lcm" in message


@pytest.mark.parametrize("name", ["../evil", "a/b", "x\\y", ".hidden"])
def test_variant_names_with_path_characters_are_refused(name):
    raw = copy.deepcopy(RAW)
    raw["variants"][name] = raw["variants"]["tiny-sdxl-turbo"]
    assert "no path characters" in params_error(raw)


@pytest.mark.parametrize("size", [100, 130])
def test_height_must_be_a_multiple_the_family_allows(size):
    message = params_error(params_with("variants.tiny-sdxl-turbo.generation.height", size))
    assert f"height {size}" in message and "multiple of 32" in message


def test_pixart_allows_multiples_of_16():
    parse(params_with("variants.tiny-pixart-lcm.generation.width", 144))
    assert "multiple of 16" in params_error(params_with("variants.tiny-pixart-lcm.generation.width", 136))


@pytest.mark.parametrize("steps", [0, -1])
def test_non_positive_steps(steps):
    assert "must be a positive integer" in params_error(params_with("variants.tiny-pixart-lcm.generation.steps", steps))


def test_unknown_recipe_and_component():
    message = params_error(params_with("variants.tiny-sdxl-turbo.quantize.components", {"unet": "int3"}))
    assert "'int3'" in message and all(name in message for name in RECIPES), "it names every recipe allowed"
    message = params_error(params_with("variants.tiny-sdxl-turbo.quantize.components", {"transformer": "int8"}))
    assert "'transformer'" in message and "unet" in message


@pytest.mark.parametrize("size", [0, -5])
def test_subset_size_must_be_positive(size):
    assert "subset_size" in params_error(params_with("variants.tiny-sdxl-turbo.calibrate.subset_size", size))


def test_validation_count_of_zero():
    assert "validation count" in params_error(params_with("evaluate.num_prompts", 0))


def test_unknown_prompt_source_and_runtime():
    assert "local, hub" in params_error(params_with("calibrate.prompts.source", "s3"))
    assert "optimum, genai" in params_error(params_with("benchmark.runtimes", ["onnx"]))


def test_unknown_variant_lookup(params):
    with pytest.raises(UserError, match="unknown variant 'sd15'"):
        params.variant("sd15")


def test_unknown_device_lists_what_this_machine_has():
    from ov_diffusion_quant.runtime.devices import check_device

    with pytest.raises(UserError, match=r"unknown device 'GPU\.3': this machine has CPU.*AUTO"):
        check_device("GPU.3")
    assert check_device("AUTO") == "AUTO"


def test_benchmark_rounds_must_be_positive():
    assert "benchmark.rounds = 0: must be a positive integer" in params_error(params_with("benchmark.rounds", 0))


def test_benchmark_rounds_pool_the_timed_runs_and_keep_the_drift_visible():
    from ov_diffusion_quant.benchmarking.configurations import planned
    from ov_diffusion_quant.benchmarking.runner import pooled

    def measured(runs, load, rss, step):
        return {"load_seconds": load, "first_run_seconds": 9.0, "latency_s": {"median": sorted(runs)[1]},
                "runs_s": runs, "peak_rss_mb": rss,
                "components_s": {"denoiser_per_step": step, "denoiser_steps": 1, "vae_decoder": 0.1}}

    merged = pooled([measured([1.0, 1.1, 1.2], 10.0, 900.0, 0.8), measured([1.3, 1.4, 1.5], 12.0, 1000.0, 1.0)])
    assert merged["runs_s"] == [1.0, 1.1, 1.2, 1.3, 1.4, 1.5]
    assert merged["latency_s"]["median"] == 1.25 and merged["round_medians_s"] == [1.1, 1.4]
    assert merged["load_seconds"] == 11.0 and merged["peak_rss_mb"] == 1000.0
    assert merged["components_s"] == {"denoiser_per_step": 0.9, "denoiser_steps": 1, "vae_decoder": 0.1}
    single = measured([1.0, 1.1, 1.2], 10.0, 900.0, 0.8)
    assert pooled([single]) is single
    # FP and optimized are measured back to back, before the slow f32 baseline
    names, _ = planned(parse(RAW).benchmark, get_family("sdxl"))
    assert names[:3] == ["fp", "optimized", "fp_f32"]


# -- one home for every default -------------------------------------------------------------------------
STAGE_WIDE = {"devices": None, "host": None, "scenes": None, "calibrate": None, "evaluate": None, "gate": None,
              "benchmark": None}


def without_optional_keys(raw: dict) -> dict:
    """params.yaml's stage-wide sections with every key removed (each is optional)."""
    stripped = copy.deepcopy(raw)
    for section in STAGE_WIDE:
        stripped.pop(section, None)
    return stripped


def test_params_yaml_states_the_codes_defaults_for_every_stage_wide_knob():
    """Removing every stage-wide key from params.yaml changes nothing: the values it lists are the code's defaults
    (one place for them, the dataclasses of ov_diffusion_quant/config/specs.py), and it lists every knob."""
    import dataclasses

    from ov_diffusion_quant.config import specs

    full, stripped = parse(RAW), parse(without_optional_keys(RAW))
    for section in STAGE_WIDE:
        assert getattr(stripped, section) == getattr(full, section), f"params.yaml's {section} differs from the code"
    listed = {section: RAW[section] for section in STAGE_WIDE if isinstance(RAW.get(section), dict)}
    for section, spec in (("host", specs.HostParams), ("scenes", specs.ScenesParams), ("evaluate", specs.EvaluateParams),
                          ("gate", specs.GateParams), ("benchmark", specs.BenchmarkParams),
                          ("calibrate", specs.CalibrateParams)):
        missing = {f.name for f in dataclasses.fields(spec)} - set(listed[section])
        assert not missing, f"params.yaml's {section} does not list {sorted(missing)}"
    prompts = {f.name for f in dataclasses.fields(specs.PromptSource)} - set(RAW["calibrate"]["prompts"])
    assert not prompts, f"params.yaml's calibrate.prompts does not list {sorted(prompts)}"


def test_a_variant_key_left_out_takes_the_specs_default():
    """The parser has no default of its own: a missing optional key is the dataclass field's default."""
    import dataclasses

    from ov_diffusion_quant.config import specs

    raw = copy.deepcopy(RAW)
    variant = raw["variants"]["tiny-sdxl-turbo"]
    variant["model"] = {"family": "sdxl", "source": "tiny"}
    variant["generation"] = {"height": 128, "width": 128, "steps": 1}
    variant["quantize"] = {"components": {"unet": "int8"}}
    parsed = parse(raw).variant("tiny-sdxl-turbo")
    for spec, value in ((specs.ModelSpec, parsed.model), (specs.GenerationSpec, parsed.generation),
                        (specs.QuantizeSpec, parsed.quantize)):
        for field in dataclasses.fields(spec):
            if field.default is not dataclasses.MISSING:
                assert getattr(value, field.name) == field.default, f"{spec.__name__}.{field.name}"


@pytest.mark.parametrize("trained, snapshot", [("trained-sdxl", "trained-sdxl-snapshot"),
                                               ("trained-pixart", "trained-pixart-snapshot"),
                                               ("trained-pixart", "trained-pixart-snapshot-taesd")])
def test_a_snapshot_has_every_section_but_its_model_of_the_trained_variant_written_out(trained, snapshot):
    """Equal, and not shared: with YAML merge keys, `dvc exp run -S variants.<snapshot>.<key>=...` wrote the value
    under the anchor, so the trained variant and every other snapshot changed with it."""
    params = parse(RAW)
    for section in ("generation", "calibrate", "quantize", "evaluate", "gate"):
        assert getattr(params.variant(snapshot), section) == getattr(params.variant(trained), section), section
    assert params.variant(snapshot).model.source == f"data/reference-models/{trained}"
    assert params.variant(snapshot).model.train is None


@pytest.mark.parametrize("shared", ["  base: &base {height: 64}\n  other: *base\n",
                                    "  base: &base {height: 64}\n  other: {<<: *base, width: 64}\n"])
def test_params_that_share_a_node_are_refused_in_one_line(tmp_path, shared):
    """An alias or merge key: `dvc exp run -S` on a key under it writes it at the anchor, changing every variant."""
    from ov_diffusion_quant.config.params import read_yaml

    path = tmp_path / "params.yaml"
    path.write_text("variants:\n" + shared)
    with pytest.raises(UserError) as error:
        read_yaml(path)
    assert "line 3" in str(error.value) and "alias (*name) or merge key (<<:)" in str(error.value)
    assert "\n" not in str(error.value)
