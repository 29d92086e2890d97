"""The large-model path (ov_diffusion_quant/quantization/nncf_patches.py) on the tiny SDXL UNet, with its size threshold forced
low: it quantizes the same ops as NNCF unpatched, draws the same pictures, and refuses an NNCF it was not written for."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace

import nncf
import openvino as ov
import pytest

from conftest import quantize_tiny_unet
from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.evaluation.similarity import psnr_ssim
from ov_diffusion_quant.families import get_family
from ov_diffusion_quant.quantization import nncf_patches
from ov_diffusion_quant.quantization.recipes import count_quantized_ops
from ov_diffusion_quant.runtime import host_facts

PROMPTS = ("a photo of a cat", "mountains over a lake", "a robot in a garden")


def optimized_dir(export, result, directory):
    """The export with its UNet replaced by ``result``, as the quantize stage writes it."""
    shutil.copytree(export, directory)
    (directory / "unet" / "openvino_model.bin").unlink()
    ov.save_model(result.model, directory / "unet" / "openvino_model.xml", compress_to_fp16=True)
    return directory


def test_the_large_model_patches_quantizes_the_same_ops_and_draws_the_same_pictures(
        sdxl_export, sdxl_pipeline, sdxl_calibration, sdxl_variant, sdxl_int8, sdxl_int8_statistics_engines, tmp_path,
        monkeypatch, capsys):
    spec = sdxl_variant.quantize
    assert spec.large_model_patches == "auto"
    default = sdxl_int8  # the default path, quantized once per session with the same recipe and calibration
    assert default.details["large_model_patches"] is False  # the tiny UNet is far below 2 GiB
    assert sdxl_int8_statistics_engines and all(sdxl_int8_statistics_engines), \
        "unpatched NNCF collects statistics in f32"

    # the tiny UNet counts as large, and its ~180 observed nodes take two statistics chunks
    monkeypatch.setattr(nncf_patches, "LARGE_MODEL_MIN_WEIGHT_BYTES", 0)
    monkeypatch.setattr(nncf_patches, "LARGE_MODEL_NODES_PER_STATISTICS_CHUNK", 100)
    capsys.readouterr()
    large, large_engines = quantize_tiny_unet(sdxl_export, sdxl_calibration, spec)
    # statistics in the host's precision: bf16 where the CPU has it, NNCF's own f32 elsewhere
    precision = host_facts.resolve_precision("auto", host_facts.isa_class())
    assert large.details == {"large_model_patches": True, "statistics_precision": precision,
                             "smoothed_model_on_disk": True, "statistics_nodes_per_chunk": 100}
    if precision == "bf16":
        assert not any(large_engines), "statistics models compiled at the device's default precision"
    else:
        assert all(large_engines), "statistics models compiled in f32, as unpatched NNCF does"
    assert len(large_engines) > len(sdxl_int8_statistics_engines), "statistics collected in more than one chunk"
    assert re.search(r"NNCF statistics, 100 nodes per chunk.* (\d+)/\1 ", capsys.readouterr().err), "chunk progress i/N"

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
