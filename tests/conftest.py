"""Shared fixtures: tiny models are built and exported once per session."""

from __future__ import annotations

import atexit
import copy
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ov_diffusion_quant.common.telemetry import declined_without_consent_file

declined_without_consent_file()  # first: OpenVINO's and NNCF's telemetry off without a consent file, as in every stage

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("PYTHONWARNINGS", "ignore")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Torch's OpenMP threads spin while they wait; with two such processes on two cores (two xdist workers, or a
# worker beside a stage) each spins on the core the other needs: measured, two 12-step trainings side by side
# went from 34 s to over 9 min. Passive waiting changes no result (same threads, same order of reductions).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The stages' run history (pre-flight estimates, runs killed for memory) is the machine's: tests keep their own.
if "OVDQ_STATE_DIR" not in os.environ:  # pytest-xdist's workers inherit the controller's, which removes it at exit
    os.environ["OVDQ_STATE_DIR"] = tempfile.mkdtemp(prefix="ovdq-test-state-")
    atexit.register(shutil.rmtree, os.environ["OVDQ_STATE_DIR"], ignore_errors=True)


# `make test` runs the tests in two pytest-xdist workers (`-n 2 --dist loadfile`): a `dvc repro` in a test keeps about
# one core busy (stage start-up, imports, export and NNCF's graph work are single-threaded), so two of them share the
# machine's two cores. Each worker builds a session fixture for itself, so the files that use an expensive one run
# in one worker as one unit (pytest-xdist's `xdist_group` marks would do this, but they are ignored under pytest
# 9.2: xdist 3.8 renames `item._nodeid`, which pytest 9.2 no longer reads).
SHARED_FIXTURE_UNITS = {
    "test_reference_e2e.py": "reference model",  # one module fixture: the committed model through the gate
    "test_reference_pixart_e2e.py": "PixArt reference model",  # the same for the PixArt snapshot, in the other worker
    "test_pipeline_e2e.py": "reproduced",  # the `reproduced` tiny default
    "test_demo.py": "reproduced",
    "test_bench_arch.py": "reproduced",
    "test_real_ids_offline.py": "filled HF cache",  # one module fixture
    # the session's tiny exports (`sdxl_export`, `pixart_export`) and what is made from them (`sdxl_int8`)
    "test_calibrate_quantize.py": "tiny exports",
    "test_third_family.py": "tiny exports",
    "test_nncf_patches.py": "tiny exports",
    "test_recipes.py": "tiny exports",
    "test_models_and_export.py": "tiny exports",
    "test_bad_input.py": "tiny exports",
    "test_cli.py": "tiny exports",
    "test_peers.py": "tiny exports",
}
# When no end-to-end unit is selected (`make test-quick`), the tiny exports unit would run in one worker while the
# other runs out of work: it is split in two (the exports themselves are shared, see `_export_once_per_run`).
END_TO_END_UNITS = {"reference model", "PixArt reference model", "reproduced", "filled HF cache"}
TINY_EXPORTS_SPLIT = {"test_calibrate_quantize.py": "tiny exports: quantization",
                      "test_nncf_patches.py": "tiny exports: quantization",
                      "test_recipes.py": "tiny exports: quantization"}
# ... and the quantization half goes first (it exports the tiny SDXL, then the tiny PixArt), while the other worker
# runs files that need no export (about a minute) before the other half, so neither worker waits on the other's export.
NEEDS_NO_EXPORT_FIRST = ("test_reference_training.py", "test_interrupts.py")


@functools.cache
def _committed_params() -> dict:
    import yaml

    return yaml.safe_load((REPO / "params.yaml").read_text())


def params_with(path: str, value=None, delete: bool = False) -> dict:
    """The committed params.yaml as a dict, with the dotted ``path`` set to ``value`` (or deleted)."""
    raw = copy.deepcopy(_committed_params())
    *parents, last = path.split(".")
    node = raw
    for key in parents:
        node = node[key]
    if delete:
        del node[last]
    else:
        node[last] = value
    return raw


def params_error(raw: dict) -> str:
    """The message of the UserError that validating ``raw`` (and its variants against their families) raises."""
    from ov_diffusion_quant.common.errors import UserError
    from ov_diffusion_quant.config.params import parse
    from ov_diffusion_quant.families import check_all

    with pytest.raises(UserError) as caught:
        check_all(parse(raw))
    message = str(caught.value)
    assert "\n" not in message
    return message


