"""Calibration collection and the NNCF recipes on the tiny models."""

from __future__ import annotations

import shutil
from pathlib import Path

import nncf
import numpy as np
import openvino as ov
import pytest

from conftest import stage_workspace
from ov_diffusion_quant.quantization import calibration_data
from stages.calibrate import collect, collect_component
from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.families import get_family
from ov_diffusion_quant.quantization.apply import quantize_model
from ov_diffusion_quant.config.recipes import parse_component
from ov_diffusion_quant.quantization.ir_analysis import count_quantized_ops

CORE = ov.Core()
REPO_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def recorded_inputs(pipeline, component, prompts, generation, count, directory):
    """``count`` inputs of ``component`` recorded into shards under ``directory`` as calibrate does, read back."""
    directory.mkdir(parents=True, exist_ok=True)
    shards = calibration_data.ShardWriter(directory, limit=count)
    collect_component(pipeline, component, prompts, generation, shards)
    shards.close({"component": component})
    return calibration_data.load(directory)[0]


def test_the_shard_writer_holds_at_most_one_shard_and_drops_samples_past_its_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(calibration_data, "SHARD_SIZE", 2)
    rng = np.random.default_rng(0)
    samples = [{"sample": rng.standard_normal((1, 4, 8, 8)).astype(np.float32), "timestep": np.array([i])}
               for i in range(6)]
    shards = calibration_data.ShardWriter(tmp_path, limit=5)
    for index, sample in enumerate(samples):
        shards.append(sample)
        assert len(shards.pending) < 2, "a full shard is written at once"
        assert len(list(tmp_path.glob("samples-*.safetensors"))) == min(index + 1, 5) // 2
    shards.close({"variant": "v"})
    loaded, manifest = calibration_data.load(tmp_path)
    assert len(loaded) == len(shards) == 5 and manifest["shards"] == [f"samples-0000{i}.safetensors" for i in range(3)]
    assert manifest["inputs"] == {"sample": {"shape": [1, 4, 8, 8], "dtype": "float32"},
                                  "timestep": {"shape": [1], "dtype": "int64"}}
    for mine, theirs in zip(loaded, samples):
        assert mine.keys() == theirs.keys() and all(np.array_equal(mine[key], theirs[key]) for key in mine)


def read(model_dir, component):
    return CORE.read_model(model_dir / component / "openvino_model.xml")


@pytest.mark.parametrize("family_name", ["sdxl", "pixart"])
def test_collected_inputs_match_the_denoiser(request, family_name):
    export = request.getfixturevalue(f"{family_name}_export")
    samples = request.getfixturevalue(f"{family_name}_calibration")
    variant = request.getfixturevalue(f"{family_name}_variant")
    family = get_family(family_name)
    model = read(export, family.denoiser)
    assert len(samples) == 8
    expected = {port.get_any_name(): port.get_partial_shape() for port in model.inputs}
    for sample in samples:
        assert set(sample) == set(expected)
        for name, shape in expected.items():
            assert shape.compatible(ov.PartialShape(list(sample[name].shape))), name
    latent = variant.generation.height // 8
    assert samples[0]["sample" if family_name == "sdxl" else "hidden_states"].shape[-2:] == (latent, latent)
    calibration_data.check_matches_model(samples, model, export)  # the stage's own check agrees


def test_pixart_records_one_sample_per_step(pixart_pipeline, pixart_variant):
    prompts = [{"id": "a", "caption": "a photo of a cat"}, {"id": "b", "caption": "a red car"}]
    samples, rows, skipped, used = collect(pixart_pipeline, "transformer", prompts, pixart_variant.generation, 100,
                                           progress=False)
    steps = pixart_variant.generation.steps
    assert len(samples) == 2 * steps and used == 2 and skipped == 0
    assert [row["step"] for row in rows] == list(range(steps)) * 2
    timesteps = [int(sample["timestep"][0]) for sample in samples[:steps]]
    assert timesteps == sorted(timesteps, reverse=True) and len(set(timesteps)) == steps


