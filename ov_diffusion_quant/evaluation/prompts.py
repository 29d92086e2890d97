"""Prompt sources: the local JSON-lines sets (read line by line, so that a bad line is named), or a hub
dataset through `datasets`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.config.specs import PromptSource


def _local_rows(path: str | Path, column: str = "caption") -> list[dict]:
    """Every row of a JSON-lines prompt file as {"id", "caption"}; the first bad line is a UserError naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"prompts file {path} does not exist")
    expected = f'one JSON object per line with a \'{column}\' text, e.g. {{"id": "p1", "{column}": "a cat"}}'
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise UserError(f"prompts file {path} is not UTF-8 text ({error.reason} at byte {error.start}): "
                        f"it needs {expected}") from error
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError(f"prompts file {path} line {number} is not JSON ({error.msg}, column {error.colno}): "
                            f"it needs {expected}") from error
        caption = row.get(column) if isinstance(row, dict) else None
        if not isinstance(caption, str) or not caption.strip():
            raise UserError(f"prompts file {path} line {number} has no '{column}' text: it needs {expected}")
        rows.append({"id": str(row.get("id", f"{path.stem}-{len(rows)}")), "caption": caption})
    if not rows:
        raise UserError(f"prompts file {path} is empty: it needs {expected}")
    return rows


def calibration_prompts(source: PromptSource) -> Iterator[dict]:
    """{"id", "caption"} rows from the configured calibration source. A local file is read (and checked)
    at once, so that a bad line stops the stage before any model loads; a hub dataset is streamed."""
    if source.source == "local":
        return iter(_local_rows(source.path, source.column))
    return _hub_rows(source)


def _hub_rows(source: PromptSource) -> Iterator[dict]:
    stream = _hub_stream(source).shuffle(seed=source.shuffle_seed, buffer_size=10_000)
    for index, row in enumerate(stream):
        caption = row.get(source.column)
        if not isinstance(caption, str) or not caption.strip():
            raise UserError(f"dataset {source.dataset_id} ({source.split}, shuffled with seed {source.shuffle_seed}) "
                            f"row {index} has no '{source.column}' text: set calibrate.prompts.column to its "
                            f"caption column (it has {', '.join(row)})")
        yield {"id": f"{source.dataset_id}:{source.split}:{index}", "caption": caption}


def _hub_stream(source: PromptSource):
    """Stream the dataset from the hub; offline, read the split's data files from the HF cache instead.

    `datasets` does not look in the hub cache in offline mode, so a cache filled with
    `hf download --repo-type dataset <id>` is read here as plain parquet/JSON files.
    """
    import datasets
    from huggingface_hub import snapshot_download

    from ov_diffusion_quant.common.hub import offline_hint

    try:
        return datasets.load_dataset(source.dataset_id, split=source.split, streaming=True, revision=source.revision)
    except Exception:  # offline, DNS failure, missing repo: try the cache next
        pass
    hint = offline_hint(source.dataset_id, "dataset", "or set calibrate.prompts.source to local")
    try:
        snapshot = Path(snapshot_download(source.dataset_id, repo_type="dataset", local_files_only=True,
                                          revision=source.revision))
    except Exception as error:
        raise UserError(hint) from error
    for suffix, builder in ((".parquet", "parquet"), (".jsonl", "json"), (".json", "json"), (".csv", "csv")):
        files = sorted(str(p) for p in snapshot.rglob(f"{source.split}*{suffix}"))
        if files:
            return datasets.load_dataset(builder, data_files=files, split="train", streaming=True)
    raise UserError(f"{hint} (the cached snapshot {snapshot} has no '{source.split}' data files)")


def prompt_provenance(source: PromptSource) -> dict:
    """Which prompts a run used: the local file, or the hub dataset and the commit it resolved to."""
    if source.source == "local":
        return {"path": source.path}
    from huggingface_hub import HfApi, snapshot_download

    from ov_diffusion_quant.common.hub import snapshot_commit

    commit = None
    try:
        commit = snapshot_commit(snapshot_download(source.dataset_id, repo_type="dataset", local_files_only=True,
                                                   revision=source.revision))
    except Exception:  # not cached: it was streamed from the hub, ask the hub
        try:
            commit = HfApi().dataset_info(source.dataset_id, revision=source.revision).sha
        except Exception:
            pass
    return {"id": source.dataset_id, "split": source.split, "revision": commit}


def validation_prompts(path: str | Path, count: int) -> list[dict]:
    rows = _local_rows(path)
    if count <= 0:
        raise UserError(f"validation count {count} is not allowed: use a positive number (at most {len(rows)})")
    if count > len(rows):
        raise UserError(f"validation count {count} is larger than the {len(rows)} prompts in {path}")
    return rows[:count]
