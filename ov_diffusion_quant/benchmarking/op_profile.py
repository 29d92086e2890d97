"""Where an image's time goes, FP vs optimized, and the most INT8 can give on this CPU: `ovdq profile`.

Every component of models/<variant>/fp and optimized-<device> is compiled at static shapes (the denoiser's from its
first calibration sample, the others from the variant's size) and run a few times with OpenVINO's PERF_COUNT on
(runtime.timing.StaticShapeModel); the per-node times are summed into four groups: matrix multiplications
(FullyConnected/MatMul), convolutions, attention (the fused scaled-dot-product subgraphs) and everything else (norms,
element-wise, layout). The "INT8 ceiling" of a component assumes its matrix multiplications, convolutions and
attention run as much faster in INT8 as this CPU runs the component's own heaviest shapes of each kind (kernel_rates:
one node at a time, FP vs NNCF-quantized; a kind that runs slower in INT8 counts as left in FP), and everything else
as fast as in FP; the measured INT8 model shows how close it gets. The table also shows which share of each group's
time ran in INT8 kernels (the kernel names the precision it ran in).
"""

from __future__ import annotations

import collections
import logging

import numpy as np
import openvino as ov

from ov_diffusion_quant.benchmarking.kernel_rates import KINDS, int8_rates, runtime_groups
from ov_diffusion_quant.common import paths
from ov_diffusion_quant.config.specs import Variant
from ov_diffusion_quant.families import family_for
from ov_diffusion_quant.quantization import calibration_data
from ov_diffusion_quant.runtime.host_facts import cpu_model, host_label
from ov_diffusion_quant.runtime.timing import StaticShapeModel

log = logging.getLogger(__name__)
GROUPS = ("matmul", "convolution", "attention", "other")


def example_inputs(variant: Variant, family, component: str, model: ov.Model) -> dict[str, np.ndarray]:
    """Inputs with the shapes a text-to-image run at the variant's size feeds the component."""
    if component == family.denoiser:
        return calibration_data.load(paths.calibration_data(variant.name))[0][0]
    latent = (variant.generation.height // 8, variant.generation.width // 8)
    rng = np.random.default_rng(0)
    inputs = {}
    for port in model.inputs:
        name = port.get_any_name()
        if name in ("input_ids", "attention_mask"):
            inputs[name] = np.ones((1, family.prompt_length(variant.model)), np.int64)
        else:  # latents of a VAE decoder
            inputs[name] = rng.standard_normal((1, 4, *latent)).astype(np.float32)
    return inputs


def profile(core: ov.Core, model: ov.Model, inputs: dict, runs: int) -> dict:
    """One component's median call and its PERF_COUNT time per group, with the share that ran in INT8 kernels."""
    timed = StaticShapeModel(model, inputs, "CPU", {"PERF_COUNT": True}, core=core)
    group_by_name = runtime_groups(timed.compiled)
    median_s = float(np.median(timed.seconds(runs)))
    groups, in_int8 = collections.Counter(), collections.Counter()
    for info in timed.request.profiling_info:
        seconds, group = info.real_time.total_seconds(), group_by_name.get(info.node_name, "other")
        groups[group] += seconds
        # the kernel the plugin chose names the precision it ran in, e.g. brgemm_avx512_I8, jit_avx512_BF16
        if info.exec_type.upper().endswith(("_I8", "_U8")):
            in_int8[group] += seconds
    return {"median_s": median_s, "precision": timed.precision, **{group: groups[group] for group in GROUPS},
            "int8_share": {group: in_int8[group] / groups[group] for group in GROUPS if groups[group]}}


def op_profile(variant: Variant, device: str = "CPU", runs: int = 3) -> str:
    """The profile of a variant's FP and optimized models as markdown: a row per component and model, then the
    per-image totals against the INT8 ceiling."""
    family = family_for(variant)
    core = ov.Core()
    lines = [f"### {variant.name}: static shapes, {variant.generation.height}x{variant.generation.width}, "
             f"one call per component, seconds (median of {runs}; groups from PERF_COUNT); "
             f"{cpu_model()}, host class `{host_label()}`\n",
             "| component | model | precision | median | matmul | convolution | attention | other | "
             "time in INT8 kernels: matmul / conv / attention | INT8 rate matmul / conv / attention | INT8 ceiling | "
             "measured speedup | of the ceiling |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    totals = {"fp": 0.0, "optimized": 0.0, "fp_at_ceiling": 0.0}
    for component in family.components:
        fp_xml = paths.fp_model(variant.name) / component / "openvino_model.xml"
        if component == "vae_encoder" or not fp_xml.exists():
            continue
        fp_model = core.read_model(fp_xml)
        inputs = example_inputs(variant, family, component, fp_model)
        fp = profile(core, fp_model, inputs, runs)
        opt_xml = paths.optimized_model(variant.name, device) / component / "openvino_model.xml"
        opt = profile(core, core.read_model(opt_xml), inputs, runs)
        rates = {kind: rate["ratio"] for kind, rate in int8_rates(core, fp_model, {}).items()}
        profiled = sum(fp[group] for group in GROUPS)
        scale = fp["median_s"] / profiled if profiled else 1.0  # PERF_COUNT sums differ a little from wall time
        # a kind this CPU runs slower in INT8 is at best left in FP
        ceiling = fp["median_s"] / (scale * (sum(fp[kind] / max(rates.get(kind, 1.0), 1.0) for kind in KINDS)
                                             + fp["other"]))
        calls = variant.generation.steps if component == family.denoiser else 1
        totals["fp"] += calls * fp["median_s"]
        totals["optimized"] += calls * opt["median_s"]
        totals["fp_at_ceiling"] += calls * fp["median_s"] / ceiling
        for label, row in (("fp", fp), ("optimized", opt)):
            cells = " | ".join(f"{row[group]:.3f}" for group in GROUPS)
            rate_cells = " / ".join(f"{rates[kind]:.2f}x" if kind in rates else "-" for kind in KINDS)
            shares = " / ".join(f"{row['int8_share'][group]:.0%}" if group in row["int8_share"] else "-"
                                for group in KINDS)
            speedup = fp["median_s"] / opt["median_s"]
            tail = (f"{shares} | {rate_cells} | {ceiling:.2f}x | {speedup:.2f}x | {speedup / ceiling:.0%}"
                    if label == "optimized" else " | | | | ")
            lines.append(f"| {component} | {label} | {row['precision']} | {row['median_s']:.3f} | {cells} | {tail} |")
        log.info("%s: FP %.3f s, optimized %.3f s per call", component, fp["median_s"], opt["median_s"])
    lines.append(f"\nPer image ({family.denoiser} x {variant.generation.steps} steps, other components once; "
                 f"pipeline overhead excluded): FP {totals['fp']:.3f} s, optimized {totals['optimized']:.3f} s = "
                 f"**{totals['fp'] / totals['optimized']:.2f}x**, "
                 f"{totals['fp_at_ceiling'] / totals['optimized']:.0%} of the INT8 ceiling (matmuls, convolutions and "
                 f"attention at this CPU's measured INT8 rates, the rest unchanged) "
                 f"**{totals['fp'] / totals['fp_at_ceiling']:.2f}x**.")
    return "\n".join(lines) + "\n"