def test_prompts_longer_than_the_tokenizer_are_skipped_and_counted(sdxl_pipeline, sdxl_variant):
    long_prompt = " ".join(["an extremely detailed photograph of a cat"] * 20)
    assert sdxl_pipeline.prompt_token_count(long_prompt) > sdxl_pipeline.max_prompt_tokens
    prompts = [{"id": "long", "caption": long_prompt}, {"id": "short", "caption": "a cat"}]
    samples, rows, skipped, used = collect(sdxl_pipeline, "unet", prompts, sdxl_variant.generation, 1, progress=False)
    assert skipped == 1 and used == 1 and rows == [{"prompt_id": "short", "step": 0}]


def test_calibration_artifact_round_trips_through_safetensors(tmp_path, sdxl_calibration):
    calibration_data.save(tmp_path, sdxl_calibration, {"denoiser": "unet"})
    assert not list(tmp_path.glob("*.pkl")) and list(tmp_path.glob("*.safetensors"))
    loaded, manifest = calibration_data.load(tmp_path)
    assert manifest["num_samples"] == len(sdxl_calibration)
    for a, b in zip(loaded, sdxl_calibration):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_calibration_that_does_not_match_the_model_is_refused(sdxl_calibration, pixart_export):
    transformer = read(pixart_export, "transformer")
    with pytest.raises(UserError, match="does not match the model"):
        calibration_data.check_matches_model(sdxl_calibration, transformer, pixart_export)


def quantize(recipe, export, family_name, component, calibration=None):
    """``recipe`` (a name, or a mapping with knobs as in params) on one component, as the quantize stage applies it."""
    return quantize_model(parse_component(recipe, "test"), read(export, component), get_family(family_name), component,
                          calibration, nncf.TargetDevice.CPU)


def saved_counts(result, tmp_path):
    path = tmp_path / "model.xml"
    ov.save_model(result.model, path)
    return count_quantized_ops(CORE.read_model(path))


def test_int8_quantizes_the_unet_except_the_notebooks_ignored_scope(sdxl_export, sdxl_int8, tmp_path):
    fp_counts = count_quantized_ops(read(sdxl_export, "unet"))
    result = sdxl_int8
    counts = saved_counts(result, tmp_path)
    assert fp_counts["fake_quantize"] == 0 and set(fp_counts["weights_by_precision"]) == {"f16"}
    assert counts["fake_quantize"] > 50
    # conv_in, conv_out and the last up block's last shortcut keep FP weights; everything else is INT8
    assert counts["weights_by_precision"]["f16"] == 3
    assert counts["weights_by_precision"]["i8"] == sum(fp_counts["weights_by_precision"].values()) - 3
    assert result.compile_config == {}


def test_the_sdxl_ignored_scope_names_the_notebooks_layers(sdxl_export):
    scope = get_family("sdxl").ignored_scope("unet", read(sdxl_export, "unet"))
    assert len(scope.names) == 3
    assert any("conv_in" in n for n in scope.names) and any("conv_out" in n for n in scope.names)
    assert any("up_blocks.1.resnets.2.conv_shortcut" in n for n in scope.names)  # the tiny UNet's last up block


def test_the_ignored_scope_fails_clearly_when_it_matches_nothing(pixart_export):
    with pytest.raises(UserError, match="ignored scope matched nothing"):
        get_family("sdxl").ignored_scope("unet", read(pixart_export, "transformer"))


def test_hybrid_compresses_matmul_weights_and_quantizes_the_rest(pixart_export, pixart_calibration, pixart_variant,
                                                                 tmp_path):
    result = quantize("hybrid", pixart_export, "pixart", "transformer", pixart_calibration)
    counts = saved_counts(result, tmp_path)
    assert counts["weights_by_precision"]["u8"] >= 20  # INT8 asym weight compression of MatMuls/embeddings
    assert counts["fake_quantize"] > 0  # activations of the remaining (convolution) ops
    assert result.compile_config == {"DYNAMIC_QUANTIZATION_GROUP_SIZE": "0"}


@pytest.mark.parametrize("recipe, precision", [("int8_weights", "u8"), ("int4_sym", "i4"), ("int4_asym", "u4")])
def test_weight_only_recipes(pixart_export, pixart_variant, recipe, precision, tmp_path):
    knobs = {"group_size": 16} if recipe.startswith("int4") else {}  # the tiny encoder's layers are narrow
    result = quantize({"recipe": recipe, **knobs}, pixart_export, "pixart", "text_encoder")
    counts = saved_counts(result, tmp_path)
    assert counts["fake_quantize"] == 0
    assert counts["weights_by_precision"].get(precision, 0) >= 10


