"""The large-model path (ov_diffusion_quant/quantization/nncf_patches.py) on the tiny SDXL UNet, with its size threshold forced
low: NNCF's ranges in two passes, the same ops and pictures as NNCF unpatched, and no NNCF it was not written for."""

from __future__ import annotations

import shutil
from dataclasses import replace

import nncf
import numpy as np
import openvino as ov
import pytest

from conftest import quantize_tiny_unet
from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.evaluation.similarity import psnr_ssim
from ov_diffusion_quant.families import get_family
from ov_diffusion_quant.quantization import nncf_patches
from ov_diffusion_quant.quantization.ir_analysis import count_quantized_ops
from ov_diffusion_quant.runtime import host_facts

PROMPTS = ("a photo of a cat", "mountains over a lake", "a robot in a garden")


def optimized_dir(export, result, directory):
    """The export with its UNet replaced by ``result``, as the quantize stage writes it."""
    shutil.copytree(export, directory)
    (directory / "unet" / "openvino_model.bin").unlink()
    ov.save_model(result.model, directory / "unet" / "openvino_model.xml", compress_to_fp16=True)
    return directory


def fake_quantize_ranges(model) -> dict[str, list[np.ndarray]]:
    """Every FakeQuantize's input and output ranges, by name."""
    return {op.get_friendly_name(): [op.input_value(port).get_node().get_data().astype(np.float64) for port in (1, 2, 3, 4)]
            for op in model.get_ops() if op.get_type_name() == "FakeQuantize"}


def largest_relative_difference(ranges: dict, reference: dict) -> float:
    assert ranges.keys() == reference.keys(), "the same quantizers"
    return max(float(np.max(np.abs(mine - theirs) / (np.abs(theirs) + 1e-6)))
               for name in reference for mine, theirs in zip(ranges[name], reference[name]))


def test_the_large_model_path_gives_nncfs_ranges_in_two_passes(sdxl_export, sdxl_calibration, sdxl_variant, sdxl_int8,
                                                               monkeypatch):
    """Weight statistics from the constants and activation statistics in one model per step: with the statistics in
    f32 (NNCF's own precision) every FakeQuantize range is NNCF's to float rounding, in one pass per step."""
    default = sdxl_int8  # NNCF unpatched, quantized once per session with the same recipe and calibration
    assert default.details["large_model_patches"] is False  # the tiny UNet is far below 2 GiB
    assert default.details["statistics_passes"] == 2 and default.details["statistics_precision"] == "f32"
    monkeypatch.setattr(nncf_patches, "LARGE_MODEL_MIN_WEIGHT_BYTES", 0)  # the tiny UNet counts as large
    f32_host = {**host_facts.provenance(), "precision": "f32"}
    monkeypatch.setattr(host_facts, "provenance", lambda: f32_host)
    large, _ = quantize_tiny_unet(sdxl_export, sdxl_calibration, sdxl_variant.quantize)
    assert large.details["weight_statistics"] == "constants"
    assert large.details["statistics_passes"] == 2 and large.details["samples_per_pass"] == [8, 8]
    assert large.details["statistics_precision"] == "f32"
    assert largest_relative_difference(fake_quantize_ranges(large.model), fake_quantize_ranges(default.model)) < 1e-5


def test_a_weight_point_that_is_not_a_constant_stays_in_the_statistics_model(sdxl_export, sdxl_calibration,
                                                                             sdxl_variant, sdxl_int8, monkeypatch):
    """The fallback: where the weight's source is not a Constant (or a Convert of one), NNCF observes it as it
    would; forced here for every weight, which gives NNCF's ranges and the same two passes."""
    monkeypatch.setattr(nncf_patches, "LARGE_MODEL_MIN_WEIGHT_BYTES", 0)
    f32_host = {**host_facts.provenance(), "precision": "f32"}
    monkeypatch.setattr(host_facts, "provenance", lambda: f32_host)
    folded = []
    monkeypatch.setattr(nncf_patches, "weight_constant", lambda op, port: folded.append(op) and None)
    large, _ = quantize_tiny_unet(sdxl_export, sdxl_calibration, sdxl_variant.quantize)
    assert folded, "every weight point was asked for its constant"
    assert large.details["statistics_passes"] == 2
    assert largest_relative_difference(fake_quantize_ranges(large.model), fake_quantize_ranges(sdxl_int8.model)) < 1e-5


