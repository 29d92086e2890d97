"""Atomic outputs: write into a temp path beside the target, then move into place.

A failed or interrupted stage therefore never leaves a half-written directory or file where DVC (or
the next stage) would take it for a result, nor the directories it created for it. A stage killed
outright (SIGKILL, out of memory) cannot clean up: its temp path, ``.<target name>.tmp-<pid>-*``, is
removed by the next run that writes the same target, once no live process owns it.

A write that fails for want of disk space (ENOSPC from Python, or any error from a library's C++ writer while the file
system is full) ends as one ``ResourceError`` that names the target, what had been written and what is free.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ov_diffusion_quant.common.errors import ResourceError, UserError, one_line, raise_if_interrupted
from ov_diffusion_quant.common.resources import ACTIVE_TEMPS, mount_point

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


def link_or_copy(source, target) -> None:
    """A hard link where the file system allows one (outputs are never written in place), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


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


FULL_BELOW_BYTES = 2**20  # a write failed while less than this was free: the disk was full
# C++ writers (OpenVINO's serializer) report a failed write as a stream error, without the errno, and remove their
# partial file first: such an error counts as a full disk when little space is left (under 1 GB or 5%).
STREAM_ERRORS = ("iostream error", "basic_ios", "No space left")
LOW_SPACE_BYTES, LOW_SPACE_FRACTION = 2**30, 0.05


def _out_of_space(error: BaseException, where: Path) -> bool:
    """Whether ``error`` comes from a full file system: ENOSPC or EDQUOT anywhere in its chain, any error while
    (almost) nothing is free where it was writing, or a C++ stream error while little is free."""
    seen, stream_error = error, False
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        stream_error |= any(marker in str(seen) for marker in STREAM_ERRORS)
        seen = seen.__cause__ or seen.__context__
    try:
        usage = shutil.disk_usage(where if where.exists() else where.parent)
    except OSError:
        return False
    low = usage.free < min(LOW_SPACE_BYTES, LOW_SPACE_FRACTION * usage.total)
    return usage.free < FULL_BELOW_BYTES or (stream_error and low)


def human_size(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError


def _disk_full(target: Path, temp: Path, existed: bool, error: BaseException) -> ResourceError:
    """The one-line error, measured before and after the partial output is removed."""
    written = dir_size_bytes(temp) if temp.is_dir() else temp.stat().st_size if temp.exists() else 0
    free_then = shutil.disk_usage(temp.parent).free
    shutil.rmtree(temp, ignore_errors=True) if temp.is_dir() else temp.unlink(missing_ok=True)
    free_now = shutil.disk_usage(target.parent).free
    previous = f"the previous {target} is unchanged" if existed else "nothing was left behind"
    return ResourceError(
        f"disk full on {mount_point(target)} while writing {target} ({one_line(error)}): it had written "
        f"{human_size(written)} when {human_size(free_then)} was left, so it needs more than the "
        f"{human_size(free_now)} free now; {previous}. "
        "Free space there (`dvc gc` drops cache no commit uses) and run it again")


@contextlib.contextmanager
def _atomic(target: Path, make_temp) -> Iterator[Path]:
    created = _make_parents(target.parent)
    remove_stale_temps(target)
    existed = target.exists()
    tmp = make_temp()
    ACTIVE_TEMPS.add(tmp)
    succeeded = False
    try:
        yield tmp
        raise_if_interrupted()
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(tmp, target)
        succeeded = True
    except Exception as error:
        if isinstance(error, ResourceError) or not _out_of_space(error, tmp):
            raise
        raise _disk_full(target, tmp, existed, error) from error
    finally:
        ACTIVE_TEMPS.discard(tmp)
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        if not succeeded:
            _remove_if_empty(created)


@contextlib.contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield an empty temp directory that replaces ``target`` only if the block succeeds."""
    target = Path(target)

    def make_temp() -> Path:
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), dir=target.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private
        return tmp

    with _atomic(target, make_temp) as tmp:
        yield tmp


@contextlib.contextmanager
def atomic_file(target: Path | str) -> Iterator[Path]:
    """Yield a temp file path that replaces ``target`` only if the block succeeds."""
    target = Path(target)

    def make_temp() -> Path:
        fd, name = tempfile.mkstemp(prefix=_temp_prefix(target), dir=target.parent, suffix=target.suffix)
        os.close(fd)
        Path(name).chmod(0o644)
        return Path(name)

    with _atomic(target, make_temp) as tmp:
        yield tmp


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
    """Bytes of the regular files under ``path`` (links not followed: DVC links outputs into its cache)."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file() and not p.is_symlink())
