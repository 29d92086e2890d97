"""reports/summary.md: the summary table for people, a section per concern, caveats first."""

from __future__ import annotations

import os

import pandas as pd

from ov_diffusion_quant.config.params import Params
from ov_diffusion_quant.runtime import host_facts
from ov_diffusion_quant.reporting.summary import (MEASURED, NOT_PUBLISHED, PUBLISHED, RECORDED, SECTIONS)

CAVEATS = """\
- The tiny variants (`tiny-*`) are random-weight models a few MB in size: their latencies measure
  framework overhead (Python, tokenizers, schedulers, dispatch), not the speed of quantized kernels,
  so a speedup below 1 there says nothing about the full-size models.
- Similarity on random weights says nothing about image quality: it only shows that the optimized
  model computes nearly the same function as the FP one.
- Columns marked "(recorded)" are earlier runs of variants that are not enabled, kept in metrics/: the
  `*-arch` variants are the real architectures with random weights, run by `make bench-arch` (heavy, not
  part of `dvc repro`). Their latency, size and memory are real; their similarity says nothing at all.
- Figures marked "published, other hardware" are the OpenVINO notebooks' printed figures for the full-size
  models on their machines; they are not comparable number-for-number with anything measured here.
"""


def machine_line(params: Params) -> str:
    """This host, from the host stage's facts: columns measured elsewhere are marked "other host"."""
    facts = host_facts.provenance()
    return (f"This host: {facts['cpu']}, {os.cpu_count()} cores, ISA class {facts['isa_class']}, inference precision "
            f"{facts['precision']}; OpenVINO {facts['openvino']}. A column measured on another kind of host is marked "
            "\"(other host: ISA class, precision)\".")


def format_cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_section(table: pd.DataFrame, title: str, columns: list[str]) -> str:
    """One section, transposed (a row per metric, a column per variant x device or published figure).

    Published columns appear only where they have a figure; long "n/a (...)" reasons become footnotes.
    """
    published_here = (table["source"] == PUBLISHED) & table[columns].map(lambda v: v != NOT_PUBLISHED).any(axis=1)
    shown = table[table["source"].isin([MEASURED, RECORDED]) | published_here]
    suffix = {MEASURED: "", RECORDED: " (recorded)", PUBLISHED: f" ({PUBLISHED})"}
    headers = [f"{row.variant} / {row.device}{suffix[row.source]}"
               + (f" ({row.host_mark})" if row.source != PUBLISHED and row.host_mark not in ("", NOT_PUBLISHED) else "")
               for row in shown.itertuples()]
    body = shown[columns].map(format_cell).T
    body.columns = headers
    footnotes: dict[str, int] = {}

    def shorten(cell: str) -> str:
        if not cell.startswith("n/a (") or len(cell) <= 36:
            return cell
        number = footnotes.setdefault(cell, len(footnotes) + 1)
        return f"n/a [{number}]"

    body = body.map(shorten)
    notes = "".join(f"\n- [{number}] {reason.removeprefix('n/a (').removesuffix(')')}"
                    for reason, number in footnotes.items())
    return f"## {title}\n\n{body.to_markdown()}\n{notes}\n"


def markdown(params: Params, table: pd.DataFrame) -> str:
    parts = ["# Summary: FP vs optimized\n", machine_line(params) + "\n", "**Read this first:**\n", CAVEATS]
    for title, columns in SECTIONS.items():
        if title.startswith("Size"):
            columns = (*columns, *(c for c in table.columns if c.endswith("_compression")))
        parts.append(markdown_section(table, title, list(columns)))
    notes = "\n".join(f"- {row.variant} / {row.device} ({row.source}): {row.note}" for row in table.itertuples())
    parts.append(f"## Notes\n\n{notes}\n")
    return "\n".join(parts)
