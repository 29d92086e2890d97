"""Reading the pipeline's own artifacts (common/artifacts.py): an IR is checked before OpenVINO opens it, and a
damaged one is one line naming the file and the stage that makes it (common/paths.py reads the layout backwards)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from ov_diffusion_quant.common.errors import UserError


def test_check_ir_and_read_ir_on_a_small_model(tmp_path):
    import openvino as ov
    from openvino import opset13

    from ov_diffusion_quant.common.artifacts import check_ir, read_ir

    weights = opset13.constant(np.arange(64, dtype=np.float32).reshape(8, 8))
    parameter = opset13.parameter([1, 8], np.float32, name="x")
    xml = tmp_path / "openvino_model.xml"
    ov.save_model(ov.Model([opset13.matmul(parameter, weights, False, False)], [parameter]), xml,
                  compress_to_fp16=False)
    check_ir(xml)
    assert read_ir(xml).inputs[0].get_any_name() == "x"
    os.truncate(xml.with_suffix(".bin"), 100)
    with pytest.raises(UserError, match=r"openvino_model.bin is corrupt \(truncated: 100 bytes") as truncated:
        check_ir(xml)
    assert "needs 256" in str(truncated.value), "how much the XML needs"
    with pytest.raises(UserError, match=r"openvino_model.xml is corrupt \(OpenVINO cannot read it: Incorrect weights"):
        read_ir(xml)  # the same damage, seen by OpenVINO: still one line
    xml.with_suffix(".bin").unlink()
    with pytest.raises(UserError, match=r"openvino_model.bin is missing"):
        check_ir(xml)


def test_the_stage_that_makes_a_path_is_read_from_the_layout():
    from ov_diffusion_quant.common.paths import remake_hint, stage_that_makes

    assert stage_that_makes("models/v/fp/unet/openvino_model.bin") == "export@v"
    assert stage_that_makes("models/v/optimized-AUTO/unet/openvino_model.xml") == "quantize@v-AUTO"
    assert stage_that_makes("data/calibration/v/vae_decoder/samples-00000.safetensors") == "calibrate@v"
    assert stage_that_makes("metrics/v/CPU/evaluate_per_prompt.csv") == "evaluate@v-CPU"
    assert stage_that_makes("metrics/v/export.json") == "export@v"
    assert stage_that_makes("/elsewhere/model.xml") is None
    assert remake_hint("models/v/fp") == "re-run `dvc repro -f export@v`"
