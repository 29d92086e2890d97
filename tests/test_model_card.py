"""The optimized model directory says what it is where the ecosystem looks (reporting/model_card.py): optimum-intel
reads its quantization_config back from openvino_config.json, its README.md is a model card with the recipe, the host
class and where the gate's metrics and the speed are, and dvc.yaml declares the default variants' models as
artifacts."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import REPO, stage_workspace


@pytest.fixture
def quantized(pixart_export, tmp_path, monkeypatch):
    """The tiny PixArt through calibrate, recipe and quantize: INT8 transformer, INT4 T5, the VAE as exported."""
    from stages import calibrate, quantize, recipe

    stage_workspace(tmp_path, monkeypatch, pixart_export, calibrate={"subset_size": 4},
                    components={"transformer": {"recipe": "int8", "bias_correction": "full"},
                                "text_encoder": {"recipe": "int4_sym", "group_size": 16}, "vae_decoder": "none"})
    assert calibrate.main(["tiny-pixart-lcm"]) == 0
    assert recipe.main(["tiny-pixart-lcm", "CPU"]) == 0 and quantize.main(["tiny-pixart-lcm", "CPU"]) == 0
    return tmp_path / "models" / "tiny-pixart-lcm" / "optimized-CPU"


def test_optimum_intel_reads_the_recipe_back_from_openvino_config(quantized):
    from optimum.intel.openvino.configuration import (OVConfig, OVPipelineQuantizationConfig, OVQuantizationConfig,
                                                      OVWeightQuantizationConfig)

    config = OVConfig.from_pretrained(quantized).quantization_config
    assert isinstance(config, OVPipelineQuantizationConfig)
    per_model = config.quantization_configs
    assert set(per_model) == {"transformer", "text_encoder"}, "a component left as exported is not quantized"
    transformer, text_encoder = per_model["transformer"], per_model["text_encoder"]
    assert isinstance(transformer, OVQuantizationConfig) and transformer.num_samples == 4
    assert transformer.fast_bias_correction is False, "bias_correction: full"
    assert isinstance(text_encoder, OVWeightQuantizationConfig)
    assert (text_encoder.bits, text_encoder.sym, text_encoder.group_size) == (4, True, 16)


def test_the_model_card_holds_the_recipe_and_host_and_names_the_results(quantized):
    card = (quantized / "README.md").read_text()
    front, body = card.split("---\n")[1], card.split("---\n", 2)[2]
    header = yaml.safe_load(front)
    assert header["library_name"] == "openvino" and header["pipeline_tag"] == "text-to-image"
    assert {"openvino", "nncf", "pixart", "int8", "int4_sym"} <= set(header["tags"])
    assert "| transformer | `int8(bias_correction='full')` | 4 |" in body
    assert "| text_encoder | `int4_sym(group_size=16)` |" in body
    from ov_diffusion_quant.runtime import host_facts

    assert f"Host class `{host_facts.isa_class()}`" in body
    for result in ("metrics/tiny-pixart-lcm/CPU/evaluate.json", "reports/gate.md",
                   "metrics/tiny-pixart-lcm/CPU/benchmark.json"):
        assert result in body
    recorded = json.loads((quantized / "quantization.json").read_text())
    assert set(recorded["recipes"]) == {"transformer", "text_encoder", "vae_decoder"}


def test_dvc_yaml_declares_optimized_models_as_artifacts_that_dvc_lists():
    from dvc.repo import Repo

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    listed = Repo(str(REPO)).artifacts.read()["dvc.yaml"]
    assert listed, "dvc.yaml declares no artifacts"
    for name, artifact in listed.items():
        match = re.fullmatch(r"models/(?P<variant>[^/]+)/optimized-(?P<device>[^/]+)", artifact.path)
        assert match, f"{name}: {artifact.path} is not an optimized model (quantize's output)"
        assert match["variant"] in params["variants"] and match["device"] in params["devices"], name
        assert artifact.type == "model" and artifact.desc and artifact.labels, name