def _unit(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return SHARED_FIXTURE_UNITS.get(Path(path).name, path)


@pytest.hookimpl(trylast=True)  # after `-m` has deselected
def pytest_collection_modifyitems(config, items):
    """Order: the reference model, the reproduced default, the PixArt reference model, one quick file, the HF-cache
    unit, the other quick files.
    Without end-to-end units (`make test-quick`): the quantization half of the tiny exports, NEEDS_NO_EXPORT_FIRST,
    the other half, the other quick files.

    The workers take units in this order. xdist hands a worker its next unit while it has at most 2 tests pending,
    so the first worker takes the next unit only when the reference model's long first test is done: the PixArt
    reference goes to the second worker after the reproduced default, and the quick files fill whichever worker is
    free."""
    unit_of = {item.nodeid: _unit(item.nodeid) for item in items}
    for item in items:
        if "reproduced" in item.fixturenames and unit_of[item.nodeid] != "reproduced":
            raise pytest.UsageError(f"{item.nodeid} uses `reproduced`: add its file to SHARED_FIXTURE_UNITS")
    if not END_TO_END_UNITS & set(unit_of.values()):
        rank = {name: 0 for name in TINY_EXPORTS_SPLIT} | {name: 1 + i for i, name in enumerate(NEEDS_NO_EXPORT_FIRST)}
        rank |= {name: 3 for name, unit in SHARED_FIXTURE_UNITS.items() if unit == "tiny exports" and name not in rank}
        items.sort(key=lambda item: rank.get(item.path.name, 4))
        return
    first_quick = next((unit for unit in unit_of.values() if unit not in SHARED_FIXTURE_UNITS.values()), None)
    rank = {"reference model": 0, "reproduced": 1, "PixArt reference model": 2, first_quick: 3, "filled HF cache": 4}
    items.sort(key=lambda item: rank.get(unit_of[item.nodeid], 5))


@pytest.hookimpl(optionalhook=True)  # `pytest -p no:xdist` has no such hook
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile`, with the files of one SHARED_FIXTURE_UNITS entry as one unit, in collection order."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedFixtureScheduling(LoadFileScheduling):
        @functools.cached_property
        def runs_end_to_end_units(self) -> bool:
            return any(_unit(nodeid) in END_TO_END_UNITS for nodeid in self.collection)

        def _split_scope(self, nodeid: str) -> str:
            unit = _unit(nodeid)
            if unit == "tiny exports" and not self.runs_end_to_end_units:
                return TINY_EXPORTS_SPLIT.get(Path(nodeid.split("::", 1)[0]).name, unit)
            return unit

    config.option.loadscopereorder = False  # keep the order above (xdist otherwise puts the biggest units first)
    return SharedFixtureScheduling(config, log)


@pytest.fixture(scope="session", autouse=True)
def compile_at_the_device_default():
    """In-process tests compile at the device's default precision, as in a fresh clone: the workspace's
    data/host/runtime.json is from whichever host last ran `dvc repro` here, which may be another kind of host
    (the CPU differs from session to session). Tests that need host facts run `dvc repro` in a copy."""
    from ov_diffusion_quant.runtime import host_facts

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(host_facts, "RUNTIME_FILE", REPO / "tests" / "no-host-facts" / "runtime.json")
        yield


@pytest.fixture(scope="session")
def params():
    from ov_diffusion_quant.config.params import load

    return load(REPO / "params.yaml")


@pytest.fixture(scope="session")
def sdxl_variant(params):
    return params.variant("tiny-sdxl-turbo")


@pytest.fixture(scope="session")
def pixart_variant(params):
    return params.variant("tiny-pixart-lcm")


def _export_once_per_run(variant, tmp_path_factory) -> Path:
    """The tiny model exported once per test run: the xdist workers share it (the first to need it exports, the
    other waits on a lock; pytest-xdist's recipe for session fixtures). Tests read it and never change it."""
    from filelock import FileLock

    from ov_diffusion_quant.families import get_family

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's directory, above each worker's own
    directory = root / f"{variant.name}-export" / "fp"
    with FileLock(root / f"{variant.name}-export.lock"):
        if not directory.is_dir():
            partial = directory.with_name("partial")  # a failed export is not taken for a finished one
            shutil.rmtree(partial, ignore_errors=True)
            get_family(variant.model.family).export(variant.model, variant.generation, partial)
            partial.rename(directory)
    return directory


@pytest.fixture(scope="session")
def sdxl_export(sdxl_variant, tmp_path_factory) -> Path:
    return _export_once_per_run(sdxl_variant, tmp_path_factory)


@pytest.fixture(scope="session")
def pixart_export(pixart_variant, tmp_path_factory) -> Path:
    return _export_once_per_run(pixart_variant, tmp_path_factory)


@pytest.fixture(scope="session")
def sdxl_pipeline(sdxl_export):
    from ov_diffusion_quant.families import get_family

    return get_family("sdxl").load(sdxl_export, "CPU")


@pytest.fixture(scope="session")
def pixart_pipeline(pixart_export):
    from ov_diffusion_quant.families import get_family

    return get_family("pixart").load(pixart_export, "CPU")


def _collect(pipeline, family, variant, count):
    from stages.calibrate import collect

    prompts = [{"id": f"p{i}", "caption": caption} for i, caption in enumerate(
        ["a photo of a cat", "a red car at night", "mountains over a lake", "a bowl of fruit on a table",
         "a watercolor of a lighthouse", "a robot in a garden", "a city street in the rain", "a dog on a beach"])]
    samples, rows, skipped, used = collect(pipeline, family.denoiser, prompts, variant.generation, count,
                                           progress=False)
    return samples


@pytest.fixture(scope="session")
def sdxl_calibration(sdxl_pipeline, sdxl_variant):
    from ov_diffusion_quant.families import get_family

    return _collect(sdxl_pipeline, get_family("sdxl"), sdxl_variant, 8)


@pytest.fixture(scope="session")
def pixart_calibration(pixart_pipeline, pixart_variant):
    from ov_diffusion_quant.families import get_family

    return _collect(pixart_pipeline, get_family("pixart"), pixart_variant, 8)


def quantize_tiny_unet(export: Path, calibration: list, spec):
    """The tiny UNet through the INT8 recipe as the quantize stage applies it, and for every NNCF statistics model
    compiled meanwhile whether it was asked for f32."""
    import nncf
    import openvino as ov
    from nncf.openvino import engine

    from ov_diffusion_quant.families import get_family
    from ov_diffusion_quant.quantization.apply import quantize_model

    model = ov.Core().read_model(export / "unet" / "openvino_model.xml")
    compiled: list[bool] = []
    original = engine.OVNativeEngine.__init__

    def counting_init(self, model, use_fp32_precision=True):
        compiled.append(use_fp32_precision)
        original(self, model, use_fp32_precision)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine.OVNativeEngine, "__init__", counting_init)
        result = quantize_model(spec.components["unet"], model, get_family("sdxl"), "unet", calibration,
                                nncf.TargetDevice.CPU, spec.large_model_patches,
                                "variants.tiny-sdxl-turbo.quantize.large_model_patches")
    return result, compiled


@pytest.fixture(scope="session")
def _sdxl_int8(sdxl_export, sdxl_calibration, sdxl_variant):
    return quantize_tiny_unet(sdxl_export, sdxl_calibration, sdxl_variant.quantize)


@pytest.fixture
def sdxl_int8(_sdxl_int8):
    """The tiny UNet through the variant's own INT8 recipe, quantized once per session: each test gets its own
    copy of the model."""
    from dataclasses import replace

    result = _sdxl_int8[0]
    return replace(result, model=result.model.clone(), compile_config=dict(result.compile_config),
                   details=copy.deepcopy(result.details))


@pytest.fixture
def sdxl_int8_statistics_engines(_sdxl_int8) -> list[bool]:
    """For each NNCF statistics model `sdxl_int8` compiled: whether it was asked for f32."""
    return list(_sdxl_int8[1])


def build_tiny_clip(directory: Path) -> Path:
    """A tiny random CLIP (safetensors + image processor) standing in for openai/clip-vit-large-patch14."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    layers = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = CLIPConfig(text_config={**layers, "vocab_size": 100},
                        vision_config={**layers, "image_size": 32, "patch_size": 8}, projection_dim=8)
    CLIPModel(config).save_pretrained(directory, safe_serialization=True)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(directory)
    return directory


def repo_files() -> list[str]:
    """The files a fresh clone would have (tracked, plus new files git does not ignore)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    return [name for name in listed if (REPO / name).is_file()]


def make_repo_copy(tmp_path: Path) -> Path:
    """A fresh git repository holding this project's files, as a clone would (no models, no DVC cache)."""
    target = tmp_path / "repo"
    for name in repo_files():
        if name.startswith(("models/", "data/calibration/")):
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target / name)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "copy"]):
        subprocess.run(command, cwd=target, check=True, env=env)
    return target


def run_in(repo: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess:
    """Run a command in ``repo`` with this interpreter's environment (its venv's dvc and python first), plus ``env``."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **(env or {})}
    result = subprocess.run(list(args), cwd=repo, capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
                             f"{result.stderr[-4000:]}")
    return result


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory):
    """A fresh copy of the repository after `dvc repro` of the tiny default: (repo, dvc's output)."""
    repo = make_repo_copy(tmp_path_factory.mktemp("e2e"))
    result = run_in(repo, "dvc", "repro")
    return repo, result.stdout + result.stderr


def stage_workspace(tmp_path, monkeypatch, pixart_export, calibrate=None, components=None):
    """A directory laid out like the repository, holding the tiny PixArt export and modified params."""
    import yaml

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    variant = raw["variants"]["tiny-pixart-lcm"]
    variant["calibrate"].update(calibrate or {})
    variant["quantize"]["components"] = components or variant["quantize"]["components"]
    raw["calibrate"]["compare_notebook_prompts"] = 0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    shutil.copytree(REPO / "data" / "prompts", tmp_path / "data" / "prompts")
    shutil.copytree(pixart_export, tmp_path / "models" / "tiny-pixart-lcm" / "fp")
    monkeypatch.chdir(tmp_path)


def workspace(tmp_path, monkeypatch, change=None):
    """A directory laid out like the repository (params.yaml, prompts), as the cwd; ``change(raw)`` edits params."""
    import yaml

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    if change:
        change(raw)
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    shutil.copytree(REPO / "data" / "prompts", tmp_path / "data" / "prompts")
    monkeypatch.chdir(tmp_path)
    return tmp_path
