"""The quality gate's checks of one variant x device: its thresholds (params `variants.<v>.gate`) against evaluate
metrics. The gate stage runs them on evaluate.json; the recipe search on each candidate's validation metrics."""

from __future__ import annotations

from dataclasses import dataclass

from ov_diffusion_quant.config.specs import GateSpec

# threshold name in params -> metric name in evaluate.json
CHECKS = (("ssim_min", "ssim"), ("psnr_min", "psnr"), ("clip_sim_min", "clip_sim"))
MODES = ("text2image", "image2image")
PASS, FAIL, NOT_GATED = "pass", "FAIL", "not gated"


@dataclass
class Check:
    variant: str
    device: str
    mode: str
    metric: str
    threshold: float | None  # None: the variant is not gated
    value: float | None
    note: str = ""

    @property
    def status(self) -> str:
        if self.threshold is None:
            return NOT_GATED
        return PASS if self.value is not None and self.value >= self.threshold else FAIL

    @property
    def passed(self) -> bool:
        return self.status == PASS


def metric_checks(name: str, device: str, gate: GateSpec, metrics: dict, rerun_hint: str) -> list[Check]:
    """The checks of one variant x device on its evaluate metrics (evaluate.json, or a search candidate's)."""
    checks: list[Check] = []
    modes = [mode for mode in MODES if isinstance(metrics.get(mode), dict)]
    for threshold_name, metric in CHECKS:
        threshold = getattr(gate, threshold_name)
        if threshold is None:
            continue
        for mode in modes:
            summary = metrics[mode].get(metric)
            note = "" if summary else f"not measured: {metrics.get('clip_sim_skipped') or 'absent'}"
            checks.append(Check(name, device, mode, f"{metric} (min)", threshold,
                                summary["min"] if summary else None, note))
    if gate.adherence_drop_max is not None:  # judged variants: adherence may drop this much at most
        adherence = metrics.get("adherence")
        checks.append(Check(name, device, "text2image", "prompt adherence, optimized - FP",
                            -gate.adherence_drop_max, -adherence["drop"] if adherence else None,
                            f"mean attribute accuracy FP {adherence['fp']['attributes']:.3f}, "
                            f"optimized {adherence['optimized']['attributes']:.3f}"
                            if adherence else f"not measured: set variants.{name}.evaluate.judge"))
    if not checks:  # gated, yet nothing to compare: that is not a pass
        checks.append(Check(name, device, "-", "evaluate.json", 0.0, None,
                            f"no {' or '.join(MODES)} results: {rerun_hint}"))
    return checks


def failed_check(check: Check) -> str:
    """A failed check in one line, e.g. "text2image psnr (min) 14.2 < 15"."""
    value = check.value if check.value is None else round(check.value, 4)
    return f"{check.mode} {check.metric} {value} < {check.threshold:g}"
