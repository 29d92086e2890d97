"""Running out of memory or disk ends in one line: a full disk while writing an output (a small tmpfs mounted where
the stage writes, as root), the memory watchdog, a run killed outright reported by the next one, and the pre-flight
refusal from the estimate."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from ov_diffusion_quant.runtime import preflight
from ov_diffusion_quant.common.errors import ResourceError
from ov_diffusion_quant.common.outputs import atomic_dir, write_json
from ov_diffusion_quant.common.resources import RunRecord, history, mem_available_gb

VARIANT = "tiny-pixart-lcm"  # the smallest export (about 1.2 MB)


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str):
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def workspace(tmp_path: Path) -> tuple[Path, dict]:
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    state = tmp_path / "state"
    return tmp_path, {**os.environ, "PYTHONPATH": str(REPO), "OVDQ_STATE_DIR": str(state)}


def stage(cwd: Path, env: dict, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env={**env, **extra_env}, capture_output=True,
                          text=True, timeout=600)


def listing(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


# -- disk full -----------------------------------------------------------------------------------------------------
def test_a_full_disk_while_writing_a_file_is_one_error_and_the_previous_file_stays(tmp_path):
    with small_tmpfs(tmp_path / "small", "64k") as small:
        target = small / "metrics" / "quantize.json"
        write_json(target, {"previous": True})
        with pytest.raises(ResourceError) as raised:
            write_json(target, {"values": ["x" * 1000] * 100})  # about 100 KB
        message = str(raised.value)
        assert message.startswith(f"disk full on {small} while writing {target} (")
        assert "it had written" in message and "free now" in message and "the previous" in message
        assert "\n" not in message
        assert json.loads(target.read_text()) == {"previous": True}
        assert listing(small) == ["metrics", "metrics/quantize.json"]  # no temp file left


def test_a_full_disk_while_openvino_writes_an_ir_is_one_error_naming_the_target(tmp_path):
    """OpenVINO's serializer reports a failed write as a C++ stream error without the errno, and removes its
    partial file: still a full disk, with the target named."""
    import numpy as np
    import openvino as ov
    from openvino import opset13 as ops

    parameter = ops.parameter([1, 512], np.float32)
    model = ov.Model([ops.matmul(parameter, ops.constant(np.ones((512, 512), np.float32)), False, False)], [parameter])
    with small_tmpfs(tmp_path / "small", "512k") as small:
        with pytest.raises(ResourceError, match=f"^disk full on {small} while writing {small / 'fp'} ") as raised:
            with atomic_dir(small / "fp") as out:
                ov.save_model(model, out / "model.xml", compress_to_fp16=False)  # 1 MB of weights
        assert "iostream error" in str(raised.value)
        assert listing(small) == []


def test_a_stage_that_fills_the_disk_ends_with_one_line_and_the_previous_output_intact(tmp_path):
    cwd, env = workspace(tmp_path)
    with small_tmpfs(cwd / "models", "400k") as models:
        previous = models / VARIANT / "fp"
        previous.mkdir(parents=True)
        (previous / "model_index.json").write_text("{}")  # what an earlier run left
        result = stage(cwd, env, "stages.export", VARIANT)
        assert result.returncode == 75, result.stderr
        last = result.stderr.splitlines()[-1]
        assert last.startswith(f"error: disk full on {models} while writing models/{VARIANT}/fp ("), result.stderr
        assert "Traceback" not in result.stderr
        assert listing(models) == [VARIANT, f"{VARIANT}/fp", f"{VARIANT}/fp/model_index.json"]
        assert not (cwd / "metrics").exists()


# -- memory ---------------------------------------------------------------------------------------------------------
def test_the_watchdog_stops_a_stage_before_the_machine_runs_out_with_one_line(tmp_path):
    """The floor is set above what is available: the watchdog's first look, once the stage starts its work, finds the
    machine below it (as when a stage's allocations take the last of the memory)."""
    cwd, env = workspace(tmp_path)
    floor = mem_available_gb() + 1000
    result = stage(cwd, env, "stages.export", VARIANT, OVDQ_MIN_AVAILABLE_GB=f"{floor:.2f}")
    assert result.returncode == 137, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"error: out of memory: export {VARIANT} was stopped at "), result.stderr
    assert "nothing was written" in last and "Traceback" not in result.stderr
    assert not (cwd / "models").exists() or listing(cwd / "models") in ([], [VARIANT])
    with _state(env):
        [record] = history()
    assert record.outcome == "stopped" and record.stage == "export" and record.peak_rss_gb > 0


@contextlib.contextmanager
def _state(env: dict):
    previous = os.environ.get("OVDQ_STATE_DIR")
    os.environ["OVDQ_STATE_DIR"] = env["OVDQ_STATE_DIR"]
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("OVDQ_STATE_DIR")
        else:
            os.environ["OVDQ_STATE_DIR"] = previous


