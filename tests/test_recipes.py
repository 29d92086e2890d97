"""The recipe registry: the schema (config/recipes.py) defines a recipe and its knobs, one function applies it
(quantization/recipes.py); params, quantize and the search take it from there. And what the search ranks on: the share of a denoiser's work that runs in INT8."""

from __future__ import annotations

import nncf
import numpy as np
import openvino as ov
import pytest

from conftest import params_with
from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.config.params import parse
from ov_diffusion_quant.families import get_family
from ov_diffusion_quant.config import recipes as schema
from ov_diffusion_quant.config.recipes import RECIPES, Knob, Recipe, parse_component
from ov_diffusion_quant.quantization import recipes
from ov_diffusion_quant.quantization.apply import quantize_model
from ov_diffusion_quant.quantization.ir_analysis import (count_quantized_ops, half_range_attention_keys,
                                                          image_int8_share, int8_compute_share, int8_op_names)
from ov_diffusion_quant.quantization.recipes import APPLIERS, RecipeResult, applies
from ov_diffusion_quant.quantization.chosen import choose, closest

CORE = ov.Core()


def read(export, component):
    return CORE.read_model(export / component / "openvino_model.xml")


def test_every_recipe_of_the_schema_has_one_applier():
    assert set(APPLIERS) == set(RECIPES)


def test_a_recipe_added_to_the_schema_with_its_applier_is_validated_and_applied(monkeypatch, pixart_export):
    monkeypatch.setattr(schema, "RECIPES", {**RECIPES, "int8_weights_sym": Recipe(
        "int8_weights_sym", "weight-only INT8, symmetric",
        (Knob("skip_embeddings", False, "must be true or false", lambda v: isinstance(v, bool),
              "embedding tables stay in float"),))})
    monkeypatch.setattr(recipes, "APPLIERS", dict(APPLIERS))
    calls = []

    @applies("int8_weights_sym")
    def _int8_sym(model, knobs, context):
        calls.append(knobs)
        scope = nncf.IgnoredScope(types=["Gather"]) if knobs["skip_embeddings"] else None
        return RecipeResult(nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_SYM, ignored_scope=scope))

    # params take it by name, with its knobs, and refuse a bad value of them in one line
    raw = params_with("variants.tiny-pixart-lcm.quantize.components.text_encoder",
                      {"recipe": "int8_weights_sym", "skip_embeddings": True})
    spec = parse(raw).variant("tiny-pixart-lcm").quantize.components["text_encoder"]
    assert spec.label() == "int8_weights_sym(skip_embeddings=True)"
    with pytest.raises(UserError, match="skip_embeddings = 'yes': must be true or false"):
        parse(params_with("variants.tiny-pixart-lcm.quantize.components.text_encoder",
                          {"recipe": "int8_weights_sym", "skip_embeddings": "yes"}))
    # the quantize stage's path applies it
    result = quantize_model(spec, read(pixart_export, "text_encoder"), get_family("pixart"), "text_encoder", None,
                            nncf.TargetDevice.CPU)
    assert calls == [{"skip_embeddings": True}]
    path = pixart_export.parent / "sym-test.xml"
    ov.save_model(result.model, path)
    counts = count_quantized_ops(CORE.read_model(path))
    assert counts["fake_quantize"] == 0 and counts["weights_by_precision"].get("i8", 0) >= 10
    assert "`int8_weights_sym`" in schema.describe()


def test_every_recipe_knob_has_a_default_it_accepts():
    for recipe in RECIPES.values():
        component = parse_component(recipe.name, "test")
        assert set(component.knobs) == {knob.name for knob in recipe.knobs}
        assert component.label() == recipe.name  # defaults are not spelled out in labels


def test_a_recipe_round_trips_through_its_json():
    recipe = parse_component({"recipe": "int8", "overflow_fix": "enable", "ignored_scope": ["notebook"]}, "test")
    assert parse_component(recipe.to_json(), "test") == recipe
    assert recipe.label() == "int8(overflow_fix='enable', ignored_scope=['notebook'])"


def test_accuracy_control_runs_only_inside_the_search(pixart_export, pixart_calibration):
    with pytest.raises(UserError, match="runs only inside the recipe search"):
        quantize_model(parse_component("accuracy_control", "test"), read(pixart_export, "transformer"),
                       get_family("pixart"), "transformer", pixart_calibration, nncf.TargetDevice.CPU)


