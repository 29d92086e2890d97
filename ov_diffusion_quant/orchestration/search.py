"""The recipe search: the fastest candidate recipe whose optimized model passes the variant's gate on a validation
split, as units DVC caches on their own (stages fp_images, candidate, recipe).

The FP images of the validation captions are rendered once (:func:`render_fp_images`). Each candidate (a name from
params' `search.candidates`, in the variant's `quantize.search.candidates`) is quantized into a scratch copy of the
export, taking the shared statistics (stage statistics) where its recipe can, rendered on the validation captions
and checked with the gate's own checks (ov_diffusion_quant/evaluation/checks.py) on those metrics: one row
(:func:`run_candidate`). Speed is ranked by what a candidate leaves in INT8: the share of one text-to-image run's
multiply-accumulates that run as INT8 kernels, over every component and every call at the variant's size (the FP run
recorded by stage fp_images; the denoiser's own share is in the row too). At the reference model's 64 px latency is
mostly overhead: it is measured and recorded, not ranked on. `fastest_passing` (:func:`choose`) takes the passing
row with the largest share, the earlier one in the variant's list on a tie.

On a host class whose INT8 sums saturate (no VNNI: host_facts.SATURATING_INT8_CLASSES) a candidate whose quantized
model has INT8 ops that can saturate is skipped, not rendered: its row says which ops. Validation images cannot be
trusted to show that damage (on the reference model such a recipe passed validation and failed on a held-out
caption, docs/reference-model.md), and it is a property of the model on this class, known before any image.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.evaluation.prompts import validation_prompts
from ov_diffusion_quant.config.specs import Candidate, Variant
from ov_diffusion_quant.evaluation.checks import failed_check, metric_checks
from ov_diffusion_quant.evaluation.compare import Reference, adherence_fp_vs_optimized, aggregate, compare, render_reference
from ov_diffusion_quant.quantization import calibration_data
from ov_diffusion_quant.quantization.apply import (Validation, copy_export, keep_quantized, load_calibrations,
                                                   load_statistics, quantize_into)
from ov_diffusion_quant.quantization.recipes import own_pass_reason
from ov_diffusion_quant.quantization.ir_analysis import image_int8_share, int8_compute_share
from ov_diffusion_quant.runtime import host_facts
from ov_diffusion_quant.runtime.devices import compile_config, nncf_target_device
from ov_diffusion_quant.runtime.timing import StaticShapeModel

log = logging.getLogger(__name__)
LATENCY_RUNS = 10  # timed denoiser calls per candidate, after two untimed ones


def denoiser_latency_ms(model_dir: Path, family, device: str, sample: dict) -> float:
    """Median milliseconds of one denoiser call on a recorded input, compiled at its shapes with the pipeline's
    compile settings."""
    config = compile_config(extra=family.read_compile_config(model_dir).get(family.denoiser))
    return StaticShapeModel(model_dir / family.denoiser / "openvino_model.xml", sample, device, config,
                            warmup=2).median_ms(LATENCY_RUNS)


def _image_score(judge: bool):
    """Per-image score for accuracy control: the judge's attribute accuracy, or SSIM against the FP image."""
    from ov_diffusion_quant.evaluation.similarity import psnr_ssim

    if judge:
        return lambda reference, image: _attribute_accuracy(image, reference)
    return lambda reference, image: psnr_ssim(reference.text2image, image)[1]