def test_preflight_refuses_from_the_record_then_a_killed_run_is_reported_by_the_next(tmp_path):
    cwd, env = workspace(tmp_path)
    from ov_diffusion_quant.runtime import host_facts

    facts = host_facts.provenance()
    # 1. The record says this stage needed far more than any machine has: refused before any work, in one line
    with _state(env):
        state = Path(env["OVDQ_STATE_DIR"])
        state.mkdir()
        (state / "history.jsonl").write_text(json.dumps(RunRecord(
            "export", VARIANT, None, facts["isa_class"], facts["precision"], 1, "2026-01-01T00:00:00",
            peak_rss_gb=100000.0, outcome="finished").__dict__) + "\n")
    refused = stage(cwd, env, "stages.export", VARIANT)
    assert refused.returncode == 75, refused.stderr
    [line] = refused.stderr.splitlines()
    assert re.fullmatch(re.escape(
        f"error: export {VARIANT} needs about 100000.0 GB of memory (its peak on this host ({facts['isa_class']}, "
        f"{facts['precision']}) on 2026-01-01), ") + r"\d+\.\d GB available: close other programs, or set "
        r"OVDQ_PREFLIGHT=warn to go ahead anyway", line), line
    assert not (cwd / "models").exists()

    # 2. Told to go ahead, it starts; killed outright (as the OOM killer does) it leaves its run record
    killed = subprocess.Popen([sys.executable, "-m", "stages.export", VARIANT], cwd=cwd,
                              env={**env, "OVDQ_PREFLIGHT": "warn"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    records = state / "runs" / f"{killed.pid}.json"
    deadline = time.monotonic() + 120
    while not (records.exists() and json.loads(records.read_text())["peak_rss_gb"] > 0):
        assert killed.poll() is None and time.monotonic() < deadline, killed.communicate()
        time.sleep(0.1)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    assert "going ahead (OVDQ_PREFLIGHT=warn)" in killed.stderr.read()

    # 3. The next run says so in one line, counts the killed run's peak as its estimate, and finishes
    rerun = stage(cwd, env, "stages.export", VARIANT)
    assert rerun.returncode == 0, rerun.stderr
    [report] = [line for line in rerun.stderr.splitlines() if "killed without finishing" in line]
    assert report.startswith(f"warning: the run of export {VARIANT} started ") and f"(pid {killed.pid})" in report
    resources = json.loads((cwd / "metrics" / VARIANT / "export.json").read_text())["resources"]
    assert resources["estimate"]["memory_basis"].startswith("the peak it reached before it was killed")
    assert resources["peak_rss_gb"] > 0.2
    assert 0 < resources["peak_anonymous_gb"] <= resources["peak_rss_gb"]  # without the file-backed pages
    with _state(env):
        assert [record.outcome for record in history()] == ["finished", "killed", "finished"]


def test_the_estimate_prefers_this_hosts_record_and_falls_back_to_the_models_size(tmp_path, monkeypatch):
    monkeypatch.setenv("OVDQ_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)  # no metrics here, and no git repository
    by_size = preflight.estimate("quantize", "v", "CPU", "avx512_bf16", "bf16", model_gb=6.0)
    assert by_size.memory_gb == 19.0 and by_size.memory_basis == "1 GB + 3 x the model's 6.00 GB"
    f32 = preflight.estimate("calibrate", "v", None, "avx2", "f32", model_gb=6.0)
    assert f32.memory_gb == 20.2
    assert preflight.estimate("export", "v", None, "avx2", "f32", model_gb=None).memory_gb is None

    from ov_diffusion_quant.common.resources import _append_history

    _append_history(RunRecord("quantize", "v", "CPU", "avx512_bf16", "bf16", 1, "2026-12-01T10:00:00", 20.3,
                               outcome="finished"))
    _append_history(RunRecord("quantize", "v", "CPU", "avx2", "f32", 2, "2026-12-02T10:00:00", 25.0,
                               outcome="finished"))
    recorded = preflight.estimate("quantize", "v", "CPU", "avx512_bf16", "bf16", model_gb=6.0)
    assert recorded.memory_gb == 20.3 and "avx512_bf16" in recorded.memory_basis
    assert preflight.estimate("quantize", "v", "CPU", "amx", "bf16", model_gb=6.0).memory_gb == 19.0  # other host
    # a record of another model (the variant's config changed) is no estimate; one of the same size within 10% is
    _append_history(RunRecord("quantize", "v", "CPU", "avx512_bf16", "bf16", 3, "2026-12-03T10:00:00", 12.0,
                               outcome="finished", model_gb=3.0))
    assert preflight.estimate("quantize", "v", "CPU", "avx512_bf16", "bf16", model_gb=6.0).memory_gb == 20.3
    assert preflight.estimate("quantize", "v", "CPU", "avx512_bf16", "bf16", model_gb=3.2).memory_gb == 12.0

    checked = preflight.check("quantize v CPU", preflight.Estimate(0.1, "tiny", disk_gb=0.0, disk_path=tmp_path))
    assert checked["available_memory_gb"] > 0 and checked["available_disk_gb"] > 0
    with pytest.raises(ResourceError, match=r"^quantize v CPU needs about 1000000.0 GB of disk for .* free on "):
        preflight.check("quantize v CPU", preflight.Estimate(None, "", disk_gb=1e6, disk_path=tmp_path))
    monkeypatch.setenv("OVDQ_PREFLIGHT", "off")
    preflight.check("quantize v CPU", preflight.Estimate(1e6, "huge", disk_gb=1e6, disk_path=tmp_path))
