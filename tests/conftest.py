"""Shared fixtures: tiny models are built and exported once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("PYTHONWARNINGS", "ignore")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def params():
    from stages.config.params import load

    return load(REPO / "params.yaml")


@pytest.fixture(scope="session")
def sdxl_variant(params):
    return params.variant("tiny-sdxl-turbo")


@pytest.fixture(scope="session")
def pixart_variant(params):
    return params.variant("tiny-pixart-lcm")


def _export(variant, directory: Path) -> Path:
    from stages.families import get_family

    get_family(variant.model.family).export(variant.model, variant.generation, directory)
    return directory


@pytest.fixture(scope="session")
def sdxl_export(sdxl_variant, tmp_path_factory) -> Path:
    return _export(sdxl_variant, tmp_path_factory.mktemp("sdxl") / "fp")


@pytest.fixture(scope="session")
def pixart_export(pixart_variant, tmp_path_factory) -> Path:
    return _export(pixart_variant, tmp_path_factory.mktemp("pixart") / "fp")


@pytest.fixture(scope="session")
def sdxl_pipeline(sdxl_export):
    from stages.families import get_family

    return get_family("sdxl").load(sdxl_export, "CPU")


@pytest.fixture(scope="session")
def pixart_pipeline(pixart_export):
    from stages.families import get_family

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
    from stages.families import get_family

    return _collect(sdxl_pipeline, get_family("sdxl"), sdxl_variant, 8)


@pytest.fixture(scope="session")
def pixart_calibration(pixart_pipeline, pixart_variant):
    from stages.families import get_family

    return _collect(pixart_pipeline, get_family("pixart"), pixart_variant, 8)


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