def test_none_leaves_the_component_as_exported(pixart_export, pixart_variant, tmp_path):
    result = quantize("none", pixart_export, "pixart", "vae_decoder")
    assert saved_counts(result, tmp_path) == count_quantized_ops(read(pixart_export, "vae_decoder"))


def test_calibrated_recipes_refuse_components_without_calibration(pixart_export, pixart_variant):
    with pytest.raises(UserError, match="needs calibration data.*text_encoder"):
        quantize("int8", pixart_export, "pixart", "text_encoder")


@pytest.mark.parametrize("family_name, component, input_name", [("pixart", "vae_decoder", "latents"),
                                                                 ("sdxl", "vae_decoder", "latent_sample")])
def test_other_components_are_recorded_from_full_runs(request, family_name, component, input_name, tmp_path):
    pipeline = request.getfixturevalue(f"{family_name}_pipeline")
    variant = request.getfixturevalue(f"{family_name}_variant")
    prompts = [{"id": str(i), "caption": caption} for i, caption in enumerate(["a cat", "a red car", "a lake"])]
    samples = recorded_inputs(pipeline, component, prompts, variant.generation, 2, tmp_path)
    latent = variant.generation.height // 8
    assert len(samples) == 2 and set(samples[0]) == {input_name}
    assert samples[0][input_name].shape[-2:] == (latent, latent)
    assert not np.array_equal(samples[0][input_name], samples[1][input_name])  # two prompts, two latents


def test_int8_of_the_vae_decoder_from_its_recorded_inputs(pixart_export, pixart_pipeline, pixart_variant, tmp_path):
    prompts = [{"id": str(i), "caption": caption} for i, caption in enumerate(["a cat", "a red car", "a lake"])]
    samples = recorded_inputs(pixart_pipeline, "vae_decoder", prompts, pixart_variant.generation, 3, tmp_path / "data")
    calibration_data.check_matches_model(samples, read(pixart_export, "vae_decoder"), tmp_path)
    counts = saved_counts(quantize("int8", pixart_export, "pixart", "vae_decoder", samples),
                          tmp_path)
    assert counts["fake_quantize"] > 0
    assert counts["weights_by_precision"].get("i8", 0) >= 10  # the decoder's convolutions run in INT8


def test_other_components_are_validated():
    import yaml

    from ov_diffusion_quant.config.params import parse
    from ov_diffusion_quant.families import check_all

    raw = yaml.safe_load(REPO_PARAMS.read_text())
    for others, message in (({"transformer": 4}, "unknown component 'transformer'.*subset_size"),
                            ({"unet": 4}, "unknown component 'unet'.*allowed are .*vae_decoder"),
                            ({"vae_decoder": 0}, "other_components.vae_decoder = 0: must be a positive integer"),
                            ([4], "must map components to sample counts")):
        raw["variants"]["tiny-pixart-lcm"]["calibrate"]["other_components"] = others
        with pytest.raises(UserError, match=message):
            check_all(parse(raw))


def test_calibrate_and_quantize_stages_give_the_vae_decoder_int8(pixart_export, tmp_path, monkeypatch):
    import json

    from stages import calibrate as calibrate_stage
    from stages import quantize as quantize_stage
    from stages import recipe as recipe_stage

    stage_workspace(tmp_path, monkeypatch, pixart_export, calibrate={"subset_size": 4,
                                                                     "other_components": {"vae_decoder": 3}},
                    components={"transformer": "int8", "vae_decoder": "int8"})
    assert calibrate_stage.main(["tiny-pixart-lcm"]) == 0
    samples, manifest = calibration_data.load(tmp_path / "data" / "calibration" / "tiny-pixart-lcm" / "vae_decoder")
    assert len(samples) == 3 and manifest["component"] == "vae_decoder"
    assert json.loads((tmp_path / "metrics" / "tiny-pixart-lcm" / "calibrate.json").read_text())[
        "other_components"] == {"vae_decoder": 3}
    assert recipe_stage.main(["tiny-pixart-lcm", "CPU"]) == 0
    assert quantize_stage.main(["tiny-pixart-lcm", "CPU"]) == 0
    done = json.loads((tmp_path / "metrics" / "tiny-pixart-lcm" / "CPU" / "quantize.json").read_text())["components"]
    assert done["vae_decoder"]["recipe"] == "int8" and done["vae_decoder"]["fake_quantize"] > 0
    assert done["transformer"]["fake_quantize"] > 0


