"""The committed reference models (data/reference-models/<variant>): still what params.yaml and the scenes data set
say they are, and the variants that use them gated like the trained ones. If a check here fails after a change to the
training params or to the scenes, retrain: `make reference-snapshot REFERENCE=<variant>`
(scripts/snapshot_reference.py)."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import REPO
from ov_diffusion_quant.common.hub import directory_digest

REFERENCES = {"trained-sdxl": "sdxl", "trained-pixart": "pixart"}  # variant -> family, of the committed snapshots
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())


def snapshot(variant: str):
    return REPO / "data" / "reference-models" / variant


def provenance(variant: str) -> dict:
    return json.loads((snapshot(variant) / "provenance.json").read_text())


@pytest.mark.parametrize("variant", REFERENCES)
def test_it_was_trained_with_the_training_params_of_its_variant(variant):
    assert provenance(variant)["model"] == PARAMS["variants"][variant]["model"]
    training = provenance(variant)["training"]
    train = PARAMS["variants"][variant]["model"]["train"]
    assert training["denoiser"]["steps"] == train["steps"]
    assert training["tiny_autoencoder"]["steps"] == train["taesd_steps"]
    assert training["host"]["cpu"] and training["host"]["isa_class"]  # where it was trained, for the record


@pytest.mark.parametrize("variant", REFERENCES)
def test_it_was_trained_on_the_training_split_the_scenes_stage_makes(variant, tmp_path):
    """The training split's files, byte for byte (the held-out and validation splits are the gate's and the search's;
    the scenes stage makes them in seconds)."""
    from ov_diffusion_quant.reference.scene_dataset import write_dataset

    scenes = PARAMS["scenes"]
    made = write_dataset(tmp_path, seed=scenes["seed"], train_size=scenes["train_size"],
                         heldout_size=scenes["heldout_size"], image_size=scenes["image_size"],
                         validation_size=scenes["validation_size"])["files"]
    for name in ("train_images.npy", "train.jsonl", "heldout_images.npy", "heldout.jsonl"):
        assert made[name] == provenance(variant)["scenes"]["files"][name], name


@pytest.mark.parametrize("variant", REFERENCES)
def test_its_variant_is_the_trained_one_without_the_training(variant):
    snapshot_variant, trained = PARAMS["variants"][f"{variant}-snapshot"], PARAMS["variants"][variant]
    assert {k: v for k, v in snapshot_variant.items() if k != "model"} == \
        {k: v for k, v in trained.items() if k != "model"}
    expected = {key: value for key, value in trained["model"].items() if key not in ("source", "train", "taesd")}
    expected["source"] = f"data/reference-models/{variant}"
    if trained["model"].get("taesd") == "trained":
        expected["taesd"] = f"data/reference-models/{variant}/taesd"
    assert snapshot_variant["model"] == expected
    assert expected["family"] == REFERENCES[variant]


@pytest.mark.parametrize("variant", REFERENCES)
def test_it_holds_safetensors_weights_and_no_pickles(variant):
    names = {path.name for path in snapshot(variant).rglob("*") if path.is_file()}
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
