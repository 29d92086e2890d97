"""The calibration artifact: safetensors shards of recorded denoiser inputs plus a manifest.

No pickles: tensors go to safetensors, everything else to manifest.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openvino as ov

from ov_diffusion_quant.common.artifacts import corrupt, missing
from ov_diffusion_quant.common.errors import UserError, one_line

MANIFEST = "manifest.json"
SHARD_SIZE = 64  # samples per shard file


class ShardWriter:
    """A sink for recorded samples that writes a shard file every SHARD_SIZE samples, so that a large calibration
    set is never held in memory whole; samples past ``limit`` are dropped. ``close`` writes the manifest."""

    def __init__(self, out_dir: Path, limit: int | None = None):
        self.out_dir, self.limit = Path(out_dir), limit
        self.count, self.pending, self.shards = 0, [], []
        self.inputs: dict[str, dict] = {}

    def __len__(self) -> int:
        return self.count

    def append(self, sample: dict[str, np.ndarray]) -> None:
        if self.limit is not None and self.count >= self.limit:
            return
        if not self.inputs:
            self.inputs = {name: {"shape": list(value.shape), "dtype": str(value.dtype)} for name, value in sample.items()}
        self.pending.append(sample)
        self.count += 1
        if len(self.pending) == SHARD_SIZE:
            self._write_shard()

    def _write_shard(self) -> None:
        from safetensors.numpy import save_file

        start = self.count - len(self.pending)
        name = f"samples-{start // SHARD_SIZE:05d}.safetensors"
        save_file({f"{start + i}/{key}": np.ascontiguousarray(value)
                   for i, sample in enumerate(self.pending) for key, value in sample.items()}, str(self.out_dir / name))
        self.shards.append(name)
        self.pending = []

    def close(self, manifest: dict) -> None:
        if self.pending:
            self._write_shard()
        (self.out_dir / MANIFEST).write_text(json.dumps(
            {**manifest, "inputs": self.inputs, "num_samples": self.count, "shards": self.shards}, indent=2))


def save(out_dir: Path, samples: list[dict[str, np.ndarray]], manifest: dict) -> None:
    writer = ShardWriter(out_dir)
    for sample in samples:
        writer.append(sample)
    writer.close(manifest)


def load(data_dir: Path) -> tuple[list[dict[str, np.ndarray]], dict]:
    """The recorded samples and the manifest; a damaged manifest or shard is one line naming the file."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    data_dir = Path(data_dir)
    manifest_path = data_dir / MANIFEST
    if not manifest_path.is_file():
        raise UserError(f"no calibration data at {data_dir}: run `dvc repro calibrate@<variant>` first")
    try:
        manifest = json.loads(manifest_path.read_text())
        count, shards = int(manifest["num_samples"]), [str(name) for name in manifest["shards"]]
    except (ValueError, KeyError, TypeError) as error:  # JSONDecodeError is a ValueError
        raise corrupt(manifest_path, f"not the manifest JSON with num_samples and shards: {one_line(error)}") from error
    samples: list[dict[str, np.ndarray]] = [{} for _ in range(count)]
    for shard in shards:
        path = data_dir / shard
        if not path.is_file():
            raise missing(path)
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as error:
            raise corrupt(path, f"not a readable safetensors file: {one_line(error)}") from error
        for key, value in tensors.items():
            index, _, name = key.partition("/")
            if not index.isdigit() or not name or int(index) >= count:
                raise corrupt(path, f"tensor {key!r} is not '<sample index>/<input name>' for "
                                    f"{count} samples")
            samples[int(index)][name] = value
    if any(not sample for sample in samples):
        raise corrupt(manifest_path, f"it lists {count} samples, the shards hold {sum(map(bool, samples))}")
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