def test_int8_compute_share_counts_only_ops_with_both_operands_quantized(sdxl_export, sdxl_int8, sdxl_calibration,
                                                                        pixart_export, pixart_calibration):
    fp = int8_compute_share(read(sdxl_export, "unet"), sdxl_calibration[0])
    int8 = int8_compute_share(sdxl_int8.model, sdxl_calibration[0])
    assert fp["int8_macs_share"] == 0 and fp["gmacs"] == int8["gmacs"] > 0
    assert 0.9 < int8["int8_macs_share"] < 1  # the notebook's scope keeps conv_in, conv_out and a shortcut in float
    weights_only = quantize_model(parse_component("int8_weights", "test"), read(pixart_export, "transformer"),
                                  get_family("pixart"), "transformer", None, nncf.TargetDevice.CPU)
    assert int8_compute_share(weights_only.model, pixart_calibration[0])["int8_macs_share"] == 0


def test_named_ignored_scopes_keep_their_ops_in_float(sdxl_export, sdxl_calibration, sdxl_int8):
    model = read(sdxl_export, "unet")
    kept = quantize_model(parse_component({"recipe": "int8", "ignored_scope": ["notebook", "attention_scores"]},
                                          "test"), model, get_family("sdxl"), "unet", sdxl_calibration,
                          nncf.TargetDevice.CPU)
    names = int8_op_names(kept.model)
    all_int8 = int8_op_names(sdxl_int8.model)
    attention = {name for name in all_int8 if "scaled_dot_product_attention" in name}
    assert attention and not names & attention
    assert names and names <= all_int8


def test_the_share_of_the_image_counts_every_component_and_call_at_the_runs_shapes(pixart_export, pixart_pipeline,
                                                                                   tmp_path):
    """What one FP text-to-image run called, then a model whose VAE decoder alone is INT8: its share of the image is
    the decoder's MACs over the whole run's, the transformer counted once per step."""
    from ov_diffusion_quant.evaluation.compare import render_reference
    from ov_diffusion_quant.quantization.apply import copy_export

    from ov_diffusion_quant.config.params import load

    generation = load().variant("tiny-pixart-lcm").generation
    calls: dict = {}
    render_reference(pixart_pipeline, [{"caption": "a red square"}] * 2, generation, [0], False, image_calls=calls)
    assert calls["transformer"]["calls"] == generation.steps and calls["vae_decoder"]["calls"] == 1
    assert calls["text_encoder"]["calls"] == 1 and calls["transformer"]["inputs"]["hidden_states"][0] == 1
    fp = image_int8_share(pixart_export, calls)
    assert fp["image_int8_macs_share"] == 0 and fp["image_components"]["transformer"]["calls"] == generation.steps
    copy_export(pixart_export, tmp_path, link=False)
    latents = {name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)
               for name, shape in calls["vae_decoder"]["inputs"].items()}
    vae = quantize_model(parse_component("int8", "test"), read(pixart_export, "vae_decoder"), get_family("pixart"),
                         "vae_decoder", [latents], nncf.TargetDevice.CPU)
    ov.save_model(vae.model, tmp_path / "vae_decoder" / "openvino_model.xml")
    share = image_int8_share(tmp_path, calls)
    parts = {name: part["gmacs_per_call"] * part["calls"] for name, part in share["image_components"].items()}
    decoder = share["image_components"]["vae_decoder"]["int8_macs_share"]
    assert 0 < decoder <= 1 and share["image_gmacs"] == pytest.approx(sum(parts.values()), rel=1e-3)
    assert share["image_int8_macs_share"] == pytest.approx(decoder * parts["vae_decoder"] / sum(parts.values()),
                                                           abs=1e-3)


def test_the_search_takes_the_passing_candidate_with_the_most_int8():
    rows = [{"candidate": "a", "passed": False, "image_int8_macs_share": 0.99, "margin": -0.5},
            {"candidate": "b", "passed": True, "image_int8_macs_share": 0.80, "margin": 0.1},
            {"candidate": "c", "passed": True, "image_int8_macs_share": 0.95, "margin": 0.05},
            {"candidate": "d", "passed": True, "image_int8_macs_share": 0.95, "margin": 0.2}]
    assert choose(rows) == 2  # c: as much INT8 as d, and earlier
    assert choose([{**row, "passed": False} for row in rows]) is None
    assert closest([{**row, "passed": False} for row in rows]) == "d"


