"""A third family is one file: registered by an entry point, it runs through generate, quantize, evaluate and
benchmark (which measures in fresh processes, so the registration must not be in-process only), and each of their
records says what it measured."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from conftest import REPO

TESTS = REPO / "tests"
VARIANT = "tiny-toy"


@pytest.fixture
def toy_workspace(tmp_path, monkeypatch, pixart_export):
    plugin = tmp_path / "plugin"
    dist = plugin / "toy_family-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-family\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[ov_diffusion_quant.families]\ntoy = toy_family:ToyFamily\n")
    path = f"{plugin}:{TESTS}"
    monkeypatch.syspath_prepend(str(plugin))
    monkeypatch.setenv("PYTHONPATH", f"{path}:{REPO}")  # the benchmark's fresh processes find the plug-in too

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    toy = json.loads(json.dumps(raw["variants"]["tiny-pixart-lcm"]))
    toy["model"]["family"] = "toy"
    toy["generation"]["steps"] = 2
    toy["quantize"]["components"] = {"transformer": "int8_weights", "text_encoder": "none", "vae_decoder": "none"}
    toy["gate"] = None
    raw["variants"][VARIANT] = toy
    raw["enabled"] = [VARIANT]
    raw["benchmark"].update(runs=2, warmup=0, prompts=2, f32_baseline=False)
    work = tmp_path / "work"
    work.mkdir()
    (work / "params.yaml").write_text(yaml.safe_dump(raw))
    shutil.copytree(REPO / "data" / "prompts", work / "data" / "prompts")
    shutil.copytree(pixart_export, work / "models" / VARIANT / "fp")
    monkeypatch.chdir(work)
    return work


def test_a_third_family_runs_through_generate_quantize_evaluate_and_benchmark(toy_workspace, capsys):
    from ov_diffusion_quant.cli import generate, params as params_cli
    from ov_diffusion_quant.families import family_names
    from stages import benchmark, evaluate, quantize, recipe

    assert "toy" in family_names()
    assert params_cli.main([]) == 0 and "tiny-toy: family toy" in capsys.readouterr().out
    assert generate.main([VARIANT, "a red circle", "--out", "toy.png"]) == 0
    assert (toy_workspace / "toy.png").is_file()
    # the family's own limits, not PixArt's
    assert generate.main([VARIANT, "a red circle", "--steps", "5", "--out", "no.png"]) == 2
    assert "steps 5 is not allowed for toy: use 1 to 4 (a toy's limit)" in capsys.readouterr().err
    # a family without a tiny autoencoder refuses `model.taesd` (PixArt's has one)
    raw = yaml.safe_load((toy_workspace / "params.yaml").read_text())
    raw["variants"][VARIANT]["model"]["taesd"] = "tiny"
    (toy_workspace / "params.yaml").write_text(yaml.safe_dump(raw))
    assert params_cli.main([]) == 2
    assert "model.taesd = 'tiny': the toy family has no tiny autoencoder" in capsys.readouterr().err
    del raw["variants"][VARIANT]["model"]["taesd"]
    (toy_workspace / "params.yaml").write_text(yaml.safe_dump(raw))

    assert recipe.main([VARIANT, "CPU"]) == 0 and quantize.main([VARIANT, "CPU"]) == 0
    assert evaluate.main([VARIANT, "CPU"]) == 0
    metrics = toy_workspace / "metrics" / VARIANT / "CPU"
    evaluated = json.loads((metrics / "evaluate.json").read_text())
    assert evaluated["text2image"]["ssim"]["min"] > 0 and "image2image" not in evaluated  # no img2img: not supported
    assert benchmark.main([VARIANT, "CPU"]) == 0
    measured = json.loads((metrics / "benchmark.json").read_text())
    assert measured["speedup"]["optimized_vs_fp"] > 0
    assert "toy family does not run in it" in measured["env"]["genai"]
    for record in ("quantize.json", "evaluate.json", "benchmark.json"):
        said = json.loads((metrics / record).read_text())["measured"]
        assert (said["variant"], said["family"], said["steps"]) == (VARIANT, "toy", 2), record
        assert said["recipes"]["transformer"] == "int8_weights", record


def test_an_entry_point_that_is_not_a_family_is_one_line(tmp_path, monkeypatch):
    from ov_diffusion_quant.common.errors import UserError
    from ov_diffusion_quant.families import family_class

    dist = tmp_path / "bad-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bad\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[ov_diffusion_quant.families]\nbad = json:loads\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UserError, match=r"family 'bad' .*is not a ModelFamily"):
        family_class("bad")
