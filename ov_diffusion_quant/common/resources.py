"""Peak memory of this process (and its children), for stage metrics."""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """Peak resident set size in MiB of this process and of any finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)  # Linux reports KiB