CANDIDATES = {"hybrid": {"pixart": {"transformer": "hybrid"}},
              "weights": {"pixart": {"transformer": "int8_weights"}},
              "int8": {"pixart": {"transformer": "int8"}},
              "int8-7-bit": {"pixart": {"transformer": {"recipe": "int8", "overflow_fix": "enable",
                                                        "attention_overflow_fix": "enable"}}}}


def _searching_workspace(tmp_path, monkeypatch, pixart_export, candidates=("hybrid", "weights")):
    """The repository layout with the tiny PixArt export, calibrated, and a search over ``candidates`` in its
    params, as the cwd."""
    import shutil

    import yaml

    from conftest import REPO
    from stages import calibrate as calibrate_stage

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    registry = raw["search"]["candidates"]
    raw["search"] = {"variants": ["tiny-pixart-lcm"],
                     "candidates": {**registry, **{name: {**registry.get(name, {}), **families}
                                                   for name, families in CANDIDATES.items()}}}
    variant = raw["variants"]["tiny-pixart-lcm"]
    variant["quantize"]["search"] = {"prompts": "data/prompts/validation.jsonl", "num_prompts": 2,
                                     "candidates": list(candidates)}
    variant["evaluate"] = {"prompts": "data/prompts/calibration.jsonl"}
    variant["calibrate"]["subset_size"] = 8
    variant["gate"] = {"ssim_min": 0.5, "psnr_min": 10.0}
    raw["calibrate"]["compare_notebook_prompts"] = 0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    shutil.copytree(REPO / "data" / "prompts", tmp_path / "data" / "prompts")
    shutil.copytree(pixart_export, tmp_path / "models" / "tiny-pixart-lcm" / "fp")
    monkeypatch.chdir(tmp_path)
    assert calibrate_stage.main(["tiny-pixart-lcm"]) == 0


def _search(candidates, variant="tiny-pixart-lcm", device="CPU") -> int:
    """The search's stages as DVC runs them: statistics and FP images once, each candidate, then the choice."""
    from stages import candidate as candidate_stage
    from stages import fp_images as fp_images_stage
    from stages import recipe as recipe_stage
    from stages import statistics as statistics_stage

    assert statistics_stage.main([variant, device]) == 0
    assert fp_images_stage.main([variant, device]) == 0
    for name in candidates:
        assert candidate_stage.main([variant, device, name]) == 0
    return recipe_stage.main([variant, device])


def _write_rows(rows, variant="tiny-pixart-lcm", device="CPU"):
    from ov_diffusion_quant.common import paths
    from ov_diffusion_quant.common.outputs import write_json
    from ov_diffusion_quant.runtime import host_facts

    for row in rows:
        write_json(paths.candidate_row(variant, device, row["candidate"]),
                   {"listed": True, "seconds": 1.0, "host": host_facts.provenance(), "recorded": {}, **row})


def test_when_no_candidate_passes_the_table_is_written_and_the_stage_fails_naming_the_closest(
        tmp_path, monkeypatch, capsys, pixart_export):
    import json

    from stages import recipe as recipe_stage

    _searching_workspace(tmp_path, monkeypatch, pixart_export)
    _write_rows([{"candidate": "hybrid", "passed": False, "failed_checks": ["text2image ssim (min) 0.5 < 0.95"],
                  "margin": -0.47, "int8_macs_share": 0.4},
                 {"candidate": "weights", "passed": False, "failed_checks": ["text2image psnr (min) 25 < 26"],
                  "margin": -0.04, "int8_macs_share": 0.0}])
    capsys.readouterr()
    assert recipe_stage.main(["tiny-pixart-lcm", "CPU"]) == 2
    [line] = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert "no candidate recipe of variants.tiny-pixart-lcm.quantize.search passes the gate" in line
    assert "the closest is weights (text2image psnr (min) 25 < 26)" in line
    recorded = json.loads((tmp_path / "metrics" / "tiny-pixart-lcm" / "CPU" / "recipe.json").read_text())
    assert recorded["chosen"] is None and recorded["closest"] == "weights" and len(recorded["candidates"]) == 2
    assert not (tmp_path / "data" / "recipes").exists()  # quantize has nothing to apply


