"""The benchmark's measurements that run in-process: the text encoder apart (PixArt's T5-XXL in f32 does not fit
beside the transformer in 24 GB), and when the benchmark chooses it."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from ov_diffusion_quant.benchmarking.configurations import text_encoder_apart
from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.config.specs import BenchmarkParams
from ov_diffusion_quant.families import get_family


def test_pixart_draws_the_same_image_with_its_text_encoder_apart(pixart_export, pixart_variant):
    family, generation, prompt = get_family("pixart"), pixart_variant.generation, "a red cube on a blue floor"
    whole = np.asarray(family.load(pixart_export, "CPU").text_to_image(prompt, generation, seed=3))
    encoded = family.load(pixart_export, "CPU", parts=("text_encoder",)).encode(prompt)
    rest = family.load(pixart_export, "CPU", parts=("transformer", "vae_decoder"))
    assert set(rest.compiled_model_slots()) == {"transformer", "vae_decoder"}
    np.testing.assert_array_equal(np.asarray(rest.text_to_image(prompt, generation, seed=3, encoded=encoded)), whole)
    with pytest.raises(UserError, match="loaded without its text encoder"):
        rest.text_to_image(prompt, generation, seed=3)
    with pytest.raises(UserError, match="unknown pixart components \\['unet'\\]"):
        family.load(pixart_export, "CPU", parts=("unet",))
    with pytest.raises(UserError, match="sdxl family loads all its components"):
        get_family("sdxl").load(pixart_export, "CPU", parts=("text_encoder",))


def test_the_f32_baseline_goes_apart_when_it_would_not_fit_or_when_asked():
    pixart, sdxl = get_family("pixart"), get_family("sdxl")
    auto, always, never = (BenchmarkParams(text_encoder_apart=value) for value in ("auto", "always", "never"))
    # PixArt with the full T5-XXL: 10.8 GB of FP16 IR, 9.5 of it the encoder, 22 GB available
    assert text_encoder_apart(auto, pixart, "fp_f32", 5.0, 4.0, 24.0) is None  # fits: 1 GB + 3.3 x 5 GB
    why = text_encoder_apart(auto, pixart, "fp_f32", 10.8, 9.5, 22.0)  # the pre-flight's estimate: 1 + 3.3 x 10.8
    assert "would need about 36.6 GB (1 GB + 3.3 x its FP IR) with 22.0 GB available; the text encoder alone about " \
           "20.0 GB" in why
    assert text_encoder_apart(never, pixart, "fp_f32", 10.8, 9.5, 20.0) is None
    assert text_encoder_apart(always, pixart, "fp_f32", 0.01, 0.005, 20.0) == "benchmark.text_encoder_apart is always"
    for name in ("fp", "optimized", "genai_fp"):  # only the f32 configuration holds f32 weights
        assert text_encoder_apart(always, pixart, name, 10.8, 9.5, 1.0) is None
    assert text_encoder_apart(always, sdxl, "fp_f32", 6.3, 1.6, 1.0) is None


def test_the_composed_measurement_times_both_parts(pixart_export, pixart_variant, params, tmp_path, monkeypatch):
    from ov_diffusion_quant.benchmarking.measure import measure_one

    shutil.copytree(pixart_export, tmp_path / "models" / pixart_variant.name / "fp")
    monkeypatch.chdir(tmp_path)
    prompts = [{"caption": "a red cube"}, {"caption": "a green ball"}]
    params = dataclasses.replace(params, benchmark=dataclasses.replace(params.benchmark, runs=3))  # odd: see below
    together = measure_one(params, pixart_variant, "CPU", "fp_f32", prompts)
    apart = measure_one(params, pixart_variant, "CPU", "fp_f32", prompts, text_encoder_apart=True)
    runs = params.benchmark.runs
    for measured in (together, apart):
        assert len(measured["metrics"]["runs_s"]) == runs
        assert measured["metrics"]["components_s"]["denoiser_steps"] == pixart_variant.generation.steps
        assert measured["metrics"]["components_s"]["text_encoders"] > 0
        assert measured["env"]["inference_precision"] == "f32"
    assert "text_encoder_apart" in apart["env"] and "text_encoder_apart" not in together["env"]
    parts = apart["metrics"]["components_s"]
    # each run's latency is its encoding plus its generation, so it is at least the parts the hooks timed; the parts
    # are medians over the runs, so (an odd number of runs) at least one run has both at or above them: the slowest
    # run is at least their sum (the median run need not be, on a busy machine)
    assert max(apart["metrics"]["runs_s"]) >= parts["denoiser"] + parts["vae_decoder"]