def accuracy_control_validation(fp_dir: Path, family, device: str, generation, references: list[Reference],
                                judge: bool, max_drop: float | None, ranked_prompts: int) -> Validation:
    """NNCF's validation_fn for quantize_with_accuracy_control.

    The metric: the pipeline, with NNCF's compiled denoiser in place of its own, renders the validation captions and
    each image is scored (the judge's attribute accuracy, or SSIM against FP). The items NNCF ranks quantizer groups
    on are the FP denoiser's inputs on the first ``ranked_prompts`` captions: returning the model's outputs per item
    puts NNCF in its output mode, which ranks a group by how far reverting it brings the outputs back to FP (one
    denoiser call per item) instead of re-rendering images per group, and its full metric stays the pixels'."""
    from ov_diffusion_quant.runtime.recording import RecordingCompiledModel, hooked

    pipeline = family.load(fp_dir, device)
    items: list[dict] = []
    with hooked(pipeline, family.denoiser, lambda compiled: RecordingCompiledModel(compiled, items)):
        for reference in references[:ranked_prompts]:
            pipeline.text_to_image(reference.prompt["caption"], generation, reference.seed, output_type="latent")
    holder, attribute = pipeline.compiled_model_slots()[family.denoiser]
    score = _image_score(judge)

    def validate(compiled_denoiser, data) -> tuple[float, list]:
        original = getattr(holder, attribute)
        setattr(holder, attribute, compiled_denoiser)
        try:
            values = [score(reference, pipeline.text_to_image(reference.prompt["caption"], generation, reference.seed))
                      for reference in references]
        finally:
            setattr(holder, attribute, original)
        outputs = [list(compiled_denoiser(item).values()) for item in data]
        return float(np.mean(values)), outputs

    return Validation(validate, items, max_drop)


class CertainFailure:
    """The early stop of a candidate's rendering (``compare``'s ``stop``): True once the gate is certain to fail it
    whatever the captions still to render give. An image under an SSIM, PSNR or CLIP minimum decides its check (the
    check is on the minimum); the adherence check is decided once the FP adherence minus the best the optimized model
    can still reach (every remaining caption judged right) exceeds the allowed drop, rounded as the gate rounds it.
    A passing candidate renders every caption, so the choice is the one a full rendering makes."""

    def __init__(self, gate, references: list[Reference], judge: bool):
        from ov_diffusion_quant.evaluation.checks import CHECKS

        self.minimums = [(metric, getattr(gate, name)) for name, metric in CHECKS if getattr(gate, name) is not None]
        self.drop_max = gate.adherence_drop_max if judge else None
        self.references = references
        self.reason: str | None = None
        self.after = 0
        self._scores: list[float] = []
        self._rows_seen = 0
        if self.drop_max is not None:
            self.fp = float(np.mean([_attribute_accuracy(r.text2image, r) for r in references]))

    def best_adherence(self) -> float:
        """The best optimized adherence still reachable: the rendered images' scores, every other caption right."""
        return (sum(self._scores) + len(self.references) - len(self._scores)) / len(self.references)

    def __call__(self, rows: list[dict], images: list) -> bool:
        from ov_diffusion_quant.evaluation.similarity import summary

        self.after = len(images)
        reference = self.references[len(images) - 1]
        new_rows, self._rows_seen = rows[self._rows_seen:], len(rows)  # the rows of the last reference
        for row in new_rows:
            for metric, threshold in self.minimums:
                value = row[metric] if row[metric] is None else summary([row[metric]])["min"]
                if value is not None and value < threshold:
                    self.reason = f"{row['mode']} {metric} (min) {value} < {threshold:g} on caption {row['prompt_id']}"
                    return True
        if self.drop_max is not None:
            self._scores.append(_attribute_accuracy(images[-1], reference))
            bound = round(self.fp - self.best_adherence(), 4)
            if bound > self.drop_max:
                left = len(self.references) - len(images)
                self.reason = (f"prompt adherence drop {bound} > {self.drop_max:g}" if not left else
                               f"prompt adherence drop at least {bound} > {self.drop_max:g} whatever the other "
                               f"{left} captions give")
                return True
        return False

    def adherence(self) -> dict:
        """The adherence entry of a stopped candidate's metrics: FP's over every caption, the optimized model's as the
        best it could still reach (so the gate's check says what is certain)."""
        best = self.best_adherence()
        return {"fp": {"attributes": round(self.fp, 4)}, "optimized": {"attributes": round(best, 4)},
                "score": "attributes", "drop": round(self.fp - best, 4), "bound": "optimized at best"}


def _attribute_accuracy(image, reference: Reference) -> float:
    from ov_diffusion_quant.reference.judge import judge_image

    correct = judge_image(image, reference.prompt["caption"])["correct"]
    return sum(correct.values()) / len(correct)


