"""Where each stage's outputs live; dvc.yaml uses the same layout."""

from __future__ import annotations

from pathlib import Path

MODELS = Path("models")
DATA = Path("data")
REPORTS = Path("reports")


def fp_model(variant: str) -> Path:
    return MODELS / variant / "fp"


def optimized_model(variant: str, device: str) -> Path:
    return MODELS / variant / f"optimized-{device}"


def calibration_data(variant: str) -> Path:
    return DATA / "calibration" / variant


def report(variant: str, name: str, device: str | None = None) -> Path:
    return REPORTS / variant / device / name if device else REPORTS / variant / name
