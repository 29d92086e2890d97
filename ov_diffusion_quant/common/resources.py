"""Memory and disk of a stage: its peak, a watchdog that stops it before the machine runs out, and the record that
lets the next run say what killed the last one; and ``run_watched``, the same watchdog around a command of its own
process group (`ovdq experiment`, `ovdq profile --exp`), so that an out-of-memory in our job ends our job, not
whatever the kernel's OOM killer picks.

Every heavy stage (export, calibrate, quantize, benchmark) runs inside ``guarded(stage, variant, device)``:

- a thread samples the stage's resident set (its process tree) and the machine's ``MemAvailable``; when
  ``MemAvailable`` falls below the floor (``OVDQ_MIN_AVAILABLE_GB``, default 1% of memory, at least 0.3 GB) it
  removes the stage's temp outputs and ends the process with one line and exit code 137, before the kernel's
  out-of-memory killer picks a process (which prints nothing a user sees);
- the same thread keeps a run record (``<state dir>/runs/<pid>.json``: the stage, its peak so far, memory available)
  that a finished run removes. A run killed outright (the kernel's OOM killer, SIGKILL) leaves it behind, and the
  next stage that starts reports it in one line with the peak it had reached;
- each finished or killed run appends its peak to ``<state dir>/history.jsonl``, keyed by stage, variant, device,
  host class and precision: the pre-flight estimate's record (``ov_diffusion_quant/runtime/preflight.py``).

The state dir is ``OVDQ_STATE_DIR``, by default ``~/.cache/ov-diffusion-quant``: machine-local, because DVC removes a
stage's metrics before it runs it.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from ov_diffusion_quant.common.errors import ResourceError

log = logging.getLogger(__name__)

STATE_DIR_ENV = "OVDQ_STATE_DIR"
MIN_AVAILABLE_ENV = "OVDQ_MIN_AVAILABLE_GB"
GB = 2**30


def peak_rss_mb() -> float:
    """Peak resident set size in MiB of this process and of any finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)  # Linux reports KiB


