"""The calibration artifact: safetensors shards of recorded denoiser inputs plus a manifest.

No pickles: tensors go to safetensors, everything else to manifest.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openvino as ov

from stages.common.errors import UserError

MANIFEST = "manifest.json"
SHARD_SIZE = 64  # samples per shard file


def save(out_dir: Path, samples: list[dict[str, np.ndarray]], manifest: dict) -> None:
    from safetensors.numpy import save_file

    shards = []
    for start in range(0, len(samples), SHARD_SIZE):
        name = f"samples-{start // SHARD_SIZE:05d}.safetensors"
        tensors = {f"{start + i}/{key}": np.ascontiguousarray(value)
                   for i, sample in enumerate(samples[start:start + SHARD_SIZE]) for key, value in sample.items()}
        save_file(tensors, str(out_dir / name))
        shards.append(name)
    (out_dir / MANIFEST).write_text(json.dumps({**manifest, "num_samples": len(samples), "shards": shards}, indent=2))


def load(data_dir: Path) -> tuple[list[dict[str, np.ndarray]], dict]:
    from safetensors.numpy import load_file

    data_dir = Path(data_dir)
    manifest_path = data_dir / MANIFEST
    if not manifest_path.is_file():
        raise UserError(f"no calibration data at {data_dir}: run `dvc repro calibrate@<variant>` first")
    manifest = json.loads(manifest_path.read_text())
    samples: list[dict[str, np.ndarray]] = [{} for _ in range(manifest["num_samples"])]
    for shard in manifest["shards"]:
        for key, value in load_file(str(data_dir / shard)).items():
            index, name = key.split("/", 1)
            samples[int(index)][name] = value
    return samples, manifest


def check_matches_model(samples: list[dict[str, np.ndarray]], ov_model, data_dir: Path) -> None:
    """Every sample must feed exactly the model's inputs, with compatible ranks and static dims."""
    inputs = {}
    for port in ov_model.inputs:  # a port may carry aliases; the sample must use one of its names
        sample_names = port.get_names() & samples[0].keys()
        inputs[next(iter(sample_names)) if sample_names else port.get_any_name()] = port.get_partial_shape()
    for index, sample in enumerate(samples[:1] + samples[-1:]):
        if set(sample) != set(inputs):
            raise UserError(f"calibration data {data_dir} does not match the model: it has inputs "
                            f"{sorted(sample)}, the model takes {sorted(inputs)}")
        for name, shape in inputs.items():
            if not shape.compatible(ov.PartialShape(list(sample[name].shape))):
                raise UserError(f"calibration data {data_dir} does not match the model: input {name!r} has "
                                f"shape {list(sample[name].shape)}, the model takes {shape}")