def test_the_large_model_path_quantizes_the_same_ops_and_draws_the_same_pictures(
        sdxl_export, sdxl_pipeline, sdxl_calibration, sdxl_variant, sdxl_int8, sdxl_int8_statistics_engines, tmp_path,
        monkeypatch):
    spec = sdxl_variant.quantize
    assert spec.large_model_patches == "auto"
    default = sdxl_int8
    assert sdxl_int8_statistics_engines and all(sdxl_int8_statistics_engines), \
        "unpatched NNCF collects statistics in f32"

    monkeypatch.setattr(nncf_patches, "LARGE_MODEL_MIN_WEIGHT_BYTES", 0)
    large, large_engines = quantize_tiny_unet(sdxl_export, sdxl_calibration, spec)
    # statistics in the host's precision: bf16 where the CPU has it, NNCF's own f32 elsewhere
    precision = host_facts.resolve_precision("auto", host_facts.isa_class())
    assert {key: large.details[key] for key in ("large_model_patches", "statistics_precision", "smoothed_model_on_disk",
                                                "weight_statistics", "statistics_passes")} == {
        "large_model_patches": True, "statistics_precision": precision, "smoothed_model_on_disk": True,
        "weight_statistics": "constants", "statistics_passes": 2}
    if precision == "bf16":
        assert not any(large_engines), "statistics models compiled at the device's default precision"
        # bf16 activations move the ranges by about its rounding (8 bits of mantissa), no more
        assert largest_relative_difference(fake_quantize_ranges(large.model), fake_quantize_ranges(default.model)) < 0.05
    else:
        assert all(large_engines), "statistics models compiled in f32, as unpatched NNCF does"
    assert set(large.details["phase_seconds"]) == {"statistics", "smooth_quant", "bias_correction"}

    default_dir = optimized_dir(sdxl_export, default, tmp_path / "default")
    large_dir = optimized_dir(sdxl_export, large, tmp_path / "large")
    counts = {name: count_quantized_ops(ov.Core().read_model(directory / "unet" / "openvino_model.xml"))
              for name, directory in (("default", default_dir), ("large", large_dir))}
    assert counts["large"] == counts["default"]
    assert counts["large"]["fake_quantize"] > 50 and counts["large"]["weights_by_precision"]["f16"] == 3

    sdxl = get_family("sdxl")
    pipelines = {"fp": sdxl_pipeline} | {name: sdxl.load(directory, "CPU") for name, directory in
                                         (("default", default_dir), ("large", large_dir))}
    gate, generation = sdxl_variant.gate, sdxl_variant.generation
    for seed, prompt in enumerate(PROMPTS):
        images = {name: pipeline.text_to_image(prompt, generation, seed) for name, pipeline in pipelines.items()}
        for name in ("default", "large"):
            psnr, ssim = psnr_ssim(images["fp"], images[name])
            assert ssim >= gate.ssim_min and psnr >= gate.psnr_min, f"{name} vs FP on {prompt!r}: {ssim=}, {psnr=}"


def test_another_nncf_version_fails_with_one_line_naming_it_and_the_switch(sdxl_export, sdxl_variant, monkeypatch):
    monkeypatch.setattr(nncf, "__version__", "3.5.0")
    spec = replace(sdxl_variant.quantize, large_model_patches="on")
    with pytest.raises(UserError) as error:
        quantize_tiny_unet(sdxl_export, [{"unused": None}], spec)
    message = str(error.value)
    assert "\n" not in message
    assert "NNCF 3.4.0 internals" in message and "this is NNCF 3.5.0" in message
    assert "set variants.tiny-sdxl-turbo.quantize.large_model_patches: off" in message


