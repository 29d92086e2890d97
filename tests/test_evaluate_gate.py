"""Similarity metrics, CLIP availability, prompts, grids and the quality gate's logic."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.evaluation.similarity import PSNR_CAP_DB, ClipSimilarity, load_clip, psnr_ssim


def noise_image(seed, size=64):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))


def test_psnr_and_ssim_of_identical_and_different_images():
    a, b = noise_image(0), noise_image(1)
    assert psnr_ssim(a, a) == (PSNR_CAP_DB, pytest.approx(1.0))
    psnr, ssim = psnr_ssim(a, b)
    assert psnr < 15 and ssim < 0.2
    slightly = Image.fromarray(np.clip(np.asarray(a).astype(int) + 2, 0, 255).astype(np.uint8))
    assert psnr_ssim(a, slightly)[0] > 40


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    from conftest import build_tiny_clip

    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


def test_clip_similarity_with_a_tiny_local_clip(tiny_clip_dir):
    scorer = ClipSimilarity(str(tiny_clip_dir))
    a, b = noise_image(0), noise_image(1)
    assert scorer(a, a) == pytest.approx(1.0, abs=1e-5)
    assert scorer(a, b) < 0.9999


def test_clip_that_is_not_available_offline_is_skipped_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    scorer, reason = load_clip("openai/clip-vit-large-patch14")
    assert scorer is None
    assert "'openai/clip-vit-large-patch14'" in reason and "hub is unreachable" in reason
    assert "evaluate.clip_model" in reason
    assert load_clip(None) == (None, "no CLIP model configured (evaluate.clip_model is null)")


def test_empty_missing_and_short_prompt_files(tmp_path):
    from ov_diffusion_quant.evaluation.prompts import validation_prompts

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(UserError, match="is empty"):
        validation_prompts(empty, 3)
    with pytest.raises(UserError, match="does not exist"):
        validation_prompts(tmp_path / "nope.jsonl", 3)
    two = tmp_path / "two.jsonl"
    two.write_text('{"id": "a", "caption": "a cat"}\n{"id": "b", "caption": "a dog"}\n')
    with pytest.raises(UserError, match="validation count 5 is larger than the 2 prompts"):
        validation_prompts(two, 5)
    with pytest.raises(UserError, match="validation count 0"):
        validation_prompts(two, 0)
    assert [row["id"] for row in validation_prompts(two, 2)] == ["a", "b"]


def test_the_shipped_prompt_sets():
    from conftest import REPO
    from ov_diffusion_quant.evaluation.prompts import _local_rows

    calibration = _local_rows(REPO / "data/prompts/calibration.jsonl")
    validation = _local_rows(REPO / "data/prompts/validation.jsonl")
    assert len(calibration) >= 300 and len(validation) >= 30
    assert len({r["caption"].lower() for r in calibration}) == len(calibration)
    assert not {r["caption"] for r in calibration} & {r["caption"] for r in validation}


def test_grid_has_a_row_per_prompt():
    from ov_diffusion_quant.evaluation.grid import CELL, HEADER, make_grid

    grid = make_grid([("cute cat", noise_image(0), noise_image(1)), ("a dog", noise_image(2), noise_image(2))], "t")
    assert grid.size[1] == HEADER * 2 + 2 * CELL
    heat = np.asarray(grid)[HEADER * 2 + CELL:, -CELL:]  # identical pair: a black heatmap
    assert heat.max() == 0


def write_evaluate(repo, variant, device, ssim, psnr, clip=None, skipped=""):
    path = repo / "metrics" / variant / device / "evaluate.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    block = {"ssim": {"mean": ssim, "min": ssim, "p10": ssim}, "psnr": {"mean": psnr, "min": psnr, "p10": psnr}}
    if clip is not None:
        block["clip_sim"] = {"mean": clip, "min": clip, "p10": clip}
    path.write_text(json.dumps({"text2image": block, "clip_sim_skipped": skipped}))


def test_gate_logic(tmp_path, monkeypatch, capsys):
    import shutil

    from conftest import REPO
    from stages import gate

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    write_evaluate(tmp_path, "tiny-sdxl-turbo", "CPU", 0.99, 40.0)
    write_evaluate(tmp_path, "tiny-pixart-lcm", "CPU", 0.99, 40.0)
    assert gate.main(["--markdown", "gate.md"]) == 0
    assert "| tiny-sdxl-turbo | CPU | text2image | ssim (min) | ≥ 0.97 | 0.99 | pass |" in (tmp_path / "gate.md").read_text()

    write_evaluate(tmp_path, "tiny-pixart-lcm", "CPU", 0.5, 40.0)
    with pytest.raises(SystemExit) as failed:
        gate.main([])
    assert failed.value.code == 1
    assert "FAIL" in capsys.readouterr().out

    (tmp_path / "metrics" / "tiny-pixart-lcm" / "CPU" / "evaluate.json").unlink()
    with pytest.raises(SystemExit):
        gate.main([])
    assert "evaluate@tiny-pixart-lcm-CPU" in capsys.readouterr().out


def test_adherence_of_fp_and_optimized_images_and_its_drop():
    from ov_diffusion_quant.evaluation.compare import Reference, adherence_fp_vs_optimized
    from ov_diffusion_quant.reference.scene_dataset import caption, render, split_scenes

    _, heldout = split_scenes(seed=0, train_size=10, heldout_size=20)
    truth = [render(scene) for scene in heldout]
    recoloured = [image[..., ::-1].copy() for image in truth]  # RGB -> BGR: colours change, layout stays
    references = [Reference(index, {"id": str(index), "caption": caption(scene)}, index, image, None)
                  for index, (scene, image) in enumerate(zip(heldout, truth))]
    result = adherence_fp_vs_optimized(references, recoloured)
    assert result["fp"]["attributes"] == 1.0 and result["fp"]["overall"] == 1.0
    per_attribute = result["optimized"]["per_attribute"]
    assert result["optimized"]["attributes"] == pytest.approx(sum(per_attribute.values()) / 5, abs=1e-4)
    assert result["drop"] == pytest.approx(1.0 - result["optimized"]["attributes"], abs=1e-4) and result["drop"] > 0.1


def test_the_gate_on_prompt_adherence(tmp_path, monkeypatch, capsys):
    import yaml

    from conftest import REPO
    from stages import gate

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["enabled"] = ["trained-sdxl"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    drop_max = params["variants"]["trained-sdxl"]["gate"]["adherence_drop_max"]

    def write(fp, optimized):
        write_evaluate(tmp_path, "trained-sdxl", "CPU", 0.9, 30.0)
        path = tmp_path / "metrics/trained-sdxl/CPU/evaluate.json"
        metrics = json.loads(path.read_text())
        scores = {name: {"overall": 0.2, "attributes": value} for name, value in (("fp", fp), ("optimized", optimized))}
        path.write_text(json.dumps({**metrics, "adherence": {**scores, "drop": round(fp - optimized, 4)}}))

    write(0.80, 0.80 - drop_max / 2)
    assert gate.main(["--markdown", "gate.md"]) == 0
    assert "prompt adherence, optimized - FP" in (tmp_path / "gate.md").read_text()
    write(0.80, 0.80 - 2 * drop_max)
    with pytest.raises(SystemExit) as failed:
        gate.main([])
    assert failed.value.code == 1
    assert re.search(r"prompt adherence.*FAIL.*FP 0\.800, optimized 0\.760", capsys.readouterr().out)

    write_evaluate(tmp_path, "trained-sdxl", "CPU", 0.9, 30.0)  # judged variant, no adherence measured
    with pytest.raises(SystemExit):
        gate.main([])
    assert "not measured: set variants.trained-sdxl.evaluate.judge" in capsys.readouterr().out
