"""Prompt sources through the `datasets` library: the local JSON-lines sets or a hub dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from stages.common.errors import UserError
from stages.config.specs import PromptSource


def _local_rows(path: str | Path, column: str = "caption") -> list[dict]:
    import datasets

    path = Path(path)
    if not path.is_file():
        raise UserError(f"prompts file {path} does not exist")
    if not path.read_text().strip():
        raise UserError(f"prompts file {path} is empty: it needs one JSON object per line with an '{column}' field")
    dataset = datasets.load_dataset("json", data_files=str(path), split="train")
    if column not in dataset.column_names:
        raise UserError(f"prompts file {path} has no '{column}' field (it has {', '.join(dataset.column_names)})")
    ids = dataset["id"] if "id" in dataset.column_names else [f"{path.stem}-{i}" for i in range(len(dataset))]
    return [{"id": str(i), "caption": str(c)} for i, c in zip(ids, dataset[column])]


def calibration_prompts(source: PromptSource) -> Iterator[dict]:
    """Yield {"id", "caption"} rows from the configured calibration source."""
    if source.source == "local":
        yield from _local_rows(source.path, source.column)
        return
    stream = _hub_stream(source).shuffle(seed=source.shuffle_seed, buffer_size=10_000)
    for index, row in enumerate(stream):
        yield {"id": f"{source.dataset_id}:{source.split}:{index}", "caption": str(row[source.column])}


def _hub_stream(source: PromptSource):
    """Stream the dataset from the hub; offline, read the split's data files from the HF cache instead.

    `datasets` does not look in the hub cache in offline mode, so a cache filled with
    `hf download --repo-type dataset <id>` is read here as plain parquet/JSON files.
    """
    import datasets
    from huggingface_hub import snapshot_download

    from stages.common.hub import offline_hint

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

    from stages.common.hub import snapshot_commit

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