def test_the_choice_refuses_rows_measured_on_another_host_class(tmp_path, monkeypatch, capsys, pixart_export):
    from stages import recipe as recipe_stage
    from ov_diffusion_quant.runtime import host_facts

    _searching_workspace(tmp_path, monkeypatch, pixart_export)
    _write_rows([{"candidate": name, "passed": True, "failed_checks": [], "margin": 0.1, "int8_macs_share": 0.1}
                 for name in ("hybrid", "weights")])
    monkeypatch.setenv(host_facts.ISA_OVERRIDE_ENV, "avx2")
    capsys.readouterr()
    assert recipe_stage.main(["tiny-pixart-lcm", "CPU"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "were measured on another host class" in line and "hybrid, weights" in line


def test_without_vnni_the_search_skips_a_candidate_whose_int8_sums_saturate(tmp_path, monkeypatch, pixart_export):
    """On an avx512 host (no VNNI) full INT8 with 8-bit weights is quantized, found saturating and not rendered; full
    INT8 with 7-bit weights and attention keys cannot saturate: it is checked and chosen over weight-only INT8. Both
    INT8 candidates take the shared statistics: one collection, no pass of their own."""
    import json

    from ov_diffusion_quant.runtime import host_facts

    names = ("int8", "int8-7-bit", "weights")
    _searching_workspace(tmp_path, monkeypatch, pixart_export, names)
    monkeypatch.setenv(host_facts.ISA_OVERRIDE_ENV, "avx512")
    assert _search(names) == 0
    search = json.loads((tmp_path / "metrics" / "tiny-pixart-lcm" / "CPU" / "recipe.json").read_text())
    int8, seven_bit, weights = search["candidates"]
    assert int8["skipped"] and not int8["passed"] and int8["adherence_drop"] is None and int8["margin"] is None
    [reason] = int8["failed_checks"]
    assert reason.startswith("skipped: its INT8 sums saturate on avx512 (no VNNI): ")
    assert "transformer: INT8 weights beyond ±64 (overflow_fix is not enable)" in reason
    assert "transformer: INT8 products of two activations (attention)" in reason
    assert weights["passed"] and not weights.get("skipped")
    assert seven_bit["passed"] and not seven_bit.get("skipped") and seven_bit["int8_macs_share"] > 0.9
    assert search["chosen"] == "int8-7-bit"
    assert int8["statistics"] == seven_bit["statistics"] == {"transformer": "shared"}
    assert int8["details"]["transformer"]["statistics_passes"] == seven_bit["details"]["transformer"]["statistics_passes"] == 0
    statistics = json.loads((tmp_path / "data" / "statistics" / "tiny-pixart-lcm" / "CPU.json").read_text())
    assert statistics["components"]["transformer"]["statistics_passes"] == 2  # SmoothQuant's, then MinMax's


def test_when_every_candidate_saturates_the_stage_fails_saying_what_would_run(tmp_path, monkeypatch, capsys,
                                                                            pixart_export):
    from stages import recipe as recipe_stage

    _searching_workspace(tmp_path, monkeypatch, pixart_export, ("hybrid",))
    _write_rows([{"candidate": "hybrid", "passed": False, "skipped": True, "margin": None,
                  "failed_checks": ["skipped: its INT8 sums saturate on avx2 (no VNNI): 3 transformer: ..."]}])
    capsys.readouterr()
    assert recipe_stage.main(["tiny-pixart-lcm", "CPU"]) == 2
    [line] = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert "no candidate recipe of variants.tiny-pixart-lcm.quantize.search can run on " in line
    assert "overflow_fix: enable and attention_scores in its ignored_scope, or a weight-only one" in line


def test_the_search_quantizes_and_checks_each_candidate_on_its_validation_prompts(tmp_path, monkeypatch,
                                                                                 pixart_export):
    """The whole search on the tiny PixArt (two candidates, two prompts): the table, and the choice quantize reads."""
    import json

    _searching_workspace(tmp_path, monkeypatch, pixart_export)
    assert _search(("hybrid", "weights")) == 0
    search = json.loads((tmp_path / "metrics" / "tiny-pixart-lcm" / "CPU" / "recipe.json").read_text())
    assert [row["candidate"] for row in search["candidates"]] == ["hybrid", "weights"]
    hybrid, weights = search["candidates"]
    assert hybrid["passed"] and weights["passed"]  # tiny random weights: both stay close to FP
    assert hybrid["int8_macs_share"] > weights["int8_macs_share"] == 0
    assert hybrid["statistics"]["transformer"].startswith("own passes (1): its weights are compressed first")
    assert weights["statistics"] == {}  # weight-only: no statistics at all
    assert search["chosen"] == "hybrid" and search["validation_prompts"] == "data/prompts/validation.jsonl"
    chosen = json.loads((tmp_path / "data" / "recipes" / "tiny-pixart-lcm" / "CPU.json").read_text())
    assert chosen["searched"] and chosen["candidate"] == "hybrid"
    assert chosen["components"]["transformer"]["recipe"] == "hybrid"
    assert chosen["components"]["text_encoder"] == {"recipe": "int4_sym", "group_size": 16, "ratio": 1.0}
    assert hybrid["stopped_early"] is None and weights["stopped_early"] is None  # passing: every caption rendered
    # the chosen candidate's quantized model is kept, and quantize takes it as it is instead of quantizing again
    from stages import quantize as quantize_stage

    search_models = tmp_path / "data" / "search" / "tiny-pixart-lcm" / "CPU" / "models"
    assert {path.name for path in (search_models / "hybrid").iterdir()} == {
        "transformer", "text_encoder", "vae_decoder", "compile_config.json", "quantized.json"}
    assert quantize_stage.main(["tiny-pixart-lcm", "CPU"]) == 0
    record = json.loads((tmp_path / "metrics" / "tiny-pixart-lcm" / "CPU" / "quantize.json").read_text())
    assert record["quantized_by"] == "candidate@tiny-pixart-lcm-CPU-hybrid"
    assert record["components"]["transformer"]["recipe"] == "hybrid"
    optimized = tmp_path / "models" / "tiny-pixart-lcm" / "optimized-CPU"
    for component in ("transformer", "text_encoder", "vae_decoder"):
        assert ((optimized / component / "openvino_model.bin").read_bytes()
                == (search_models / "hybrid" / component / "openvino_model.bin").read_bytes())


def test_a_recipe_that_cannot_take_the_shared_statistics_says_why():
    from ov_diffusion_quant.quantization.recipes import own_pass_reason

    assert own_pass_reason(parse_component({"recipe": "int8", "bias_correction": "full"}, "x")) == (
        "full bias correction keeps raw activations per layer")
    assert own_pass_reason(parse_component("hybrid", "x")).startswith("its weights are compressed first")
    for shared in ({"recipe": "int8", "ignored_scope": ["embeddings"], "overflow_fix": "enable"}, "int8_weights"):
        assert own_pass_reason(parse_component(shared, "x")) is None


def test_a_candidate_stops_rendering_once_an_image_is_under_a_gate_minimum():
    """An image under a minimum decides the gate (it checks the minimum), rounded as the gate rounds it."""
    from ov_diffusion_quant.config.specs import GateSpec
    from ov_diffusion_quant.evaluation.compare import Reference
    from ov_diffusion_quant.orchestration.search import CertainFailure

    references = [Reference(i, {"id": f"p{i}", "caption": "x"}, 100 + i, None, None) for i in range(5)]
    stop = CertainFailure(GateSpec(ssim_min=0.5, psnr_min=15.0), references, judge=False)
    rows = []

    def rendered(psnr):
        i = len(rows)
        rows.append({"prompt_index": i, "prompt_id": f"p{i}", "mode": "text2image", "seed": 100 + i, "psnr": psnr,
                     "ssim": 0.9, "clip_sim": None})
        return stop(rows, [None] * len(rows))

    assert not rendered(20.0)
    assert not rendered(14.99996)  # 15.0 as the gate rounds it: not under
    assert rendered(14.9)
    assert stop.after == 3 and stop.reason == "text2image psnr (min) 14.9 < 15 on caption p2"


def test_a_candidate_stops_rendering_once_its_adherence_cannot_come_back_within_the_allowed_drop():
    """The optimized model draws blank images: with 10 captions and 0.02 allowed, it stops at the first image after
    which even every other caption right would leave the drop over 0.02, and a model as good as FP never stops."""
    from ov_diffusion_quant.config.specs import GateSpec
    from ov_diffusion_quant.evaluation.compare import Reference
    from ov_diffusion_quant.orchestration.search import CertainFailure
    from ov_diffusion_quant.reference.judge import judge_image
    from ov_diffusion_quant.reference.scene_dataset import caption, render, split_scenes

    scenes = split_scenes(0, 10, 10)[1][:10]
    references = [Reference(i, {"id": f"s{i}", "caption": caption(s)}, i, render(s, 64), None)
                  for i, s in enumerate(scenes)]
    blank = np.zeros((64, 64, 3), np.uint8)
    blank_scores = [sum(judge_image(blank, r.prompt["caption"])["correct"].values()) / 5 for r in references]
    stop = CertainFailure(GateSpec(ssim_min=0.0, psnr_min=0.0, adherence_drop_max=0.02), references, judge=True)
    assert stop.fp > 0.9  # the judge reads the data set's own images
    images, rows = [], []
    for k in range(1, 11):
        images.append(blank)
        if stop(rows, images):
            break
    expected = next(k for k in range(1, 11) if round(stop.fp - (sum(blank_scores[:k]) + 10 - k) / 10, 4) > 0.02)
    assert stop.after == expected and "prompt adherence drop" in stop.reason, (blank_scores, stop.reason)
    assert stop.adherence()["drop"] > 0.02 and stop.adherence()["fp"]["attributes"] == round(stop.fp, 4)
    # a right image never stops it
    stop = CertainFailure(GateSpec(ssim_min=0.0, psnr_min=0.0, adherence_drop_max=0.02), references, judge=True)
    assert not any(stop(rows, [r.text2image for r in references[:k + 1]]) for k in range(10))


def test_the_search_table_marks_skipped_candidates_and_leaves_their_metrics_blank():
    from ov_diffusion_quant.cli.recipes import table

    summary = {"num_prompts": 2, "validation_prompts": "data/scenes/validation.jsonl", "seconds": 3.0,
               "host": {"cpu": "AMD EPYC", "isa_class": "avx2", "precision": "f32"}, "chosen": None, "closest": None,
               "candidates": [{"candidate": "notebook", "passed": False, "skipped": True, "adherence_drop": None,
                               "int8_macs_share": None, "total_seconds": 20.0},
                              {"candidate": "weights", "passed": False, "adherence_drop": 0.03,
                               "int8_macs_share": 0.0, "total_seconds": 21.7}]}
    text = table(summary)
    skipped = [cell.strip() for cell in next(line for line in text.splitlines() if line.startswith("| notebook")).split("|")]
    assert skipped[1:-1] == ["notebook", "skipped (saturates)", "-", "-", "20"], skipped
    assert "every candidate was skipped: its INT8 sums saturate on this host" in text
    assert "| FAIL" in next(line for line in text.splitlines() if line.startswith("| weights"))


def test_attention_overflow_fix_refuses_key_quantizers_it_cannot_halve_in_one_line():
    """Half range bounds signed symmetric keys only: an unsigned key quantizer is refused, naming it and its range."""
    import numpy as np
    from openvino import opset13 as ops

    def quantized(data, low, name):
        bounds = [np.float32(low), np.float32(3.0)] * 2
        return ops.fake_quantize(data, *bounds, 256, name=name)

    q, k, v = (ops.parameter([1, 4, 16, 16], np.float32, name=n) for n in "qkv")
    model = ov.Model([ops.scaled_dot_product_attention(quantized(q, -3.0 * 128 / 127, "fq_q"), quantized(k, 0.0, "fq_k"),
                                                       v, causal=False)], [q, k, v])
    with pytest.raises(UserError, match=r"^attention_overflow_fix needs .*fq_k") as refused:
        half_range_attention_keys(model)
    assert "256 levels over [0, 3]" in str(refused.value), "what the key quantizer it cannot halve has"


def test_the_pixart_family_names_the_parts_its_candidates_keep_in_float(pixart_export, pixart_calibration):
    import re

    family = get_family("pixart")
    for (component, name), patterns in family.SCOPE_PATTERNS.items():
        ops = [op.get_friendly_name() for op in read(pixart_export, component).get_ops()
               if op.get_type_name() in ("MatMul", "Convolution")]
        assert [op for op in ops if any(re.fullmatch(p, op) for p in patterns)], (component, name)
    with pytest.raises(UserError, match="'mid_block_attention' is not a part of the pixart transformer: it has "
                                        "attention_scores, embeddings, final_layer"):
        family.ignored_scope("transformer", read(pixart_export, "transformer"), ("mid_block_attention",))
    # ViDiT-Q's float embedders: int8 everywhere but there
    model = read(pixart_export, "transformer")
    kept = quantize_model(parse_component({"recipe": "int8", "ignored_scope": ["embeddings"]}, "test"), model.clone(),
                          family, "transformer", pixart_calibration, nncf.TargetDevice.CPU)
    names = int8_op_names(kept.model)
    assert names and not [name for name in names if re.search(r"(pos_embed|adaln_single|caption_projection)", name)]
    assert [name for name in names if "transformer_blocks" in name]
