"""What the benchmark measures: the configurations, the order they run in, the prompts they cycle through.

  fp               FP export, device's default precision (bf16 for FP16 IR on AMX CPUs)  benchmark.bf16_baseline
  fp_f32           FP export with INFERENCE_PRECISION_HINT=f32                          benchmark.f32_baseline
  optimized        quantized model, device's default precision
  genai_fp         FP export in OpenVINO GenAI's Text2ImagePipeline   benchmark.runtimes has genai, family supports_genai
  genai_optimized  quantized model in GenAI
  <peer>           optimum-intel's own quantization of the FP export (config/optimum_peers.py), in the optimum runtime
                                                                                       benchmark.peers
"""

from __future__ import annotations

from dataclasses import dataclass

from ov_diffusion_quant.config.params import BenchmarkParams
from ov_diffusion_quant.config.optimum_peers import PEERS
from ov_diffusion_quant.runtime.preflight import BASE_GB, MEMORY_FACTORS


@dataclass(frozen=True)
class Configuration:
    runtime: str  # "optimum" (this project's pipelines, ov_diffusion_quant.orchestration.inference) or "genai"
    optimized: bool
    f32: bool = False
    peer: str | None = None  # optimum-intel's quantization of that name (models/<v>/peers-<d>/<peer>)


CONFIGURATIONS = {
    "fp": Configuration("optimum", optimized=False),
    "fp_f32": Configuration("optimum", optimized=False, f32=True),
    "optimized": Configuration("optimum", optimized=True),
    "genai_fp": Configuration("genai", optimized=False),
    "genai_optimized": Configuration("genai", optimized=True),
    **{peer: Configuration("optimum", optimized=True, peer=peer) for peer in PEERS},
}
# (speedup name, baseline, candidate): median end-to-end and per-denoiser-step ratios
SPEEDUPS = (("optimized_vs_fp", "fp", "optimized"), ("optimized_vs_fp_f32", "fp_f32", "optimized"),
            ("genai_optimized_vs_genai_fp", "genai_fp", "genai_optimized"))


def peer_speedups(peers) -> tuple[tuple[str, str, str], ...]:
    return tuple((f"optimized_vs_{peer}", peer, "optimized") for peer in peers)


def planned(bench: BenchmarkParams, family, peers: list[str] = ()) -> tuple[list[str], str]:
    """The configurations to run (``peers``: the ones the peers stage made), and what happens with GenAI (a note
    for env)."""
    # FP, optimized and the peers back to back, so that a drift in the machine's speed affects their ratios least
    names = (["fp"] if bench.bf16_baseline else []) + ["optimized", *peers] + (["fp_f32"] if bench.f32_baseline else [])
    if "genai" not in bench.runtimes:
        return names, "GenAI not run: benchmark.runtimes has no genai"
    if not family.supports_genai:
        return names, f"GenAI not run: the {family.name} family does not run in it (ModelFamily.supports_genai)"
    return names + ["genai_fp", "genai_optimized"], "loaded"


F32_WEIGHTS_FACTOR = 2.0  # f32 weights compiled from an FP16 IR take twice its size


def text_encoder_apart(bench: BenchmarkParams, family, name: str, fp_gb: float, text_encoder_gb: float,
                       available_gb: float) -> str | None:
    """Why configuration ``name`` runs its text encoder apart (measure.measure_text_encoder_apart), or None.
    ``auto``: when the pre-flight's estimate of the whole f32 pipeline is more than the memory available."""
    configuration = CONFIGURATIONS[name]
    if configuration.runtime != "optimum" or not configuration.f32 or not family.encodes_apart:
        return None
    if bench.text_encoder_apart == "always":
        return "benchmark.text_encoder_apart is always"
    need = BASE_GB + MEMORY_FACTORS["benchmark"]["f32"] * fp_gb
    if bench.text_encoder_apart == "auto" and need > available_gb:
        return (f"benchmark.text_encoder_apart is auto and the whole pipeline in f32 would need about {need:.1f} GB "
                f"({BASE_GB:g} GB + {MEMORY_FACTORS['benchmark']['f32']:g} x its FP IR) with {available_gb:.1f} GB "
                f"available; the text encoder alone about {BASE_GB + F32_WEIGHTS_FACTOR * text_encoder_gb:.1f} GB")
    return None


def prompt_schedule(prompts: list[dict], count: int, first_seed: int, offset: int = 0) -> list[tuple[str, int]]:
    """(caption, seed) for ``count`` runs, cycling through the prompts with a seed per run."""
    return [(prompts[(offset + i) % len(prompts)]["caption"], first_seed + offset + i) for i in range(count)]
