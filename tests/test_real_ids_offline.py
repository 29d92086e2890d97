"""The real-model code path, offline: a temporary HF cache holds tiny models under the real repo ids.

Nothing is downloaded: HF_HUB_OFFLINE=1 and HF_HOME points at the temporary cache. The
stages resolve `stabilityai/sdxl-turbo`, `madebyollin/taesdxl`,
`PixArt-alpha/PixArt-LCM-XL-2-1024-MS`, `openai/clip-vit-large-patch14` and
`google-research-datasets/conceptual_captions` exactly as they would with a filled cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import build_tiny_clip, make_repo_copy, run_in
from reference_runs import only_these_candidates

pytestmark = pytest.mark.e2e
SEARCHED = ("full-int8",)  # of pixart-lcm's full-size candidates (the test is of the path, not of a choice)


def commit_of(repo_id: str) -> str:
    """The commit put_in_hf_cache files a repo under."""
    return hashlib.sha1(repo_id.encode()).hexdigest()


def put_in_hf_cache(hf_home: Path, repo_id: str, source: Path, repo_type: str = "model") -> None:
    """Lay ``source`` out as the cached snapshot of ``repo_id`` (the layout huggingface_hub reads)."""
    root = hf_home / "hub" / f"{repo_type}s--{repo_id.replace('/', '--')}"
    commit = commit_of(repo_id)
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    shutil.copytree(source, root / "snapshots" / commit)


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory, params):
    """A HF cache with tiny stand-ins under every real id the pipeline uses."""
    import pandas as pd
    from diffusers import StableDiffusionXLPipeline

    from ov_diffusion_quant.families import get_family

    home = tmp_path_factory.mktemp("hf_home")
    work = tmp_path_factory.mktemp("tiny_sources")

    sdxl = params.variant("tiny-sdxl-turbo").model
    get_family("sdxl").build_tiny(sdxl, work / "sdxl")
    # the real repo ships fp16 weight files, and the sdxl-turbo variant asks for them
    StableDiffusionXLPipeline.from_pretrained(work / "sdxl", use_safetensors=True).save_pretrained(
        work / "sdxl-fp16", safe_serialization=True, variant="fp16")
    put_in_hf_cache(home, "stabilityai/sdxl-turbo", work / "sdxl-fp16")
    put_in_hf_cache(home, "madebyollin/taesdxl", work / "sdxl" / "taesd")

    get_family("pixart").build_tiny(params.variant("tiny-pixart-lcm").model, work / "pixart")
    put_in_hf_cache(home, "PixArt-alpha/PixArt-LCM-XL-2-1024-MS", work / "pixart")

    build_tiny_clip(work / "clip")
    put_in_hf_cache(home, "openai/clip-vit-large-patch14", work / "clip")

    captions = [row["caption"] for row in map(json.loads, (Path(__file__).parents[1] / "data/prompts/calibration.jsonl")
                                              .read_text().splitlines())]
    (work / "captions" / "unlabeled").mkdir(parents=True)
    pd.DataFrame({"caption": captions[:40], "image_url": ["https://example.invalid/x.jpg"] * 40}).to_parquet(
        work / "captions" / "unlabeled" / "train-00000-of-00001.parquet")
    put_in_hf_cache(home, "google-research-datasets/conceptual_captions", work / "captions", repo_type="dataset")
    return home


@pytest.fixture
def offline(monkeypatch, hf_home):
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    return hf_home


def test_the_real_variants_run_end_to_end_from_the_cache(offline, tmp_path):
    repo = make_repo_copy(tmp_path)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["enabled"] = ["sdxl-turbo", "pixart-lcm"]
    params["calibrate"]["prompts"]["source"] = "hub"  # conceptual_captions through `datasets`
    # The real settings (512 px / 1 step, 1024 px / 4 steps) stay; only the counts shrink for a test.
    params["variants"]["sdxl-turbo"]["calibrate"]["subset_size"] = 4
    params["variants"]["pixart-lcm"]["calibrate"]["subset_size"] = 4
    params["evaluate"]["num_prompts"] = 1
    params["calibrate"]["compare_notebook_prompts"] = 0  # the tiny default's e2e test times it
    # PixArt searches as `make real` runs it (one of its full-size candidates, one validation caption), its gate's
    # CLIP minimum checked on every candidate
    params["search"]["variants"] = ["pixart-lcm"]
    params["variants"]["pixart-lcm"]["quantize"]["search"].update(candidates=list(SEARCHED), num_prompts=1)
    only_these_candidates(params, SEARCHED)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    # What the hub decides runs for both families: the export (sources and revisions, the fp16 weight files, the
    # tiny autoencoder) and calibration (the `datasets` prompts, the real sizes). PixArt, at 1024 px, goes on through
    # quantize and evaluate (with CLIP from the cache); SDXL's stages after calibrate are those of the tiny default.
    # The benchmark loads what evaluate loads (its own tests cover it); the gate runs as its stage runs it.
    output = run_in(repo, "dvc", "repro", "calibrate@sdxl-turbo", "evaluate@pixart-lcm-CPU")
    text = output.stdout + output.stderr
    for stage in ("export@sdxl-turbo", "calibrate@sdxl-turbo", "export@pixart-lcm", "calibrate@pixart-lcm",
                  "statistics@pixart-lcm-CPU", *(f"candidate@pixart-lcm-CPU-{name}" for name in SEARCHED),
                  "quantize@pixart-lcm-CPU", "evaluate@pixart-lcm-CPU"):
        assert f"Running stage '{stage}'" in text
    search = json.loads((repo / "metrics/pixart-lcm/CPU/recipe.json").read_text())
    assert search["searched"] and [row["candidate"] for row in search["candidates"]] == list(SEARCHED)
    # a CLIP similarity that was not measured would fail the candidate ("clip_sim (min) None < 0.8")
    assert not [check for row in search["candidates"] for check in row["failed_checks"] if "None" in check]
    assert search["chosen"] in SEARCHED, search["candidates"]
    params["enabled"] = ["pixart-lcm"]  # the variant evaluated here, with its real thresholds (CLIP included)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    gate = run_in(repo, "python", "-m", "stages.gate")
    assert "quality gate passed" in gate.stdout + gate.stderr
    manifest = json.loads((repo / "data/calibration/sdxl-turbo/manifest.json").read_text())
    assert manifest["samples"][0]["prompt_id"].startswith("google-research-datasets/conceptual_captions:train:")
    assert manifest["inputs"]["sample"]["shape"] == [1, 4, 64, 64]  # 512 px
    pixart = json.loads((repo / "data/calibration/pixart-lcm/manifest.json").read_text())
    assert pixart["inputs"]["hidden_states"]["shape"] == [1, 4, 128, 128]  # 1024 px
    evaluate = json.loads((repo / "metrics/pixart-lcm/CPU/evaluate.json").read_text())
    assert evaluate["clip_sim_skipped"] == "" and evaluate["text2image"]["clip_sim"]["min"] > 0.5
    assert (repo / "models/sdxl-turbo/fp/vae_decoder/config.json").read_text().count("AutoencoderTiny")
    # every hub input says which commit it was
    export = json.loads((repo / "metrics/sdxl-turbo/export.json").read_text())
    assert export["sources"] == {"model": {"id": "stabilityai/sdxl-turbo", "revision": commit_of("stabilityai/sdxl-turbo")},
                                 "taesd": {"id": "madebyollin/taesdxl", "revision": commit_of("madebyollin/taesdxl")}}
    pixart_export = json.loads((repo / "metrics/pixart-lcm/export.json").read_text())
    assert pixart_export["sources"]["model"] == {"id": "PixArt-alpha/PixArt-LCM-XL-2-1024-MS",
                                                 "revision": commit_of("PixArt-alpha/PixArt-LCM-XL-2-1024-MS")}
    calibrate = json.loads((repo / "metrics/sdxl-turbo/calibrate.json").read_text())
    assert calibrate["prompts"]["revision"] == commit_of("google-research-datasets/conceptual_captions")
    assert evaluate["clip_model"] == {"id": "openai/clip-vit-large-patch14",
                                      "revision": commit_of("openai/clip-vit-large-patch14")}
    assert str(offline) not in (repo / "models/sdxl-turbo/fp/model_index.json").read_text(), "no host cache path"


def test_a_pinned_revision_is_used_and_a_missing_one_named(offline):
    """In a fresh process: huggingface_hub reads HF_HOME when it is imported."""
    import subprocess
    import sys

    code = ("import sys; from ov_diffusion_quant.common.errors import UserError; "
            "from ov_diffusion_quant.common.hub import local_model_dir, snapshot_commit\n"
            "print(snapshot_commit(local_model_dir('madebyollin/taesdxl', revision=sys.argv[1])))\n"
            "try:\n    local_model_dir('madebyollin/taesdxl', revision='0' * 40)\n"
            "except UserError as error:\n    print(error)\n")
    commit = commit_of("madebyollin/taesdxl")
    result = subprocess.run([sys.executable, "-c", code, commit], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1], check=True)
    resolved, missing = result.stdout.strip().splitlines()[-2:]
    assert resolved == commit
    assert "'madebyollin/taesdxl' at revision '" + "0" * 40 + "' is not in the Hugging Face cache" in missing


@pytest.mark.parametrize("variant, repo_id", [("sdxl-turbo", "stabilityai/sdxl-turbo"),
                                              ("pixart-lcm", "PixArt-alpha/PixArt-LCM-XL-2-1024-MS")])
def test_an_uncached_model_fails_with_one_clear_line(tmp_path, monkeypatch, variant, repo_id):
    repo = make_repo_copy(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = run_in(repo, "python", "-m", "stages.export", variant, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "Traceback" not in result.stderr
    assert repo_id in lines[-1] and "hub is unreachable" in lines[-1] and "hf download" in lines[-1]
    assert not (repo / "models" / variant / "fp").exists()
    assert not list((repo / "models").glob(f"{variant}/.*tmp*"))


def test_a_search_whose_gate_needs_clip_fails_with_one_line_where_clip_is_not_cached(tmp_path):
    """Every candidate would fail its CLIP check unmeasured: the candidate stage says so before quantizing."""
    import subprocess
    import sys

    code = ("from ov_diffusion_quant.common.errors import UserError\n"
            "from ov_diffusion_quant.evaluation.similarity import clip_for_gate\n"
            "assert clip_for_gate(None, 'openai/clip-vit-large-patch14', None, 'unused') is None\n"
            "try:\n    clip_for_gate(0.8, 'openai/clip-vit-large-patch14', None, 'variants.sdxl-turbo.gate.clip_sim_min')\n"
            "except UserError as error:\n    print(error)\n")
    env = {**os.environ, "HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                            cwd=Path(__file__).resolve().parents[1])
    message = result.stdout.strip()
    assert "\n" not in message
    assert message.startswith("variants.sdxl-turbo.gate.clip_sim_min is 0.8, and CLIP cannot be loaded: ")
    assert "openai/clip-vit-large-patch14" in message and "hf download" in message


def test_an_uncached_dataset_fails_with_one_clear_line(tmp_path, monkeypatch):
    from ov_diffusion_quant.common.errors import UserError
    from ov_diffusion_quant.config.params import PromptSource
    from ov_diffusion_quant.evaluation.prompts import calibration_prompts

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = PromptSource("hub", "", "google-research-datasets/conceptual_captions", "train", 42, "caption")
    with pytest.raises(UserError, match="dataset 'google-research-datasets/conceptual_captions' is not in the"):
        next(calibration_prompts(source))


def test_a_local_directory_works_as_a_source(tmp_path, params):
    from dataclasses import replace

    from ov_diffusion_quant.families import get_family
    from ov_diffusion_quant.common.hub import local_model_dir

    family = get_family("pixart")
    family.build_tiny(params.variant("tiny-pixart-lcm").model, tmp_path / "src")
    assert local_model_dir(str(tmp_path / "src")) == tmp_path / "src"
    spec = replace(params.variant("pixart-lcm").model, source=str(tmp_path / "src"))
    family.export(spec, params.variant("tiny-pixart-lcm").generation, tmp_path / "out")
    family.check_exported(tmp_path / "out")
    assert os.path.exists(tmp_path / "out" / "pixart_pipeline.json")