def mem_available_gb() -> float:
    """The kernel's estimate of memory that can be allocated without swapping (page cache counts as free)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def mem_total_gb() -> float:
    import psutil

    return psutil.virtual_memory().total / GB


def nearest_existing(path: Path | str) -> Path:
    """``path`` or its nearest existing parent (an output's directory may not exist yet)."""
    path = Path(path).absolute()
    return next(p for p in (path, *path.parents) if p.exists())


def disk_free_gb(path: Path | str) -> float:
    """Free space for this user on the file system that holds ``path`` (or its nearest existing parent)."""
    return shutil.disk_usage(nearest_existing(path)).free / GB


def mount_point(path: Path | str) -> Path:
    existing = nearest_existing(path)
    while not os.path.ismount(existing):
        existing = existing.parent
    return existing


def tree_memory_bytes(process) -> tuple[int, int]:
    """Resident set of a psutil process and its descendants (the benchmark measures in child processes), and the
    part of it that is anonymous: without the file-backed pages (memory-mapped IR weights, which the kernel can drop
    and re-read)."""
    import psutil

    try:
        members = (process, *process.children(recursive=True))
    except psutil.Error:  # it has just ended
        return 0, 0
    rss = anonymous = 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            info = member.memory_info()
            rss += info.rss
            anonymous += info.rss - info.shared  # shared: RssFile + RssShmem on Linux
    return rss, anonymous


def run_watched(command: list[str], require_available_gb: float = 0.0, min_available_gb: float = 1.5,
                cwd: Path | str | None = None, env: dict[str, str] | None = None) -> int:
    """``command``'s exit code; it does not start unless ``require_available_gb`` is available (the machine is
    shared: ResourceError), and its whole process group is killed (exit 137) when MemAvailable falls below
    ``min_available_gb``. Logs the peak RSS of its process tree."""
    if mem_available_gb() < require_available_gb:
        raise ResourceError(f"only {mem_available_gb():.1f} GB available, {require_available_gb:g} GB required for "
                            f"{' '.join(command[:4])}: not started (other work is using this machine's memory; "
                            "try again later)")
    import psutil

    process = subprocess.Popen(command, start_new_session=True, cwd=cwd, env=env)
    tree = psutil.Process(process.pid)
    peak = 0.0
    try:
        while process.poll() is None:
            peak = max(peak, tree_memory_bytes(tree)[0] / GB)
            if mem_available_gb() < min_available_gb:
                log.error("watchdog: MemAvailable below %s GB, killing process group %d (peak tree RSS %.1f GB)",
                          min_available_gb, process.pid, peak)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return 128 + signal.SIGKILL
            time.sleep(0.5)
    except BaseException:  # interrupted: the command runs in its own session, so it would outlive us
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()
        raise
    log.info("watchdog: exit %d, peak tree RSS %.1f GB", process.returncode, peak)
    return process.returncode


class RssPeak:
    """The highest resident set size of this process while the ``with`` block runs, sampled every ``interval``
    seconds by a thread (the kernel's high-water mark cannot be read per phase without resetting the stage's)."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.peak_mb = 0.0

    def __enter__(self) -> "RssPeak":
        import psutil

        process = psutil.Process()
        self._stop = threading.Event()

        def sample() -> None:
            while True:
                self.peak_mb = max(self.peak_mb, process.memory_info().rss / 2**20)
                if self._stop.wait(self.interval):
                    return

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = round(self.peak_mb, 1)


def state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV) or Path.home() / ".cache" / "ov-diffusion-quant")


def min_available_gb() -> float:
    value = os.environ.get(MIN_AVAILABLE_ENV)
    if value:
        try:
            return float(value)
        except ValueError:
            from ov_diffusion_quant.common.errors import UserError

            raise UserError(f"{MIN_AVAILABLE_ENV}={value!r}: expected a number of GB") from None
    return max(0.3, 0.01 * mem_total_gb())


@dataclass
class RunRecord:
    """One run of a stage as the history and the run records keep it."""

    stage: str
    variant: str
    device: str | None
    isa_class: str
    precision: str
    pid: int
    started: str
    peak_rss_gb: float = 0.0
    peak_anonymous_gb: float = 0.0  # of which not file-backed: what the stage's own allocations held at most
    available_gb: float = 0.0  # MemAvailable at the last sample
    model_gb: float | None = None  # the size of what the stage loaded: a record of another size is no estimate
    outcome: str = "running"  # running, finished, stopped (by the watchdog), killed (found dead by the next run)

    @property
    def key(self) -> tuple:
        return self.stage, self.variant, self.device, self.isa_class, self.precision

    def label(self) -> str:
        return " ".join(part for part in (self.stage, self.variant, self.device) if part)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    temp.write_text(text)
    os.replace(temp, path)


def _append_history(record: RunRecord) -> None:
    path = state_dir() / "history.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as history:  # one short line per append: atomic on a local file system
        history.write(json.dumps(asdict(record)) + "\n")


def history() -> list[RunRecord]:
    path = state_dir() / "history.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError, TypeError):
            records.append(RunRecord(**json.loads(line)))
    return records


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def report_unfinished_runs() -> list[RunRecord]:
    """One line for every run whose record outlived its process (killed outright, most often for memory), which
    then goes into the history with the peak it reached."""
    runs = state_dir() / "runs"
    found = []
    for path in sorted(runs.glob("*.json")) if runs.is_dir() else []:
        try:
            record = RunRecord(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if _alive(record.pid):
            continue
        path.unlink(missing_ok=True)
        record.outcome = "killed"
        _append_history(record)
        cause = ("most likely by the kernel's out-of-memory killer" if record.available_gb < 2 * min_available_gb()
                 else "by a signal it could not catch (SIGKILL)")
        log.warning("warning: the run of %s started %s (pid %d) was killed without finishing, %s: it had reached "
                    "%.1f GB RSS with %.1f GB of memory still available", record.label(), record.started, record.pid,
                    cause, record.peak_rss_gb, record.available_gb)
        found.append(record)
    return found


# The temp outputs of this process (ov_diffusion_quant.common.outputs registers them): removed by the watchdog
# before it ends the process, which skips every `finally`.
ACTIVE_TEMPS: set[Path] = set()


class StageGuard:
    """The watchdog thread and run record of one stage run (see the module docstring)."""

    def __init__(self, stage: str, variant: str, device: str | None, facts: dict, interval: float = 0.25,
                 model_gb: float | None = None):
        """``facts``: the host facts (runtime/host_facts.provenance()): the record keys its peak by host class."""
        self.record = RunRecord(stage, variant, device, facts["isa_class"], facts["precision"], os.getpid(),
                                datetime.datetime.now().isoformat(timespec="seconds"),
                                model_gb=round(model_gb, 2) if model_gb is not None else None)
        self.interval = interval
        self.floor_gb = min_available_gb()
        self.available_at_start_gb = round(mem_available_gb(), 2)
        self._path = state_dir() / "runs" / f"{os.getpid()}.json"
        self._stop = threading.Event()

    def __enter__(self) -> "StageGuard":
        import psutil

        process = psutil.Process()
        self._write()

        def watch() -> None:
            last_written = 0.0
            while not self._stop.wait(self.interval):
                (rss, anonymous), available = tree_memory_bytes(process), mem_available_gb()
                self.record.peak_rss_gb = round(max(self.record.peak_rss_gb, rss / GB), 2)
                self.record.peak_anonymous_gb = round(max(self.record.peak_anonymous_gb, anonymous / GB), 2)
                self.record.available_gb = round(available, 2)
                if available < self.floor_gb:
                    self._stop_for_memory()
                last_written += self.interval
                if last_written >= 2.0:
                    self._write()
                    last_written = 0.0

        self._thread = threading.Thread(target=watch, name="ovdq-memory-watchdog", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind, value, trace) -> None:
        self._stop.set()
        self._thread.join()
        self.record.peak_rss_gb = round(max(self.record.peak_rss_gb, peak_rss_mb() / 1024), 2)
        self._path.unlink(missing_ok=True)
        if kind is None:
            self.record.outcome = "finished"
            _append_history(self.record)

    def metrics(self, estimate: dict | None = None) -> dict:
        """The block a stage's metrics carry: its pre-flight estimate beside what it used."""
        return {"estimate": estimate, "peak_rss_gb": round(max(self.record.peak_rss_gb, peak_rss_mb() / 1024), 2),
                "peak_anonymous_gb": self.record.peak_anonymous_gb,
                "available_gb_at_start": self.available_at_start_gb, "min_available_gb": round(self.floor_gb, 2)}

    def _write(self) -> None:
        with contextlib.suppress(OSError):
            _write_atomically(self._path, json.dumps(asdict(self.record)))

    def _stop_for_memory(self) -> None:
        """End the process now: the main thread may be inside a C++ call that would not return to Python first."""
        import psutil

        self.record.outcome = "stopped"
        for child in psutil.Process().children(recursive=True):  # a benchmark's configuration process
            with contextlib.suppress(psutil.Error):
                child.kill()
        with contextlib.suppress(OSError):
            self._path.unlink(missing_ok=True)
            _append_history(self.record)
        for temp in list(ACTIVE_TEMPS):
            shutil.rmtree(temp, ignore_errors=True) if temp.is_dir() else temp.unlink(missing_ok=True)
        print(f"error: out of memory: {self.record.label()} was stopped at {self.record.peak_rss_gb:.1f} GB RSS when "
              f"the machine had {self.record.available_gb:.2f} GB left (floor {self.floor_gb:.2f} GB, "
              f"{MIN_AVAILABLE_ENV}); nothing was written. Close other programs or run it on a machine with more "
              "memory; the next pre-flight check counts this peak", file=sys.stderr, flush=True)
        os._exit(137)


@contextlib.contextmanager
def guarded(stage: str, variant: str, device: str | None = None, **options) -> Iterator[StageGuard]:
    with StageGuard(stage, variant, device, **options) as guard:
        yield guard