def _row(candidate: Candidate, done, checks, metrics: dict, share: dict, latency_ms: float, seconds: dict) -> dict:
    adherence = metrics.get("adherence") or {}

    def minimum(mode, metric):
        return metrics.get(mode, {}).get(metric, {}).get("min")

    failed = [failed_check(c) for c in checks if not c.passed]
    return {
        "candidate": candidate.name,
        "recipes": {component: recipe.label() for component, recipe in done.recipes.items()},
        "passed": not failed,
        "failed_checks": failed,
        # the worst check's distance to its threshold, relative to the threshold (how "closest" compares rows)
        "margin": round(min((c.value - c.threshold) / abs(c.threshold or 1.0) if c.value is not None else -10.0
                            for c in checks), 4),
        "adherence_fp": adherence.get("fp", {}).get("attributes"),
        "adherence_optimized": adherence.get("optimized", {}).get("attributes"),
        "adherence_drop": adherence.get("drop"),
        "ssim_min_t2i": minimum("text2image", "ssim"), "psnr_min_t2i": minimum("text2image", "psnr"),
        "ssim_min_i2i": minimum("image2image", "ssim"), "psnr_min_i2i": minimum("image2image", "psnr"),
        **share,
        "denoiser_ms": latency_ms,
        "statistics": statistics_reuse(done),
        **{f"{phase}_seconds": round(value, 1) for phase, value in seconds.items()},
        "details": done.components,
    }


def _skipped_row(candidate: Candidate, done, isa: str, saturating: dict[str, int], seconds: dict) -> dict:
    causes = ", ".join(f"{count} {cause}" for cause, count in saturating.items())
    return {
        "candidate": candidate.name,
        "recipes": {component: recipe.label() for component, recipe in done.recipes.items()},
        "passed": False,
        "failed_checks": [f"skipped: its INT8 sums saturate on {isa} (no VNNI): {causes}"],
        "skipped": True, "margin": None, "stopped_early": None,
        **{key: None for key in ("adherence_fp", "adherence_optimized", "adherence_drop", "ssim_min_t2i",
                                 "psnr_min_t2i", "ssim_min_i2i", "psnr_min_i2i", "int8_macs_share", "gmacs",
                                 "image_int8_macs_share", "image_gmacs",
                                 "denoiser_ms")},
        "statistics": statistics_reuse(done),
        **{f"{phase}_seconds": round(value, 1) for phase, value in seconds.items()},
        "validation_seconds": 0.0, "total_seconds": round(sum(seconds.values()), 1),
        "details": done.components,
    }


def render_fp_images(variant: Variant, device: str, family, seeds: list[int]) -> tuple[list[Reference], dict]:
    """The FP pipeline's images of the search's validation captions (text-to-image, and image-to-image where the
    family has it): rendered once per variant and host class, compared against every candidate's; and what its first
    text-to-image run called (recording.call_shapes), which every candidate's INT8 share of the image is counted on."""
    spec = variant.quantize.search
    fp = family.load(paths.fp_model(variant.name), device)
    image_calls: dict = {}
    references = render_reference(fp, validation_prompts(spec.prompts, spec.num_prompts), variant.generation, seeds,
                                  family.supports_img2img, desc="FP images (validation split)", image_calls=image_calls)
    return references, image_calls


