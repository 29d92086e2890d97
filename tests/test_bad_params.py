"""Bad params: every value's type and range is checked in ov_diffusion_quant/config/params.py, before any stage works.

Each bad value is one line naming it and what is allowed; a YAML syntax error names its line.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, params_error, params_with
from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.config.params import load, parse

RAW = yaml.safe_load((REPO / "params.yaml").read_text())
SDXL, PIXART = "variants.tiny-sdxl-turbo", "variants.tiny-pixart-lcm"


@pytest.mark.parametrize("path, value, expected", [
    # wrong types: these reached float()/int() or the libraries as tracebacks
    (f"{SDXL}.quantize.components.unet", {"recipe": "int8", "smooth_quant_matmul": "abc"},
     "components.unet.smooth_quant_matmul = 'abc': use null (NNCF's default, 0.95), -1"),
    (f"{SDXL}.quantize.components.unet", {"recipe": "int8", "smooth_quant_convolution": 1.5},
     "smooth_quant_convolution = 1.5"),
    (f"{SDXL}.quantize.components.unet", {"recipe": "int8", "overflow_fix": "on"},
     "overflow_fix = 'on': use null (NNCF's default, first_layer) or one of disable, first_layer, enable"),
    (f"{SDXL}.quantize.components.unet", {"recipe": "int8", "bias_correction": True}, "bias_correction = True"),
    (f"{SDXL}.quantize.components.unet", {"recipe": "int8", "preset": "fast"}, "preset = 'fast'"),
    (f"{SDXL}.quantize.components.unet", {"recipe": "int8", "ignored_scope": ["attention", "heads"]},
     "unknown ignored scope 'heads' at variants.tiny-sdxl-turbo.quantize.components.unet.ignored_scope: sdxl has "),
    (f"{SDXL}.quantize.components.unet", {"recipe": "int9"}, "unknown recipe 'int9' at "
     "variants.tiny-sdxl-turbo.quantize.components.unet: allowed are "),
    (f"{SDXL}.quantize.components.unet", {"recipe": "int8", "group_size": 16}, "unknown key "
     "'variants.tiny-sdxl-turbo.quantize.components.unet.group_size': recipe int8 takes "),
    (f"{SDXL}.gate.ssim_min", "high", "gate.ssim_min = 'high': use null or a number in (-1, 1]"),
    (f"{SDXL}.model.seed", "x1", "model.seed = 'x1': must be an integer from 0 to 4294967295"),
    (f"{SDXL}.model.seed", -1, "model.seed = -1"),
    (f"{PIXART}.generation.seed", 2.5, "generation.seed = 2.5"),
    (f"{SDXL}.generation.guidance", "none", "generation.guidance = 'none'"),
    (f"{SDXL}.quantize.components.unet", {"recipe": "int8", "ignored_scope": "notebook"},
     "ignored_scope = 'notebook': use null (the family's default) or a list"),
    ("benchmark.static_shapes", "no", "benchmark.static_shapes = 'no': must be true or false"),
    ("evaluate.seeds", ["a"], "evaluate.seeds[] = 'a'"),
    ("evaluate.seeds", [], "evaluate.seeds = []: must be a non-empty list"),
    ("calibrate.compare_notebook_prompts", -1, "compare_notebook_prompts = -1: must be a non-negative integer"),
    # every knob that reaches NNCF, before the first component is quantized
    (f"{PIXART}.quantize.components.text_encoder", {"recipe": "int4_sym", "group_size": 0},
     "text_encoder.group_size = 0: use a positive group size (e.g. 64) or -1"),
    (f"{PIXART}.quantize.components.text_encoder", {"recipe": "int4_sym", "group_size": "16"}, "group_size = '16'"),
    (f"{PIXART}.quantize.components.vae_decoder", {"recipe": "int4_asym", "ratio": 0},
     "vae_decoder.ratio = 0: must be a number in (0, 1]"),
    (f"{SDXL}.quantize.search", {"candidates": [], "prompts": "data/scenes/validation.jsonl", "num_prompts": 4},
     "search.candidates = []: must be a list of candidate names"),
    (f"{SDXL}.quantize.search", {"candidates": ["notebook", "notebook"], "prompts": "data/scenes/validation.jsonl",
                                 "num_prompts": 4}, "lists notebook more than once"),
    (f"{SDXL}.quantize.search", {"candidates": ["no-such"], "prompts": "data/scenes/validation.jsonl",
                                 "num_prompts": 4}, "unknown candidate 'no-such' at"),
    ("search.candidates.notebook", {"sdxl": {"vae": "int8"}, "pixart": {"transformer": "hybrid"}},
     "unknown component 'vae'"),
    ("search.candidates.notebook", {"paint": {"unet": "int8"}}, "search.candidates.notebook.paint"),
    ("search.candidates", {"bad/name": {"sdxl": {"unet": "int8"}}}, "it names a DVC stage"),
    ("search.candidates", {"smooth-0.3": {"pixart": {"transformer": "int8"}}}, "'_' and '-' only (it names a DVC stage and a params key)"),
    ("search.variants", ["trained-sdxl-snapshot"], "which is not enabled"),
    (f"{SDXL}.quantize.search", {"candidates": ["notebook"], "prompts": "/tmp/v.jsonl",
                                 "num_prompts": 4}, "search.prompts = '/tmp/v.jsonl': must be under data/prompts/"),
    (f"{SDXL}.quantize.search", {"candidates": ["notebook"], "prompts": "data/prompts/x.jsonl",
                                 "num_prompts": 4, "objective": "smallest"}, "unknown objective 'smallest'"),
    (f"{PIXART}.calibrate.subset_size", 1.5, "subset_size = 1.5: must be a positive integer"),
    # ranges the families allow
    (f"{SDXL}.generation.height", 4096, "generation.height 4096 is not allowed for sdxl: use a positive multiple of "
                                        "32 up to 2048"),
    (f"{PIXART}.generation.width", 2064, "generation.width 2064 is not allowed for pixart"),
    (f"{PIXART}.generation.steps", 51, "generation.steps 51 is not allowed for pixart: use 1 to 50 (LCMScheduler"),
    (f"{SDXL}.generation.steps", 1001, "generation.steps 1001 is not allowed for sdxl: use 1 to 1000"),
    (f"{SDXL}.generation.img2img_strength", 0.2, "steps x strength = 2 x 0.2"),
    (f"{SDXL}.generation.img2img_strength", 0, "img2img_strength = 0: must be a number in (0, 1]"),
    (f"{PIXART}.model.max_length", 100000, "max_length = 100000: must be an integer from 1 to 512"),
    # lists
    ("enabled", ["tiny-sdxl-turbo", "tiny-sdxl-turbo"], "enabled = ['tiny-sdxl-turbo', 'tiny-sdxl-turbo']: lists "
                                                        "tiny-sdxl-turbo more than once"),
    ("enabled", "tiny-sdxl-turbo", "enabled = 'tiny-sdxl-turbo': must be a list of variant names"),
    ("devices", [], "devices = []: must be a list of OpenVINO device names"),
    ("benchmark.runtimes", ["optimum", "optimum"], "more than once"),
])
def test_a_bad_value_is_one_line_naming_it(path, value, expected):
    assert expected in params_error(params_with(path, value))


@pytest.mark.parametrize("path, value, expected", [
    (f"{SDXL}.quantize.serach", None, "unknown key 'variants.tiny-sdxl-turbo.quantize.serach': "
                                      "variants.tiny-sdxl-turbo.quantize takes "),
    ("benchmark.warmups", 2, "unknown key 'benchmark.warmups'"),
    ("evaluation", {}, "unknown key 'evaluation': the top level takes "),
])
def test_a_misspelt_key_is_refused_not_ignored(path, value, expected):
    assert expected in params_error(params_with(path, value))


def test_every_variant_says_whether_it_is_gated():
    assert "missing 'variants.tiny-sdxl-turbo.gate'" in params_error(params_with(f"{SDXL}.gate", None, delete=True))
    assert parse(params_with(f"{SDXL}.gate", None)).variant("tiny-sdxl-turbo").gate is None


@pytest.mark.parametrize("threshold, value", [("psnr_min", 0.0), ("psnr_min", -3), ("ssim_min", -1.0),
                                              ("clip_sim_min", -1), ("ssim_min", 1.5), ("psnr_min", 101)])
def test_a_threshold_that_cannot_fail_or_cannot_pass_is_refused(threshold, value):
    message = params_error(params_with(f"{SDXL}.gate.{threshold}", value))
    assert f"gate.{threshold} = {value!r}" in message and "cannot fail" in message


def test_a_gate_without_any_threshold_is_refused():
    message = params_error(params_with(f"{SDXL}.gate", {"ssim_min": None, "psnr_min": None}))
    assert "has no threshold" in message and "gate: null" in message


def test_the_arch_variants_are_explicitly_ungated():
    params = parse(RAW)
    assert params.variant("sdxl-turbo-arch").gate is None and params.variant("pixart-lcm-arch").gate is None
    assert params.gate.allow_empty is False
    assert "gate.allow_empty = 'yes': must be true or false" in params_error(params_with("gate.allow_empty", "yes"))


def write_params(tmp_path, text: str):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_a_yaml_syntax_error_names_its_line(tmp_path):
    lines = (REPO / "params.yaml").read_text().splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if line.startswith("  warmup: 1"))
    lines[number - 1] = lines[number - 1].replace("warmup: 1", "warmup 1")  # a missing colon
    with pytest.raises(UserError) as caught:
        load(write_params(tmp_path, "\n".join(lines) + "\n"))
    message = str(caught.value)
    # the parser notices it where the next key starts, and says so
    assert f"is not valid YAML at line {number + 1}, column 3 (or the line before)" in message
    assert "\n" not in message


def test_a_duplicate_key_is_refused_at_its_line(tmp_path):
    lines = (REPO / "params.yaml").read_text().splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if line.startswith("  runs: "))
    lines[number - 1] = "  warmup: 5"
    with pytest.raises(UserError, match=f"params.yaml .* line {number}, column 3: .*duplicate key 'warmup'"):
        load(write_params(tmp_path, "\n".join(lines) + "\n"))


def run_module(module: str, cwd, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTHONWARNINGS", None)  # what a user's shell has: nothing silences the libraries but the entry point
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_ovdq_params_validates_and_prints_the_dags_variants(tmp_path):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["enabled"], raw["devices"] = ["tiny-pixart-lcm"], ["CPU"]
    write_params(tmp_path, yaml.safe_dump(raw))
    result = run_module("ov_diffusion_quant.cli.params", tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    generation = raw["variants"]["tiny-pixart-lcm"]["generation"]
    assert "params.yaml is valid" in out and "1 enabled variant(s) x 1 device(s) (CPU)" in out
    assert (f"tiny-pixart-lcm: family pixart, source tiny, {generation['width']}x{generation['height']}, "
            f"{generation['steps']} step(s)") in out
    assert "recipes: " in out and "transformer=" in out and "quantize@tiny-pixart-lcm-CPU" in out
    [others] = [line for line in out.splitlines() if line.startswith("defined, not enabled: ")]
    assert set(others.removeprefix("defined, not enabled: ").split(", ")) == set(raw["variants"]) - {"tiny-pixart-lcm"}


def test_python_m_stages_config_params_on_invalid_params_exits_with_one_line(tmp_path):
    write_params(tmp_path, (REPO / "params.yaml").read_text().replace(
        "text_encoder: {recipe: int4_sym, group_size: 16}", "text_encoder: {recipe: int4_sym, group_size: 0}"))
    result = run_module("ov_diffusion_quant.cli.params", tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "variants.tiny-pixart-lcm.quantize.components.text_encoder.group_size = 0" in line


def test_a_bad_param_stops_the_heaviest_stage_with_only_its_line(tmp_path):
    """quantize imports OpenVINO, NNCF and torch at its top: none of their warnings may come first."""
    write_params(tmp_path, (REPO / "params.yaml").read_text().replace(
        "components: {unet: {recipe: int8}}", "components: {unet: {recipe: int8, smooth_quant_matmul: abc}}"))
    result = run_module("stages.quantize", tmp_path, "tiny-sdxl-turbo", "CPU")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()  # no library's warning before it
    assert line.startswith("error: ") and "components.unet.smooth_quant_matmul = 'abc'" in line
    verbose = run_module("stages.quantize", tmp_path, "tiny-sdxl-turbo", "CPU", "-v")
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr
