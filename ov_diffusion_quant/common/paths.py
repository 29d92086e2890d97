"""Where each stage's outputs live; dvc.yaml uses the same layout."""

from __future__ import annotations

from pathlib import Path

MODELS = Path("models")
DATA = Path("data")
METRICS = Path("metrics")  # per-stage JSON metrics and per-prompt CSVs (git-tracked, DVC metrics/plots)
REPORTS = Path("reports")  # pictures and the cross-variant summary for people


SCENES = DATA / "scenes"  # the procedural data set of the trained reference model (stages.scenes)
# trained reference models committed to git (scripts/snapshot_reference.py): quantized and gated without training
REFERENCE_MODELS = DATA / "reference-models"


def source_model(variant: str) -> Path:
    """What the source stage made ready for export: trained weights, or a record of the source."""
    return MODELS / variant / "source"


def fp_model(variant: str) -> Path:
    return MODELS / variant / "fp"


def optimized_model(variant: str, device: str) -> Path:
    return MODELS / variant / f"optimized-{device}"


def peers(variant: str, device: str) -> Path:
    """optimum-intel's own quantizations of the FP export (params benchmark.peers), one directory each, and
    peers.json (what each is, or why there are none)."""
    return MODELS / variant / f"peers-{device}"


def peer_model(variant: str, device: str, peer: str) -> Path:
    return peers(variant, device) / peer


def peers_record(variant: str, device: str) -> Path:
    return peers(variant, device) / "peers.json"


def quantization_record(variant: str, device: str) -> Path:
    """What quantize applied, beside the model it made: {"recipes": {component: label}, ...}."""
    return optimized_model(variant, device) / "quantization.json"


def calibration_data(variant: str) -> Path:
    return DATA / "calibration" / variant


def recipe(variant: str, device: str) -> Path:
    """The recipe quantize applies: params' components, or what the recipe search chose on this host."""
    return DATA / "recipes" / variant / f"{device}.json"


SEARCH = DATA / "search"  # the recipe search's cached units; the recipe stage reads the whole directory


def statistics(variant: str, device: str) -> Path:
    """NNCF's statistics over the calibration set, collected once for every recipe that can share them."""
    return DATA / "statistics" / variant / device


def statistics_record(variant: str, device: str) -> Path:
    """How the statistics were collected (passes, seconds, memory): a cached output beside them, not a git-tracked
    metric, so that DVC's run-cache carries the stage to other machines (it skips stages with `cache: false` outputs)."""
    return DATA / "statistics" / variant / f"{device}.json"


def fp_images_record(variant: str, device: str) -> Path:
    """How long the FP images took (cached, as statistics_record)."""
    return SEARCH / variant / device / "fp_images.json"


def fp_images(variant: str, device: str) -> Path:
    """The FP images of the search's validation captions, rendered once."""
    return SEARCH / variant / device / "fp_images"


def image_calls(variant: str, device: str) -> Path:
    """What one FP text-to-image run at the variant's size calls: every component's calls and input shapes, over which
    the search counts a candidate's INT8 share of the whole image."""
    return fp_images(variant, device) / "image_calls.json"


def candidate_row(variant: str, device: str, candidate: str) -> Path:
    """One candidate of the recipe search, measured: its row of the search's table."""
    return SEARCH / variant / device / "candidates" / f"{candidate}.json"


def candidate_model(variant: str, device: str, candidate: str) -> Path:
    """A passing candidate's quantized components, for quantize should it be chosen (empty: it did not pass)."""
    return SEARCH / variant / device / "models" / candidate


def chosen_model(variant: str, device: str) -> Path:
    """The chosen candidate's quantized components, which quantize takes as they are (empty: not searched)."""
    return DATA / "recipes" / variant / f"{device}-model"


def metrics(variant: str, name: str, device: str | None = None) -> Path:
    return METRICS / variant / device / name if device else METRICS / variant / name


def report(variant: str, name: str, device: str) -> Path:
    return REPORTS / variant / device / name


def stage_that_makes(path: Path | str) -> str | None:
    """The DVC stage whose output holds ``path`` (the layout above read backwards), e.g.
    models/v/fp/unet/openvino_model.bin -> export@v; None for a path outside the layout."""
    path = Path(path)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            return None
    parts = path.parts
    if len(parts) >= 3 and parts[0] == MODELS.name:
        if parts[2] == "fp":
            return f"export@{parts[1]}"
        if parts[2].startswith("optimized-"):
            return f"quantize@{parts[1]}-{parts[2].removeprefix('optimized-')}"
        if parts[2].startswith("peers-"):
            return f"peers@{parts[1]}-{parts[2].removeprefix('peers-')}"
    if len(parts) >= 3 and parts[:2] == DATA.joinpath("calibration").parts:
        return f"calibrate@{parts[2]}"
    if len(parts) == 4 and parts[:2] == DATA.joinpath("recipes").parts:
        return f"recipe@{parts[2]}-{Path(parts[3]).stem}"
    if len(parts) >= 4 and parts[:2] == DATA.joinpath("statistics").parts:
        return f"statistics@{parts[2]}-{Path(parts[3]).stem}"
    if len(parts) >= 5 and parts[:2] == SEARCH.parts and parts[4] in ("fp_images", "fp_images.json"):
        return f"fp_images@{parts[2]}-{parts[3]}"
    if len(parts) == 6 and parts[:2] == SEARCH.parts and parts[4] == "candidates":
        return f"candidate@{parts[2]}-{parts[3]}-{Path(parts[5]).stem}"
    if len(parts) in (3, 4) and parts[0] == METRICS.name:  # metrics/v/export.json, metrics/v/d/evaluate_per_prompt.csv
        stage = Path(parts[-1]).stem.split("_")[0]
        return f"{stage}@{parts[1]}" if len(parts) == 3 else f"{stage}@{parts[1]}-{parts[2]}"
    return None


def remake_hint(path: Path | str) -> str:
    """What to run to make ``path`` again."""
    stage = stage_that_makes(path)
    return f"re-run `dvc repro -f {stage}`" if stage else "make it again with the command that wrote it"