def run_candidate(variant: Variant, device: str, family, candidate: Candidate, references: list[Reference],
                  seeds: list[int], clip=None, keep: Path | None = None, image_calls: dict | None = None
                  ) -> tuple[dict, dict]:
    """Quantize one candidate into a scratch copy of the export, measure it, render it, check it: its row of the
    search's table, and the recipes to record should it be chosen (accuracy_control's as int8 with what it
    reverted). ``clip``: the scorer of the gate's CLIP-similarity minimum, where it has one. ``keep``: where a
    passing candidate's quantized components go (apply.keep_quantized). ``image_calls``: what an FP text-to-image
    run calls (render_fp_images), for the INT8 share of the whole image the search ranks by."""
    fp_dir = paths.fp_model(variant.name)
    calibrated = {component: recipe for component, recipe in candidate.components.items()
                  if recipe.definition.needs_calibration}
    calibrations = load_calibrations(variant.name, family, calibrated, paths.calibration_data(variant.name))
    statistics = load_statistics(paths.statistics(variant.name, device), calibrated)
    denoiser_dir = paths.calibration_data(variant.name)
    if calibrations.get(family.denoiser) is not None:  # already read for the recipe
        sample = calibrations[family.denoiser][0][0]
    else:
        sample = calibration_data.load(denoiser_dir)[0][0] if denoiser_dir.is_dir() else None
    judge = variant.evaluate.judge is not None
    isa = host_facts.isa_class()

    started = time.perf_counter()
    validation = None
    if any(recipe.definition.needs_validation for recipe in candidate.components.values()):
        first_seed = [r for r in references if r.seed == seeds[0] + r.index]
        ranked = max(r.knobs.get("ranking_prompts", 0) for r in candidate.components.values())
        validation = accuracy_control_validation(fp_dir, family, device, variant.generation, first_seed, judge,
                                                 variant.gate.adherence_drop_max, ranked)
    with tempfile.TemporaryDirectory(prefix=".search-", dir=fp_dir.parent) as scratch:
        scratch = Path(scratch)
        copy_export(fp_dir, scratch, link=True)
        done = quantize_into(scratch, fp_dir, family, candidate.components, calibrations,
                             nncf_target_device(device), variant.quantize.large_model_patches,
                             f"variants.{variant.name}.quantize.large_model_patches", validation, statistics)
        quantized_at = time.perf_counter()
        seconds = _phase_seconds(done, quantized_at - started)
        saturating = done.saturating if host_facts.int8_sums_saturate(isa) else {}
        if saturating:
            row = _skipped_row(candidate, done, isa, saturating, seconds)
            log.info("%s: %s", candidate.name, row["failed_checks"][0])
            return row, done.recipes
        share: dict[str, Any] = {}
        latency_ms = None
        if sample is not None:
            import openvino as ov

            share = int8_compute_share(ov.Core().read_model(scratch / family.denoiser / "openvino_model.xml"),
                                       sample)
            latency_ms = denoiser_latency_ms(scratch, family, device, sample)
        if image_calls:
            share.update(image_int8_share(scratch, image_calls))
        pipeline = family.load(scratch, device)
        stop = CertainFailure(variant.gate, references, judge) if variant.quantize.search.stop_early else None
        table, images = compare(pipeline, references, variant.generation, clip, desc=f"{candidate.name} images",
                                stop=stop)
        del pipeline
        metrics = aggregate(table, None if clip else "the variant's gate has no clip_sim_min")
        stopped = stop is not None and stop.reason is not None
        if judge:
            metrics["adherence"] = stop.adherence() if stopped else adherence_fp_vs_optimized(references, images)
        checks = metric_checks(variant.name, device, variant.gate, metrics, "the candidate rendered nothing")
        seconds["validation"] = time.perf_counter() - quantized_at
        seconds["total"] = time.perf_counter() - started
        row = _row(candidate, done, checks, metrics, share, latency_ms, seconds)
        # stopped: its minimums are over the images rendered, its adherence drop is the least it can be
        row["stopped_early"] = ({"after": stop.after, "of": len(references), "because": stop.reason}
                                if stopped else None)
        if row["passed"] and keep is not None:  # the model quantize takes should the recipe stage choose it
            keep_quantized(scratch, done, keep)
    row["total_seconds"] = round(time.perf_counter() - started, 1)  # keeping the model included
    log.info("%s: %s, INT8 share of the image %s, adherence drop %s%s", candidate.name,
             "pass" if row["passed"] else "FAIL", row.get("image_int8_macs_share"), row["adherence_drop"],
             "" if row["passed"] else f" ({'; '.join(row['failed_checks'])})")
    return row, done.recipes


def _phase_seconds(done, quantize_seconds: float) -> dict[str, float]:
    """Seconds in statistics passes (0 where they were shared) and in the rest of quantization."""
    statistics = sum(details.get("phase_seconds", {}).get("statistics", 0.0) for details in done.components.values())
    return {"statistics": statistics, "quantize": quantize_seconds - statistics}


def statistics_reuse(done) -> dict[str, str]:
    """Per component: whether its statistics came from the shared collection, or why it made its own passes."""
    reuse = {}
    for component, recipe in done.recipes.items():
        details = done.components[component]
        if "statistics_passes" not in details:
            continue  # weight-only: no statistics
        reason = own_pass_reason(recipe)
        reuse[component] = ("shared" if details.get("statistics") == "shared" else
                            f"own passes ({details['statistics_passes']}): {reason or 'no shared statistics'}")
    return reuse
