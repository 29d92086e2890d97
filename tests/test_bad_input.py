"""Bad input, damaged artifacts and a gate with nothing to check: one line naming the file or value and what
to do, a non-zero exit, and no work done before the check."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from conftest import workspace
from ov_diffusion_quant.common.errors import UserError

VARIANT = "tiny-pixart-lcm"


def error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


# -- the gate -------------------------------------------------------------------------------------------------
def write_evaluate(root, variant, device="CPU", ssim=0.99, psnr=40.0, modes=("text2image",)):
    path = root / "metrics" / variant / device / "evaluate.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    block = {"ssim": {"min": ssim, "mean": ssim}, "psnr": {"min": psnr, "mean": psnr}}
    path.write_text(json.dumps({**{mode: block for mode in modes}, "clip_sim_skipped": "not configured"}))


def run_gate(capsys, *args):
    from stages import gate

    try:
        code = gate.main(list(args))
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, [line for line in captured.err.splitlines() if line.strip()]


def test_a_gate_with_nothing_enabled_fails_unless_allowed(tmp_path, monkeypatch, capsys):
    workspace(tmp_path, monkeypatch, lambda raw: raw.update(enabled=[]))
    code, _, err = run_gate(capsys, "--markdown", "gate.md")
    assert code == 1
    assert err[-1].startswith("quality gate FAILED: it checked nothing (nothing is enabled)")
    assert "gate.allow_empty: true" in err[-1]
    assert "nothing enabled: no check" in (tmp_path / "gate.md").read_text()

    workspace(tmp_path / "allowed", monkeypatch, lambda raw: raw.update(enabled=[], gate={"allow_empty": True}))
    code, _, err = run_gate(capsys)
    assert code == 0 and err[-1] == "quality gate passed with no checks: nothing is enabled (gate.allow_empty is true)"


def test_a_null_gate_is_reported_as_not_gated_never_as_a_pass(tmp_path, monkeypatch, capsys):
    workspace(tmp_path, monkeypatch, lambda raw: raw.update(enabled=["tiny-sdxl-turbo", "pixart-lcm-arch"]))
    write_evaluate(tmp_path, "tiny-sdxl-turbo")
    write_evaluate(tmp_path, "pixart-lcm-arch", ssim=0.01, psnr=3.0)  # noise vs noise: no threshold means anything
    code, out, err = run_gate(capsys, "--markdown", "gate.md")
    table = (tmp_path / "gate.md").read_text()
    assert code == 0
    assert "| pixart-lcm-arch | CPU | - | - | - | - | not gated (gate: null in variants.pixart-lcm-arch) |" in table
    assert not [line for line in table.splitlines() if "pixart-lcm-arch" in line and "pass" in line]
    assert "not gated" in out
    assert err[-1] == "quality gate passed: 2 checks (pixart-lcm-arch on CPU: not gated)"


def test_a_gate_whose_only_variant_is_ungated_checked_nothing_and_fails(tmp_path, monkeypatch, capsys):
    workspace(tmp_path, monkeypatch, lambda raw: raw.update(enabled=["sdxl-turbo-arch"]))
    write_evaluate(tmp_path, "sdxl-turbo-arch")
    code, _, err = run_gate(capsys)
    assert code == 1 and "it checked nothing (every enabled variant has `gate: null`)" in err[-1]


def test_a_gated_variant_with_no_results_in_its_evaluate_json_fails(tmp_path, monkeypatch, capsys):
    workspace(tmp_path, monkeypatch, lambda raw: raw.update(enabled=["tiny-sdxl-turbo"]))
    write_evaluate(tmp_path, "tiny-sdxl-turbo", modes=())
    code, out, err = run_gate(capsys)
    assert code == 1 and "FAIL" in out and err[-1] == "quality gate FAILED: 1 of 1 checks"


def test_a_corrupt_evaluate_json_names_its_file_and_stage(tmp_path, monkeypatch, capsys):
    workspace(tmp_path, monkeypatch, lambda raw: raw.update(enabled=["tiny-sdxl-turbo"]))
    write_evaluate(tmp_path, "tiny-sdxl-turbo")
    (tmp_path / "metrics/tiny-sdxl-turbo/CPU/evaluate.json").write_text('{"text2image": ')
    code, out, err = run_gate(capsys)
    assert code == 2 and out == "" and len(err) == 1
    assert err[0].startswith("error: metrics/tiny-sdxl-turbo/CPU/evaluate.json is corrupt (not JSON")
    assert err[0].endswith("`dvc repro -f evaluate@tiny-sdxl-turbo-CPU`"), "it names the stage that remakes it"


def test_output_paths_of_the_gate_and_the_ci_report_are_checked_first(tmp_path, monkeypatch, capsys):
    from ov_diffusion_quant.cli import ci_report

    workspace(tmp_path, monkeypatch)
    (tmp_path / "reports").mkdir()
    assert run_gate(capsys, "--markdown", "reports")[2] == ["error: --markdown reports is a directory: name a file"]
    monkeypatch.setattr(ci_report, "build_report", lambda base: pytest.fail("the report was built first"))
    assert ci_report.main(["--out", "reports"]) == 2
    assert error_lines(capsys) == ["error: --out reports is a directory: name a file"]


# -- damaged artifacts ------------------------------------------------------------------------------------------
@pytest.fixture
def exported(pixart_export, tmp_path, monkeypatch):
    """The repository layout with the tiny PixArt export at models/tiny-pixart-lcm/fp, as the cwd."""
    root = workspace(tmp_path, monkeypatch, lambda raw: raw["calibrate"].update(compare_notebook_prompts=0))
    shutil.copytree(pixart_export, root / "models" / VARIANT / "fp")
    return root


def truncate(path):
    os.truncate(path, path.stat().st_size // 2)


def garble(path):
    path.write_text("<net><layers><layer id='0'")


@pytest.mark.parametrize("damage, file, reason", [
    (truncate, "transformer/openvino_model.bin", "truncated: "),
    (garble, "text_encoder/openvino_model.xml", "not valid XML: "),
])
def test_a_damaged_ir_is_one_line_naming_the_file_and_its_stage(exported, capsys, damage, file, reason):
    from stages import calibrate, quantize
    from ov_diffusion_quant.cli import generate

    damage(exported / "models" / VARIANT / "fp" / file)
    expected = f"error: models/{VARIANT}/fp/{file} is corrupt ({reason}"
    for entry_point, argv in ((generate, [VARIANT, "a cat", "--out", "cat.png"]), (calibrate, [VARIANT]),
                              (quantize, [VARIANT, "CPU"])):
        assert entry_point.main(argv) == 2
        lines = error_lines(capsys)
        assert len(lines) == 1, lines  # nothing from OpenVINO's frontends before it
        assert lines[0].startswith(expected) and lines[0].endswith(f"re-run `dvc repro -f export@{VARIANT}`")
    assert not (exported / "cat.png").exists() and not (exported / "data" / "calibration" / VARIANT).exists()


@pytest.fixture
def calibration_dir(tmp_path, monkeypatch):
    from ov_diffusion_quant.quantization import calibration_data

    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "data" / "calibration" / VARIANT
    data_dir.mkdir(parents=True)
    samples = [{"hidden_states": np.full((1, 4, 2, 2), i, np.float32), "timestep": np.array([i])} for i in range(3)]
    calibration_data.save(data_dir, samples, {"variant": VARIANT})
    assert len(calibration_data.load(data_dir)[0]) == 3
    return data_dir


@pytest.mark.parametrize("damage, file, reason", [
    (truncate, "samples-00000.safetensors", "not a readable safetensors file: "),
    (lambda path: path.write_bytes(os.urandom(64)), "samples-00000.safetensors", "not a readable safetensors file: "),
    (lambda path: path.write_text("{"), "manifest.json", "not the manifest JSON"),
    (lambda path: path.write_text('{"num_samples": 5, "shards": ["samples-00000.safetensors"]}'), "manifest.json",
     "it lists 5 samples, the shards hold 3"),
])
def test_a_damaged_calibration_file_is_one_line_naming_it(calibration_dir, damage, file, reason):
    from ov_diffusion_quant.quantization import calibration_data

    damage(calibration_dir / file)
    with pytest.raises(UserError) as caught:
        calibration_data.load(calibration_dir.relative_to(calibration_dir.parents[2]))
    message = str(caught.value)
    assert message.startswith(f"data/calibration/{VARIANT}/{file} is corrupt ({reason}")
    assert message.endswith(f"re-run `dvc repro -f calibrate@{VARIANT}`") and "\n" not in message


def test_quantize_names_a_corrupt_shard_before_quantizing_anything(exported, capsys):
    from stages import quantize, recipe
    from ov_diffusion_quant.quantization import calibration_data

    data_dir = exported / "data" / "calibration" / VARIANT
    data_dir.mkdir(parents=True)
    calibration_data.save(data_dir, [{"x": np.zeros(4, np.float32)}], {"variant": VARIANT})
    truncate(data_dir / "samples-00000.safetensors")
    assert recipe.main([VARIANT, "CPU"]) == 0
    assert quantize.main([VARIANT, "CPU"]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith(f"error: data/calibration/{VARIANT}/samples-00000.safetensors is "
                                                   "corrupt (not a readable safetensors file")
    assert not (exported / "models" / VARIANT / "optimized-CPU").exists()
    assert not list((exported / "models" / VARIANT).glob(".*tmp*"))


# -- inputs checked before any model loads --------------------------------------------------------------------
@pytest.fixture
def no_model_loads(tmp_path, monkeypatch):
    """A workspace where loading a model fails the test: the checks must come first."""
    from ov_diffusion_quant.cli import generate

    workspace(tmp_path, monkeypatch)
    loads = []
    monkeypatch.setattr(generate, "load_variant", lambda *args, **kwargs: loads.append(args) or pytest.fail(
        "a model was loaded before the inputs were checked"))
    return tmp_path


@pytest.mark.parametrize("args, expected", [
    (["--image", "notes.png"], "error: input image notes.png is not an image PIL can read (UnidentifiedImageError): "
                               "pass a PNG or JPEG file"),
    (["--image", "missing.png"], "error: input image missing.png does not exist"),
    (["--out", "outdir"], "error: --out outdir is a directory: name a file in it, e.g. outdir/generated.png"),
    (["--out", "cat.jpg"], "error: --out cat.jpg: the image is written as PNG, so name it *.png"),
    (["--out", "notes.png/cat.png"], "error: --out notes.png/cat.png: "),
    (["--steps", "1001"], "error: steps 1001 is not allowed for sdxl: use 1 to 1000"),
    (["--height", "4096"], "error: height 4096 is not allowed for sdxl: use a positive multiple of 32 up to 2048"),
])
def test_generate_checks_its_inputs_before_loading_a_model(no_model_loads, capsys, args, expected):
    from ov_diffusion_quant.cli import generate

    (no_model_loads / "notes.png").write_text("not an image")
    (no_model_loads / "outdir").mkdir()
    assert generate.main(["tiny-sdxl-turbo", "a cat", *args]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith(expected)


def test_a_prompt_file_with_a_line_that_is_not_json(tmp_path):
    from ov_diffusion_quant.evaluation.prompts import validation_prompts

    path = tmp_path / "prompts.jsonl"
    path.write_text('{"id": "a", "caption": "a cat"}\n\n{"id": "b", caption: "a dog"}\n')
    with pytest.raises(UserError) as caught:
        validation_prompts(path, 2)
    assert str(caught.value).startswith(f"prompts file {path} line 3 is not JSON (Expecting property name enclosed "
                                        "in double quotes, column 13): it needs one JSON object per line")


@pytest.mark.parametrize("line", ['{"id": "b"}', '{"id": "b", "caption": null}', '{"id": "b", "caption": "  "}',
                                  '{"id": "b", "caption": 7}', '["a dog"]'])
def test_a_prompt_row_without_a_caption_is_refused_not_read_as_none(tmp_path, line):
    from ov_diffusion_quant.evaluation.prompts import validation_prompts

    path = tmp_path / "prompts.jsonl"
    path.write_text('{"id": "a", "caption": "a cat"}\n' + line + "\n")
    with pytest.raises(UserError, match=r"prompts file .*prompts.jsonl line 2 has no 'caption' text"):
        validation_prompts(path, 2)


def test_calibrate_reads_its_prompts_before_loading_the_model(tmp_path, monkeypatch, capsys):
    from stages import calibrate
    from ov_diffusion_quant.families.pixart import PixArtFamily

    workspace(tmp_path, monkeypatch)
    with (tmp_path / "data/prompts/calibration.jsonl").open("a") as handle:
        handle.write("a caption that is not JSON\n")
    monkeypatch.setattr(PixArtFamily, "load", lambda *args, **kwargs: pytest.fail("the model loaded first"))
    assert calibrate.main([VARIANT]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("error: prompts file data/prompts/calibration.jsonl line 321 is "
                                                   "not JSON")


def test_calibrate_checks_subset_size_against_a_prompt_file_before_loading_the_model(tmp_path, monkeypatch, capsys):
    from stages import calibrate
    from ov_diffusion_quant.families.pixart import PixArtFamily

    workspace(tmp_path, monkeypatch, lambda raw: raw["variants"][VARIANT]["calibrate"].update(subset_size=5000))
    prompts = len((tmp_path / "data/prompts/calibration.jsonl").read_text().splitlines())
    monkeypatch.setattr(PixArtFamily, "load", lambda *args, **kwargs: pytest.fail("the model loaded first"))
    assert calibrate.main([VARIANT]) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and lines[0] == (
        f"error: subset_size 5000 is larger than what the prompt source yields: at most {prompts * 4} samples "
        f"({prompts} prompts in data/prompts/calibration.jsonl x 4 steps); lower "
        f"variants.{VARIANT}.calibrate.subset_size or add prompts")


def test_the_hub_source_refuses_a_row_without_a_caption(monkeypatch):
    from ov_diffusion_quant.evaluation import prompts
    from ov_diffusion_quant.config.specs import PromptSource

    class Stream(list):
        def shuffle(self, seed, buffer_size):
            return self

    monkeypatch.setattr(prompts, "_hub_stream", lambda source: Stream([{"caption": "a cat"}, {"caption": None}]))
    rows = prompts.calibration_prompts(PromptSource("hub", "", "some/captions", "train", 42, "caption"))
    assert next(rows)["caption"] == "a cat"
    with pytest.raises(UserError, match=r"dataset some/captions .* row 1 has no 'caption' text") as missing:
        next(rows)
    assert "calibrate.prompts.column" in str(missing.value), "it names the knob that picks the column"


# -- every entry point: one line, the traceback on request ----------------------------------------------------
def test_an_unexpected_failure_is_one_line_and_verbose_shows_the_traceback(capsys, monkeypatch):
    from ov_diffusion_quant.common.errors import main_with_clear_errors

    @main_with_clear_errors
    def main(argv):
        import logging
        import warnings

        warnings.warn("a library's deprecation warning")
        logging.getLogger("transformers").warning("Multiple distributions found for package optimum")
        logging.getLogger("stages.x").debug("a debug message")
        raise RuntimeError("Exception from src/core.cpp:84:\nCheck 'x' failed at y.cpp:9:\nIncorrect weights in bin file!")

    monkeypatch.delenv("OVDQ_DEBUG", raising=False)
    assert main([]) == 1
    [line] = capsys.readouterr().err.splitlines()  # no warning, no debug message, no traceback
    assert line.startswith("error: RuntimeError: Incorrect weights in bin file!") and "-v" in line
    assert main(["-v"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "DEBUG stages.x: a debug message" in err and "deprecation warning" in err
    assert err.splitlines()[-1] == "error: RuntimeError: Incorrect weights in bin file!"
    monkeypatch.setenv("OVDQ_DEBUG", "1")
    assert main([]) == 1 and "Traceback" in capsys.readouterr().err


def test_the_demo_prints_its_errors_on_stderr(tmp_path, monkeypatch, capsys):
    pytest.importorskip("gradio")
    from ov_diffusion_quant.cli import demo

    workspace(tmp_path, monkeypatch, lambda raw: raw.update(enabled=[]))
    assert demo.main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("error: nothing to show")
