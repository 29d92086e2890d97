"""Peak memory of this process (and its children), for stage metrics."""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """Peak resident set size in MiB of this process and of any finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)  # Linux reports KiB


class RssPeak:
    """The highest resident set size of this process while the ``with`` block runs, sampled every ``interval``
    seconds by a thread (the kernel's high-water mark cannot be read per phase without resetting the stage's)."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.peak_mb = 0.0

    def __enter__(self) -> "RssPeak":
        import threading

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