def test_the_switch_decides_and_auto_goes_by_weight_size(sdxl_export, monkeypatch):
    model = ov.Core().read_model(sdxl_export / "unet" / "openvino_model.xml")
    assert not nncf_patches.takes_large_model_patches(model, "auto")
    assert nncf_patches.takes_large_model_patches(model, "on")
    assert not nncf_patches.takes_large_model_patches(model, "off")
    monkeypatch.setattr(nncf_patches, "LARGE_MODEL_MIN_WEIGHT_BYTES", 0)
    assert nncf_patches.takes_large_model_patches(model, "auto")
    assert not nncf_patches.takes_large_model_patches(model, "off")
    # off on another NNCF: no patch is applied, so nothing to refuse
    monkeypatch.setattr(nncf, "__version__", "3.5.0")
    with nncf_patches.large_model_patches(model, "off", "variants.x.quantize.large_model_patches") as done:
        assert done["large_model_patches"] is False


@pytest.mark.parametrize("value, expected", [("auto", "auto"), ("on", "on"), (False, "off"), (True, "on")])
def test_the_switch_in_params(value, expected):
    import yaml

    from conftest import REPO
    from ov_diffusion_quant.config.params import parse

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["variants"]["tiny-sdxl-turbo"]["quantize"]["large_model_patches"] = value
    assert parse(raw).variant("tiny-sdxl-turbo").quantize.large_model_patches == expected
    raw["variants"]["tiny-sdxl-turbo"]["quantize"]["large_model_patches"] = "sometimes"
    with pytest.raises(UserError, match="unknown large_model_patches 'sometimes' at "
                                        "variants.tiny-sdxl-turbo.quantize.large_model_patches: allowed are auto, on, off"):
        parse(raw)


def midsize_sdxl_unet(directory) -> ov.Model:
    """The SDXL UNet's structure at a quarter of its width and fewer transformer layers (~60 M parameters, seeded
    random weights) as an FP16 IR: a model between the tiny ones and the 2.6 B UNet, that NNCF unpatched handles."""
    import torch
    from diffusers import UNet2DConditionModel

    from ov_diffusion_quant.families import arch_configs as arch

    config = {**arch.SDXL_UNET, "sample_size": 32, "block_out_channels": (64, 128, 256), "attention_head_dim": (1, 2, 4),
              "transformer_layers_per_block": (1, 2, 2)}
    unet = arch.seeded_module(lambda: UNet2DConditionModel(**config), 0, torch.float32)
    inputs = {"sample": torch.randn(1, 4, 32, 32), "timestep": torch.tensor([999.0]),
              "encoder_hidden_states": torch.randn(1, 77, 2048),
              "added_cond_kwargs": {"text_embeds": torch.randn(1, 1280), "time_ids": torch.randn(1, 6)}}

    class Denoiser(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.unet = unet

        def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids):
            return self.unet(sample, timestep, encoder_hidden_states, return_dict=False,
                             added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids})[0]

    example = {"sample": inputs["sample"], "timestep": inputs["timestep"],
               "encoder_hidden_states": inputs["encoder_hidden_states"], **inputs["added_cond_kwargs"]}
    with torch.no_grad():
        model = ov.convert_model(Denoiser().eval(), example_input=example)
    ov.save_model(model, directory / "unet.xml", compress_to_fp16=True)
    return ov.Core().read_model(directory / "unet.xml")


