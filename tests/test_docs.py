"""The README is the front door (at most 8 KB), README and docs/ together stay short (they describe the system; the
results are tables in reports/ that `ovdq tables` makes), every relative link resolves (to a file that exists and,
with an #anchor, to a heading in it), every file or module they name exists, and they carry no run dates or history
(git keeps it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's heading slugs: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+\s+(.+)$", page.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_the_readme_is_at_most_8_kb():
    assert len((REPO / "README.md").read_bytes()) <= 8 * 1024


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # http(s), mailto: not checked offline
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target} (no {linked.relative_to(REPO) if linked.is_relative_to(REPO) else linked})")
        elif anchor and anchor not in anchors(linked):
            broken.append(f"{target} (no heading #{anchor} in {linked.relative_to(REPO)})")
    assert not broken, f"{page.relative_to(REPO)}: broken links: {broken}"


def test_the_docs_pages_the_readme_promises_are_there():
    readme = (REPO / "README.md").read_text()
    for page in ("docs/benchmarks.md", "docs/full-size.md", "docs/hosts-and-caching.md", "docs/pipeline.md"):
        assert f"]({page}" in readme, f"README does not link {page}"
    assert "## What is cached across hosts" in (REPO / "docs" / "hosts-and-caching.md").read_text()


LINE_BUDGET = 700  # README + docs/*.md


def test_readme_and_docs_stay_within_their_line_budget():
    lines = {page.relative_to(REPO).as_posix(): len(page.read_text().splitlines()) for page in PAGES}
    assert sum(lines.values()) <= LINE_BUDGET, f"{sum(lines.values())} lines > {LINE_BUDGET}: {lines}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(REPO).as_posix())
def test_every_file_the_page_names_exists(page):
    """Paths in backticks (`scripts/x.py`, `ov_diffusion_quant/...`, `tests/...`): a removed script or module is
    a stale page."""
    named = re.findall(r"`((?:scripts|stages|tests|ov_diffusion_quant)/[\w./-]+\.(?:py|sh|json|md))`", page.read_text())
    missing = sorted({path for path in named if not (REPO / path).exists()})
    assert not missing, f"{page.relative_to(REPO)} names files that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(REPO).as_posix())
def test_the_page_describes_the_system_not_its_history(page):
    text = page.read_text()
    dates = re.findall(r"\b20\d\d-\d\d-\d\d\b", text)
    history = re.findall(r"\b(?:earlier (?:run|configuration|profile)s?|not kept|first try|was stopped by hand)\b", text)
    assert not dates and not history, f"{page.relative_to(REPO)}: run dates {dates} or history {history} (git keeps it)"
