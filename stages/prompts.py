"""Prompt sources through the `datasets` library: the local JSON-lines sets or a hub dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from stages.errors import UserError
from stages.params import PromptSource


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
    import datasets

    from stages.hub import offline_hint

    try:
        stream = datasets.load_dataset(source.dataset_id, split=source.split, streaming=True)
        stream = stream.shuffle(seed=source.shuffle_seed, buffer_size=10_000)
        for index, row in enumerate(stream):
            yield {"id": f"{source.dataset_id}:{source.split}:{index}", "caption": str(row[source.column])}
    except (ConnectionError, OSError, FileNotFoundError, ValueError) as error:
        raise UserError(offline_hint(source.dataset_id, "dataset",
                                     "or set calibrate.prompts.source to local")) from error


def validation_prompts(path: str | Path, count: int) -> list[dict]:
    rows = _local_rows(path)
    if count <= 0:
        raise UserError(f"validation count {count} is not allowed: use a positive number (at most {len(rows)})")
    if count > len(rows):
        raise UserError(f"validation count {count} is larger than the {len(rows)} prompts in {path}")
    return rows[:count]
