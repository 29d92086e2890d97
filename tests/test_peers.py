"""The peers (optimum-intel's own quantizations of the FP export, params benchmark.peers) on the tiny SDXL export: the
stage makes them through optimum-intel, the benchmark times them beside the optimized model in the same run and
evaluate judges them with the variant's gate checks."""

from __future__ import annotations

import json
import shutil

import openvino as ov
import pytest
from conftest import REPO, params_error, params_with, workspace

from ov_diffusion_quant.config.params import load

VARIANT = "tiny-sdxl-turbo"


def peer_workspace(tmp_path, monkeypatch, sdxl_export, peers):
    def change(raw):
        raw["benchmark"].update(peers=peers, warmup=0, runs=1, f32_baseline=False, bf16_baseline=False,
                                runtimes=["optimum"])
        raw["variants"][VARIANT]["calibrate"]["subset_size"] = 4
        raw["evaluate"]["num_prompts"] = 2
    repo = workspace(tmp_path, monkeypatch, change)
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the benchmark's processes run `python -m stages.benchmark` here
    shutil.copytree(sdxl_export, repo / "models" / VARIANT / "fp")
    return repo


def int8_ops(xml) -> dict[str, int]:
    model = ov.Core().read_model(xml)
    return {"fake_quantize": sum(op.get_type_name() == "FakeQuantize" for op in model.get_ops()),
            "int8_weights": sum(op.get_type_name() == "Constant" and op.get_element_type() in (ov.Type.u8, ov.Type.i8)
                                for op in model.get_ops())}


def test_a_peer_is_made_by_optimum_intel_then_timed_and_judged_beside_the_optimized_model(sdxl_export, tmp_path,
                                                                                          monkeypatch):
    from stages import evaluate as evaluate_stage
    from stages import peers as peers_stage

    from ov_diffusion_quant.benchmarking.runner import run_benchmark

    repo = peer_workspace(tmp_path, monkeypatch, sdxl_export, ["optimum-int8"])
    assert peers_stage.main([VARIANT, "CPU"]) == 0
    peers = repo / "models" / VARIANT / "peers-CPU"
    record = json.loads((peers / "peers.json").read_text())
    assert list(record["peers"]) == ["optimum-int8"] and record["peers"]["optimum-int8"]["denoiser_samples"] == 4
    assert record["prompts"]["path"] == "data/prompts/calibration.jsonl"
    # full INT8 of the UNet, INT8 weights of the text encoders (optimum-intel's default for the other components)
    assert int8_ops(peers / "optimum-int8" / "unet" / "openvino_model.xml")["fake_quantize"] > 0
    text_encoder = int8_ops(peers / "optimum-int8" / "text_encoder" / "openvino_model.xml")
    assert text_encoder["fake_quantize"] == 0 and text_encoder["int8_weights"] > 0

    # the optimized model stands in as the FP export's copy: what is measured here is the peer beside it
    shutil.copytree(repo / "models" / VARIANT / "fp", repo / "models" / VARIANT / "optimized-CPU")
    params = load()
    result = run_benchmark(params, params.variant(VARIANT), "CPU")
    assert list(result["configurations"]) == ["optimized", "optimum-int8"]
    assert result["speedup"]["optimized_vs_optimum-int8"] > 0

    assert evaluate_stage.main([VARIANT, "CPU"]) == 0
    evaluate = json.loads((repo / "metrics" / VARIANT / "CPU" / "evaluate.json").read_text())
    peer = evaluate["peers"]["optimum-int8"]
    assert peer["num_images"] == evaluate["num_images"] == 4  # 2 captions, text-to-image and image-to-image
    assert 0 < peer["text2image"]["ssim"]["min"] < 1 and peer["image2image"]["psnr"]["min"] > 0
    # judged with the variant's own gate checks (the tiny default's SSIM and PSNR minimums)
    failed = [check for check in peer["gate"]["failed_checks"] if "ssim" in check or "psnr" in check]
    assert peer["gate"]["passed"] == (not peer["gate"]["failed_checks"]) and failed == peer["gate"]["failed_checks"]
    assert evaluate["text2image"]["ssim"]["min"] == pytest.approx(1.0, abs=1e-6)  # the FP copy, for contrast


def test_without_peers_or_for_a_family_optimum_intel_does_not_run_only_the_record_is_written(sdxl_export, tmp_path,
                                                                                             monkeypatch):
    from stages import peers as peers_stage

    repo = peer_workspace(tmp_path, monkeypatch, sdxl_export, [])
    assert peers_stage.main([VARIANT, "CPU"]) == 0
    peers = repo / "models" / VARIANT / "peers-CPU"
    assert [path.name for path in peers.iterdir()] == ["peers.json"]
    assert json.loads((peers / "peers.json").read_text()) == {"peers": {}, "none_because": "benchmark.peers is empty"}

    def pixart_with_peers(raw):
        raw["benchmark"]["peers"] = ["optimum-hybrid"]
    workspace(tmp_path / "pixart", monkeypatch, pixart_with_peers)
    assert peers_stage.main(["tiny-pixart-lcm", "CPU"]) == 0
    record = json.loads((tmp_path / "pixart" / "models" / "tiny-pixart-lcm" / "peers-CPU" / "peers.json").read_text())
    assert record["none_because"] == "optimum-intel cannot make optimum-hybrid for the pixart family"


def test_an_unknown_peer_is_one_line_naming_the_allowed_ones():
    assert params_error(params_with("benchmark.peers", ["optimum-int4"])) == (
        "unknown peer 'optimum-int4' at benchmark.peers: allowed are optimum-hybrid, optimum-int8")
