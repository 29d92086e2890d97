"""The `ovdq` console script: one command per tool in ov_diffusion_quant/cli, one argument style (the stages' positional
`<variant> [<device>]`, everything else an option)."""

from __future__ import annotations

import importlib
import shutil
import tomllib
from types import SimpleNamespace

import pytest
from PIL import Image

from conftest import REPO
from ov_diffusion_quant.cli import ci_report, demo, generate, main, sweeps


def test_pyproject_declares_the_console_script():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["ovdq"].split(":")
    assert getattr(importlib.import_module(module), function) is main.main


def test_ovdq_lists_its_commands_and_refuses_unknown_ones(capsys):
    assert main.main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(f"  {command} " in listed for command in main.COMMANDS)
    assert main.main(["train"]) == 2
    refused = capsys.readouterr().err
    assert "unknown command 'train'" in refused and all(command in refused for command in main.COMMANDS)
    assert main.main([]) == 2


@pytest.mark.parametrize("command", sorted(main.COMMANDS))
def test_every_command_has_help_under_its_ovdq_name(command, capsys):
    with pytest.raises(SystemExit) as done:
        main.main([command, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: ovdq {command} ")


def test_variant_then_optional_device_everywhere():
    usages = {name: module.arguments().format_usage() for name, module in
              (("generate", generate), ("sweeps", sweeps), ("ci-report", ci_report), ("demo", demo))}
    assert "variant [device] prompt" in usages["generate"]
    assert "[variant] [device]" in usages["sweeps"]
    parse = generate.arguments().parse_args
    assert (parse(["tiny-sdxl-turbo", "a cat"]).device, parse(["tiny-sdxl-turbo", "a cat"]).prompt) == (None, "a cat")
    assert parse(["tiny-sdxl-turbo", "AUTO", "a cat"]).device == "AUTO"
    assert parse(["tiny-sdxl-turbo", "a cat", "--device", "AUTO"]).device_option == "AUTO"  # the earlier spelling
    parse = sweeps.arguments().parse_args
    assert vars(parse(["tiny-pixart-lcm", "AUTO"]))["device"] == "AUTO"
    assert parse(["--variant", "tiny-pixart-lcm"]).variant_option == "tiny-pixart-lcm"


def test_sweeps_without_a_variant_says_how_to_name_it(capsys):
    assert sweeps.main([]) == 2
    assert "name the variant: ovdq sweeps <variant> [<device>]" in capsys.readouterr().err


def test_ovdq_generate_writes_the_image(sdxl_export, sdxl_variant, tmp_path, monkeypatch, capsys):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(sdxl_export, tmp_path / "models" / "tiny-sdxl-turbo" / "fp")
    monkeypatch.chdir(tmp_path)
    assert main.main(["generate", "tiny-sdxl-turbo", "CPU", "cute cat", "--out", "cat.png", "--seed", "3"]) == 0
    assert main.main(["generate", "tiny-sdxl-turbo", "cute cat", "--device", "CPU", "--out", "again.png",
                      "--seed", "3"]) == 0
    generation = sdxl_variant.generation
    with Image.open("cat.png") as first, Image.open("again.png") as second:
        assert first.size == (generation.width, generation.height)
        assert first.tobytes() == second.tobytes(), "the same seed on the same device, either spelling"
    assert "cat.png" in capsys.readouterr().err, "the path and timing are a status line on stderr"


@pytest.mark.parametrize("stage", sorted(p.stem for p in (REPO / "stages").glob("*.py") if p.stem != "__init__"))
def test_every_stage_entry_point_starts_from_the_shared_parser(stage):
    """The shared parser gives every entry point `-v` (a plain argparse parser refused it: source, host, scenes)."""
    text = (REPO / "stages" / f"{stage}.py").read_text()
    assert "argument_parser(__doc__)" in text and "argparse.ArgumentParser(" not in text


def test_the_demo_shows_a_small_image_enlarged_and_measures_it_as_generated():
    from ov_diffusion_quant.evaluation.similarity import psnr_ssim

    fp = Image.new("RGB", (64, 64), "green")
    optimized = fp.copy()
    optimized.putpixel((10, 10), (255, 0, 0))
    judged_not = SimpleNamespace(evaluate=SimpleNamespace(judge=None))
    shown_fp, shown_optimized, _, _, status = demo.Demo._compare(
        None, lambda is_optimized: (optimized if is_optimized else fp, 1.0), judged_not, "a caption")
    assert shown_fp.size == shown_optimized.size == (384, 384)
    assert shown_optimized.resize((64, 64), Image.Resampling.NEAREST).tobytes() == optimized.tobytes()
    psnr, ssim = psnr_ssim(fp, optimized)
    assert f"PSNR {psnr:.2f} dB, SSIM {ssim:.4f}" in status and "shown 6x (64x64 px generated)" in status
    assert demo.display_scale((512, 512)) == 1
