"""Where each stage's outputs live; dvc.yaml uses the same layout."""

from __future__ import annotations

from pathlib import Path

MODELS = Path("models")
DATA = Path("data")
METRICS = Path("metrics")  # per-stage JSON metrics and per-prompt CSVs (git-tracked, DVC metrics/plots)
REPORTS = Path("reports")  # pictures and the cross-variant summary for people


SCENES = DATA / "scenes"  # the procedural data set of the trained reference model (stages.scenes)


def source_model(variant: str) -> Path:
    """What the source stage made ready for export: trained weights, or a record of the source."""
    return MODELS / variant / "source"


def fp_model(variant: str) -> Path:
    return MODELS / variant / "fp"


def optimized_model(variant: str, device: str) -> Path:
    return MODELS / variant / f"optimized-{device}"


def calibration_data(variant: str) -> Path:
    return DATA / "calibration" / variant


def metrics(variant: str, name: str, device: str | None = None) -> Path:
    return METRICS / variant / device / name if device else METRICS / variant / name


def report(variant: str, name: str, device: str) -> Path:
    return REPORTS / variant / device / name