def test_quantize_records_the_int8_ops_that_would_saturate_and_warns_on_a_host_without_vnni(
        pixart_export, tmp_path, monkeypatch, caplog):
    import json
    import logging

    from stages import calibrate as calibrate_stage
    from stages import quantize as quantize_stage
    from stages import recipe as recipe_stage
    from ov_diffusion_quant.runtime import host_facts

    stage_workspace(tmp_path, monkeypatch, pixart_export, calibrate={"subset_size": 4},
                    components={"transformer": "int8", "vae_decoder": "none"})
    assert calibrate_stage.main(["tiny-pixart-lcm"]) == 0
    assert recipe_stage.main(["tiny-pixart-lcm", "CPU"]) == 0
    monkeypatch.setenv(host_facts.ISA_OVERRIDE_ENV, "avx512")
    with caplog.at_level(logging.WARNING, logger="stages.quantize"):
        assert quantize_stage.main(["tiny-pixart-lcm", "CPU"]) == 0
    recorded = json.loads((tmp_path / "metrics" / "tiny-pixart-lcm" / "CPU" / "quantize.json").read_text())
    counts = recorded["saturating_without_vnni"]
    assert counts.get("transformer: INT8 weights beyond ±64 (overflow_fix is not enable)", 0) > 0, counts
    [warning] = [r.getMessage() for r in caplog.records if r.name == "stages.quantize" and r.levelno == logging.WARNING]
    assert warning.startswith("tiny-pixart-lcm on avx512: INT8 sums saturate on this host class (no VNNI)")
    assert "overflow_fix: enable and attention_scores in its ignored_scope" in warning


def test_quantize_stage_names_the_missing_recorded_inputs(pixart_export, tmp_path, monkeypatch, capsys):
    from stages import quantize as quantize_stage
    from stages import recipe as recipe_stage

    stage_workspace(tmp_path, monkeypatch, pixart_export, components={"transformer": "none", "vae_decoder": "int8"})
    assert recipe_stage.main(["tiny-pixart-lcm", "CPU"]) == 0
    assert quantize_stage.main(["tiny-pixart-lcm", "CPU"]) == 2
    assert ("recipe 'int8' for vae_decoder needs its recorded inputs: set "
            "variants.tiny-pixart-lcm.calibrate.other_components.vae_decoder") in capsys.readouterr().err
    assert not (tmp_path / "models" / "tiny-pixart-lcm" / "optimized-CPU").exists()


def test_smooth_quant_alpha_reaches_nncf(pixart_export, pixart_calibration):
    # on the tiny PixArt transformer's INT8: a quarter of the tiny UNet's quantization time, the same SmoothQuant
    on, off = (quantize({"recipe": "int8", "smooth_quant_matmul": alpha}, pixart_export, "pixart", "transformer",
                        pixart_calibration) for alpha in (None, -1))
    # SmoothQuant adds scaling Multiply ops in front of MatMuls; with alpha -1 there are none
    def multiplies(model):
        return sum(op.get_type_name() == "Multiply" for op in model.get_ops())
    assert multiplies(on.model) > multiplies(off.model)
    assert count_quantized_ops(off.model)["fake_quantize"] > 0


def test_quantized_directory_loads_and_generates(sdxl_export, sdxl_int8, sdxl_variant, tmp_path):
    optimized = tmp_path / "optimized"
    shutil.copytree(sdxl_export, optimized)
    result = sdxl_int8
    (optimized / "unet" / "openvino_model.bin").unlink()
    ov.save_model(result.model, optimized / "unet" / "openvino_model.xml")
    pipeline = get_family("sdxl").load(optimized, "CPU")
    image = pipeline.text_to_image("cute cat", sdxl_variant.generation, seed=3)
    assert image.size == (sdxl_variant.generation.width, sdxl_variant.generation.height)