@pytest.mark.slow
def test_a_midsize_unet_gets_nncfs_ranges_from_the_large_model_path(sdxl_variant, tmp_path, monkeypatch):
    from ov_diffusion_quant.quantization.apply import quantize_model

    rng = np.random.default_rng(0)
    model = midsize_sdxl_unet(tmp_path)
    shapes = {"sample": (1, 4, 32, 32), "encoder_hidden_states": (1, 77, 2048), "text_embeds": (1, 1280),
              "time_ids": (1, 6)}
    calibration = [{**{name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()},
                    "timestep": np.array([999.0], np.float32)} for _ in range(4)]
    assert {port.any_name for port in model.inputs} == set(calibration[0])

    def quantized(switch):
        result = quantize_model(sdxl_variant.quantize.components["unet"], ov.Core().read_model(tmp_path / "unet.xml"),
                                get_family("sdxl"), "unet", calibration, nncf.TargetDevice.CPU, switch, "switch")
        return result

    default = quantized("off")
    monkeypatch.setattr(nncf_patches, "LARGE_MODEL_MIN_WEIGHT_BYTES", 0)
    f32_host = {**host_facts.provenance(), "precision": "f32"}
    monkeypatch.setattr(host_facts, "provenance", lambda: f32_host)
    large = quantized("auto")
    assert large.details["weight_statistics"] == "constants" and large.details["statistics_passes"] == 2
    assert len(fake_quantize_ranges(large.model)) > 200
    assert largest_relative_difference(fake_quantize_ranges(large.model), fake_quantize_ranges(default.model)) < 1e-5


def test_accuracy_control_reverts_the_group_that_helps_most_in_output_mode(monkeypatch):
    """NNCF ranks groups by the outputs' error after reverting each and reverts the highest first; the patch reverts
    the lowest first in output mode, and leaves metric mode (higher metric first) as it is."""
    from types import SimpleNamespace

    from nncf.quantization.algorithms.accuracy_control.ranker import Ranker

    monkeypatch.setattr(Ranker, "rank_groups_of_quantizers", lambda self, *args, **kwargs: ["worst", "mid", "best"])
    ranker = object.__new__(Ranker)
    with nncf_patches.accuracy_restorer_patches():
        ranker._evaluator = SimpleNamespace(is_metric_mode=lambda: False)
        assert ranker.rank_groups_of_quantizers() == ["best", "mid", "worst"]
        ranker._evaluator = SimpleNamespace(is_metric_mode=lambda: True)
        assert ranker.rank_groups_of_quantizers() == ["worst", "mid", "best"]
    ranker._evaluator = SimpleNamespace(is_metric_mode=lambda: False)
    assert ranker.rank_groups_of_quantizers() == ["worst", "mid", "best"]  # undone on exit


def test_accuracy_control_restores_biases_and_keeps_the_weights_smooth_quant_scaled():
    """A reverted op keeps the weights its quantizer saw (SmoothQuant's, matching the scale left on its input); only
    its bias goes back to the one before bias correction."""
    from types import SimpleNamespace

    from nncf.quantization.algorithms.accuracy_control.algorithm import QuantizationAccuracyRestorer

    nodes = {name: SimpleNamespace(node_name=name, attributes={}) for name in ("linear", "gelu")}
    graph = SimpleNamespace(get_all_nodes=lambda: list(nodes.values()), get_node_by_name=nodes.__getitem__)
    backend = SimpleNamespace(is_node_with_bias=lambda node, graph: node.node_name == "linear",
                              get_bias_value=lambda node, graph, model: "bias before correction",
                              get_weight_value=lambda *args: pytest.fail("weights must not be restored"))
    with nncf_patches.accuracy_restorer_patches():
        QuantizationAccuracyRestorer._collect_original_biases_and_weights(graph, graph, None, backend)
    assert nodes["linear"].attributes == {"original_bias": "bias before correction"}
    assert nodes["gelu"].attributes == {}


def test_accuracy_control_patches_refuse_another_nncf(monkeypatch):
    monkeypatch.setattr(nncf, "__version__", "3.5.0")
    with pytest.raises(UserError, match="patches NNCF 3.4.0's accuracy restorer .* this is NNCF 3.5.0"):
        with nncf_patches.accuracy_restorer_patches():
            pass
