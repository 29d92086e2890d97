"""Where does nncf.quantize's memory go? RSS over time, labelled by the NNCF phase running.

    python scripts/nncf_memory_probe.py <variant> [--component unet] [--recipe int8] [--large-model-path auto|on|off]
        [--subset N] [--smooth-quant-alpha A]

Reads the exported IR and the recorded calibration data of <variant>, runs the recipe from
ov_diffusion_quant/quantization/recipes.py (with or without the large-model path of ov_diffusion_quant/quantization/nncf_patches.py),
and prints the peak RSS of each phase (statistics-model compile, statistics
collection, each algorithm's apply, FastBiasCorrection's sub-models, saving). Not a stage: a measuring tool.
"""

from __future__ import annotations

import functools
import threading
import time
from pathlib import Path

from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors

PHASES: list[list] = []  # [label, start, peak_rss_gb]
_current = ["start"]


def rss_gb(field: str = "RssAnon:") -> float:
    """Anonymous RSS (what can run the machine out of memory; mmap'd IR pages are file-backed)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 2**20
    return 0.0


def sampler(stop: threading.Event) -> None:
    last_report = 0.0
    while not stop.is_set():
        value = rss_gb()
        if PHASES:
            PHASES[-1][2] = max(PHASES[-1][2], value)
            if time.perf_counter() - last_report > 15:
                last_report = time.perf_counter()
                print(f"  ... {PHASES[-1][0]}: anon {value:.2f} GB, file-backed {rss_gb('RssFile:'):.2f} GB",
                      flush=True)
        time.sleep(0.2)


def enter(label: str) -> None:
    PHASES.append([label, time.perf_counter(), rss_gb()])
    print(f"[{time.strftime('%H:%M:%S')}] {label}: anon rss {rss_gb():.2f} GB", flush=True)


def labelled(owner, name: str, label: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        previous = PHASES[-1][0] if PHASES else "?"
        enter(label)
        try:
            return original(*args, **kwargs)
        finally:
            enter(f"{previous} (after {label})")

    setattr(owner, name, wrapper)


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("--component", default=None)
    parser.add_argument("--recipe", default=None)
    parser.add_argument("--large-model-path", default=None, choices=["auto", "on", "off"],
                        help="override variants.<variant>.quantize.large_model_patches")
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--save", default=None, help="save the quantized IR here")
    args = parser.parse_args(argv)

    import nncf
    import openvino as ov
    from nncf.common.tensor_statistics.aggregator import StatisticsAggregator
    from nncf.openvino import engine as nncf_engine

    from ov_diffusion_quant.quantization import calibration_data
    from ov_diffusion_quant.common import paths
    from ov_diffusion_quant.families import get_family
    from ov_diffusion_quant.config.params import load
    from ov_diffusion_quant.quantization import recipes
    from ov_diffusion_quant.quantization.apply import quantize_model

    stop = threading.Event()
    threading.Thread(target=sampler, args=(stop,), daemon=True).start()
    enter("imports")
    variant = load().variant(args.variant)
    family = get_family(variant.model.family)
    component = args.component or family.denoiser
    recipe = recipes.parse_component(args.recipe, "--recipe") if args.recipe else variant.quantize.components[component]
    calibration, _ = calibration_data.load(paths.calibration_data(variant.name))
    calibration = calibration[: args.subset or len(calibration)]
    enter("read_model")
    model = ov.Core().read_model(paths.fp_model(variant.name) / component / "openvino_model.xml")

    original_init = nncf_engine.OVNativeEngine.__init__

    def engine_init(self, ov_model, use_fp32_precision=True):
        enter(f"compile statistics/engine model ({len(ov_model.outputs)} outputs, {len(ov_model.get_ops())} ops)")
        original_init(self, ov_model, use_fp32_precision)
        enter("engine compiled")

    nncf_engine.OVNativeEngine.__init__ = engine_init
    labelled(StatisticsAggregator, "collect_statistics", "collect_statistics")  # per chunk, when chunked
    from nncf.quantization.algorithms.smooth_quant.algorithm import SmoothQuant
    from nncf.quantization.algorithms.min_max.algorithm import MinMaxQuantization
    from nncf.quantization.algorithms.fast_bias_correction.algorithm import FastBiasCorrection

    for cls in (SmoothQuant, MinMaxQuantization, FastBiasCorrection):
        labelled(cls, "apply", f"{cls.__name__}.apply")
    enter("nncf")
    started = time.perf_counter()
    switch = args.large_model_patches or variant.quantize.large_model_patches
    result = quantize_model(recipe, model, family, component, calibration,
                            nncf.TargetDevice.CPU, switch)
    seconds = time.perf_counter() - started
    enter("done")
    if args.save:
        enter("save")
        ov.save_model(result.model, args.save, compress_to_fp16=True)
        enter("saved")
    stop.set()
    print(f"\n{recipe.label()} of {component}, {len(calibration)} samples, large-model path {result.details.get('large_model_patches')}: "
          f"{seconds:.1f} s")
    for label, start, peak in PHASES:
        print(f"  {start - PHASES[0][1]:7.1f} s  peak anon {peak:6.2f} GB  {label}")
    import resource
    print(f"peak RSS (ru_maxrss) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB")


if __name__ == "__main__":
    raise SystemExit(main())
