"""Atomic outputs: write into a temp path beside the target, then move into place.

A failed or interrupted stage therefore never leaves a half-written directory or file where DVC (or
the next stage) would take it for a result, nor the directories it created for it. A stage killed
outright (SIGKILL, out of memory) cannot clean up: its temp path, ``.<target name>.tmp-<pid>-*``, is
removed by the next run that writes the same target, once no live process owns it.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ov_diffusion_quant.common.errors import UserError, raise_if_interrupted

log = logging.getLogger(__name__)


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-{os.getpid()}-"


def _owner_alive(temp: Path, target: Path) -> bool:
    """Whether the process named in a temp path still runs (a name without a pid is stale)."""
    import psutil

    pid = temp.name[len(f".{target.name}.tmp-"):].split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        return psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:  # no such process
        return False


def remove_stale_temps(target: Path | str) -> list[Path]:
    """Remove the temp paths of ``target`` that a killed run left behind; return what was removed."""
    target = Path(target)
    if not target.parent.is_dir():
        return []
    removed = []
    for temp in sorted(target.parent.glob(f".{glob.escape(target.name)}.tmp-*")):
        if _owner_alive(temp, target):
            continue
        if temp.is_dir() and not temp.is_symlink():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            temp.unlink(missing_ok=True)
        log.info("removed %s, left by an interrupted run", temp)
        removed.append(temp)
    return removed


def _make_parents(directory: Path) -> list[Path]:
    """Create ``directory`` and its missing parents; return the ones created, outermost first."""
    missing = []
    for parent in (directory, *directory.parents):
        if parent.exists():
            break
        missing.append(parent)
    directory.mkdir(parents=True, exist_ok=True)
    return missing[::-1]


def _remove_if_empty(created: list[Path]) -> None:
    for directory in reversed(created):
        with contextlib.suppress(OSError):  # not empty: something else wrote there meanwhile
            directory.rmdir()


@contextlib.contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield an empty temp directory that replaces ``target`` only if the block succeeds."""
    target = Path(target)
    created = _make_parents(target.parent)
    remove_stale_temps(target)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private
    succeeded = False
    try:
        yield tmp
        raise_if_interrupted()
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        succeeded = True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if not succeeded:
            _remove_if_empty(created)


@contextlib.contextmanager
def atomic_file(target: Path | str) -> Iterator[Path]:
    """Yield a temp file path that replaces ``target`` only if the block succeeds."""
    target = Path(target)
    created = _make_parents(target.parent)
    remove_stale_temps(target)
    fd, name = tempfile.mkstemp(prefix=_temp_prefix(target), dir=target.parent, suffix=target.suffix)
    os.close(fd)
    tmp = Path(name)
    tmp.chmod(0o644)
    succeeded = False
    try:
        yield tmp
        raise_if_interrupted()
        os.replace(tmp, target)
        succeeded = True
    finally:
        tmp.unlink(missing_ok=True)
        if not succeeded:
            _remove_if_empty(created)


def check_writable_file(path: Path | str, what: str) -> Path:
    """Refuse, before any work, an output path that cannot become a file: a directory, or a place
    this user cannot write to."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {path} is a directory: name a file")
    existing = next(parent for parent in path.absolute().parents if parent.exists())
    if not existing.is_dir():
        raise UserError(f"{what} {path}: {existing} is a file, not a directory")
    try:  # a real write: permission bits say nothing for root, on read-only mounts or in /proc
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UserError(f"{what} {path}: cannot write in {existing} ({error.strerror})") from error
    return path


def write_json(target: Path | str, data: Any) -> None:
    with atomic_file(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dir_size_bytes(path: Path | str) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
