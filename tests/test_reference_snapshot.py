"""The committed reference model (data/reference-models/trained-sdxl): still what params.yaml and the scenes data
set say it is, and the variant that uses it gated like trained-sdxl. If a check here fails after a change to the
training params or to the scenes, retrain it: `make reference-snapshot` (scripts/snapshot_reference.py)."""

from __future__ import annotations

import json

import yaml

from conftest import REPO
from ov_diffusion_quant.common.hub import directory_digest

SNAPSHOT = REPO / "data" / "reference-models" / "trained-sdxl"
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
PROVENANCE = json.loads((SNAPSHOT / "provenance.json").read_text())


def test_it_was_trained_with_the_training_params_of_trained_sdxl():
    assert PROVENANCE["model"] == PARAMS["variants"]["trained-sdxl"]["model"]
    training = PROVENANCE["training"]
    train = PARAMS["variants"]["trained-sdxl"]["model"]["train"]
    assert training["denoiser"]["steps"] == train["steps"]
    assert training["tiny_autoencoder"]["steps"] == train["taesd_steps"]
    assert training["host"]["cpu"] and training["host"]["isa_class"]  # where it was trained, for the record


def test_it_was_trained_on_the_training_split_the_scenes_stage_makes(tmp_path):
    """The training split's files, byte for byte (the held-out and validation splits are the gate's and the search's;
    the scenes stage makes them in seconds)."""
    from ov_diffusion_quant.reference.scene_dataset import write_dataset

    scenes = PARAMS["scenes"]
    made = write_dataset(tmp_path, seed=scenes["seed"], train_size=scenes["train_size"],
                         heldout_size=scenes["heldout_size"], image_size=scenes["image_size"],
                         validation_size=scenes["validation_size"])["files"]
    for name in ("train_images.npy", "train.jsonl", "heldout_images.npy", "heldout.jsonl"):
        assert made[name] == PROVENANCE["scenes"]["files"][name], name


def test_its_variant_is_trained_sdxl_without_the_training():
    snapshot, trained = PARAMS["variants"]["trained-sdxl-snapshot"], PARAMS["variants"]["trained-sdxl"]
    assert {k: v for k, v in snapshot.items() if k != "model"} == {k: v for k, v in trained.items() if k != "model"}
    assert snapshot["model"] == {"family": "sdxl", "source": "data/reference-models/trained-sdxl",
                                 "taesd": "data/reference-models/trained-sdxl/taesd", "seed": trained["model"]["seed"]}


def test_it_holds_safetensors_weights_and_no_pickles():
    names = {path.name for path in SNAPSHOT.rglob("*") if path.is_file()}
    assert "diffusion_pytorch_model.safetensors" in names and "model.safetensors" in names
    assert not {name for name in names if name.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl"))}


def test_a_directory_digest_changes_with_a_byte_or_a_name(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "w.safetensors").write_bytes(b"\x00\x01")
    before = directory_digest(tmp_path)
    assert directory_digest(tmp_path) == before
    (tmp_path / "a" / "w.safetensors").write_bytes(b"\x00\x02")
    changed = directory_digest(tmp_path)
    (tmp_path / "a" / "w.safetensors").rename(tmp_path / "a" / "v.safetensors")
    assert len({before, changed, directory_digest(tmp_path)}) == 3
