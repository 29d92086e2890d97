"""The sweep table (from `dvc exp show --json`) and the CI regression report: what they show, and what they say
when their input is bad."""

from __future__ import annotations

import pytest

from conftest import workspace
from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.cli.sweeps import markdown, mark_dominated, sweep_frame


def run(name, recipe, ssim, latency, size=3.0):
    variant, device = "tiny-sdxl-turbo", "CPU"
    return {"name": name, "rev": name * 7, "data": {
        "rev": name * 7,
        "params": {"params.yaml": {"data": {"variants": {variant: {
            "calibrate": {"subset_size": 32},
            "quantize": {"components": {"unet": recipe}, "search": None}}}}}},
        "metrics": {
            f"metrics/{variant}/{device}/evaluate.json": {"data": {"text2image": {
                "ssim": {"mean": ssim}, "psnr": {"mean": 30.0}}}},
            f"metrics/{variant}/{device}/benchmark.json": {"data": {
                "configurations": {"optimized": {"latency_s": {"median": latency}}},
                "speedup": {"optimized_vs_fp": 1.0}}},
            f"metrics/{variant}/{device}/quantize.json": {"data": {"optimized_mb": size}},
        }}}


def exp_show(baseline, *experiments):
    return [{**baseline, "experiments": [{"revs": [experiment]} for experiment in experiments]}]


def test_pareto_marks_runs_that_are_slower_and_less_similar():
    data = exp_show(run("workspace", "int8", 0.990, 0.20),
                    run("fast", "int8_weights", 0.995, 0.10),  # faster and more similar: dominates workspace
                    run("accurate", "none", 0.999, 0.30),     # slowest but most similar: on the front
                    run("worse", "int4_sym", 0.980, 0.35))    # dominated by every other
    frame = mark_dominated(sweep_frame(data, "tiny-sdxl-turbo", "CPU"))
    verdict = dict(zip(frame["experiment"], frame["pareto"]))
    assert verdict["fast"] == "front" and verdict["accurate"] == "front"
    assert verdict["workspace"] == "dominated by fast"
    assert verdict["worse"].startswith("dominated by")
    assert list(frame["experiment"]) == ["fast", "workspace", "accurate", "worse"]  # by latency
    table = markdown(frame, "tiny-sdxl-turbo", "CPU")
    assert "| fast" in table and "unet=int8_weights" in table and "2 of 4 runs are on the Pareto front" in table


def test_no_metrics_for_the_variant_is_a_clear_error():
    with pytest.raises(UserError, match="no experiment has metrics for tiny-pixart-lcm on CPU"):
        sweep_frame(exp_show(run("workspace", "int8", 0.99, 0.2)), "tiny-pixart-lcm", "CPU")


def test_sweeps_names_a_bad_exp_show_file(tmp_path, capsys):
    from ov_diffusion_quant.cli import sweeps

    (tmp_path / "exps.json").write_text("not json")
    assert sweeps.main(["tiny-sdxl-turbo", "--exp-show-json", str(tmp_path / "exps.json")]) == 2
    assert capsys.readouterr().err.splitlines()[0].startswith(f"error: {tmp_path / 'exps.json'} is not the JSON of `dvc exp show "
                                             "--json`")
    assert sweeps.main(["tiny-sdxl-turbo", "--exp-show-json", str(tmp_path / "missing.json")]) == 2
    assert "missing.json does not exist" in capsys.readouterr().err.splitlines()[0]


def test_the_ci_report_uses_the_same_verdict(tmp_path, monkeypatch):
    from ov_diffusion_quant.cli import ci_report

    workspace(tmp_path, monkeypatch, lambda raw: raw.update(enabled=[]))
    monkeypatch.setattr(ci_report, "dvc_diff", lambda kind, base: f"no {kind} diff")
    report, passed = ci_report.build_report("HEAD")
    assert not passed and "**Quality gate: FAILED** (quality gate FAILED: it checked nothing" in report
