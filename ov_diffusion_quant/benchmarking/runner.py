"""The benchmark of one variant x device: every configuration in a fresh process, in rounds, pooled.

FP and optimized run back to back, and with ``benchmark.rounds`` > 1 every configuration runs again in
each round with the timed runs pooled (``round_medians_s`` shows the drift). Speedups are median ratios
from this same run. Numbers are metrics; strings (versions, precision in force, why GenAI did not run)
live under ``env``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ov_diffusion_quant.runtime import host_facts
from ov_diffusion_quant.benchmarking.configurations import CONFIGURATIONS, SPEEDUPS, peer_speedups, planned
from ov_diffusion_quant.benchmarking.environment import environment
from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.families import family_for
from ov_diffusion_quant.evaluation.prompts import validation_prompts
from ov_diffusion_quant.orchestration.inference import made_peers
from ov_diffusion_quant.config.params import Params, Variant
from ov_diffusion_quant.runtime.timing import OtherProcessesCpu, latency_summary, median, ratio

log = logging.getLogger(__name__)


def run_in_fresh_process(name: str, variant: str, device: str, prompts: list[dict], log_path: Path,
                         text_encoder_apart: bool = False) -> dict:
    """Measure one configuration in a new Python process; the prompts go in on stdin, its JSON comes out.

    The child's stderr (library warnings, NNCF/OpenVINO messages) is appended to ``log_path``; on failure
    its last lines are in the error.
    """
    command = [sys.executable, "-m", "stages.benchmark", "--one", name, variant, device] + (
        ["--text-encoder-apart"] if text_encoder_apart else [])
    with log_path.open("a") as child_log:
        child_log.write(f"\n=== {' '.join(command[1:])}\n")
        child_log.flush()
        start = child_log.tell()
        done = subprocess.run(command, input=json.dumps(prompts), stdout=subprocess.PIPE, stderr=child_log,
                              text=True)
    if done.returncode != 0:
        with log_path.open() as child_log:
            child_log.seek(start)
            lines = [line for line in child_log.read().splitlines() if line.strip()]
        if done.returncode == 2 and lines and lines[-1].startswith("error: "):
            raise UserError(lines[-1].removeprefix("error: "))
        log.debug("stderr of the %s process:\n%s", name, "\n".join(lines))
        raise RuntimeError(f"benchmark of {name} failed in its own process (exit {done.returncode}): "
                           f"{lines[-1] if lines else 'no output'} (its whole stderr is in {log_path})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def pooled(rounds: list[dict]) -> dict:
    """One configuration's metrics over several rounds: timed runs pooled, costs as medians, peak RSS the max."""
    if len(rounds) == 1:
        return rounds[0]
    seconds = [value for measured in rounds for value in measured["runs_s"]]
    merged = {key: median([measured[key] for measured in rounds])
              for key in ("load_seconds", "compile_seconds", "first_run_seconds") if key in rounds[0]}
    components = {key: median([measured["components_s"][key] for measured in rounds])
                  for key in rounds[0]["components_s"]}
    components["denoiser_steps"] = int(components["denoiser_steps"])
    return {**merged, "latency_s": latency_summary(seconds), "runs_s": seconds,
            "round_medians_s": [measured["latency_s"]["median"] for measured in rounds],
            "components_s": components, "peak_rss_mb": max(measured["peak_rss_mb"] for measured in rounds)}


def speedups(configurations: dict[str, dict]) -> dict[str, float]:
    result = {}
    peers = [name for name in configurations if CONFIGURATIONS[name].peer]
    for label, baseline, candidate in (*SPEEDUPS, *peer_speedups(peers)):
        if baseline in configurations and candidate in configurations:
            base, cand = configurations[baseline], configurations[candidate]
            result[label] = ratio(base["latency_s"]["median"], cand["latency_s"]["median"])
            result[f"denoiser_step_{label}"] = ratio(base["components_s"]["denoiser_per_step"],
                                                     cand["components_s"]["denoiser_per_step"])
    return {label: value for label, value in result.items() if value is not None}


def run_benchmark(params: Params, variant: Variant, device: str, apart: dict[str, str] | None = None) -> dict:
    """benchmark.json's content: every planned configuration, ``benchmark.rounds`` times, each in its own process.
    ``apart``: configuration -> why it runs its text encoder apart (``configurations.text_encoder_apart``)."""
    apart = apart or {}
    # loaded once here, not in every configuration's process (the `datasets` import alone takes ~1 s)
    prompts = validation_prompts(params.evaluate.prompts, params.benchmark.prompts)
    names, genai_status = planned(params.benchmark, family_for(variant), made_peers(variant.name, device))
    rounds = params.benchmark.rounds
    descriptor, log_name = tempfile.mkstemp(prefix=f"benchmark-{variant.name}-{device}-", suffix=".log")
    os.close(descriptor)
    log_path = Path(log_name)
    log.info("benchmark %s on %s: %d configurations x %d rounds, each in a fresh process; their stderr goes to %s",
             variant.name, device, len(names), rounds, log_path)
    by_round: dict[str, list[dict]] = {}
    env_by_configuration, skipped = {}, {}
    bar = tqdm(total=len(names) * rounds, desc=f"benchmark {variant.name}/{device}", unit="run", file=sys.stderr)
    with OtherProcessesCpu() as others, logging_redirect_tqdm(), bar:
        for round_index in range(rounds):
            for name in names:
                if name in skipped:
                    continue
                bar.set_postfix_str(f"round {round_index + 1}/{rounds} {name}")
                result = run_in_fresh_process(name, variant.name, device, prompts, log_path, name in apart)
                bar.update()
                if "skipped" in result:
                    skipped[name] = result["skipped"]
                    bar.total -= rounds - round_index - 1  # it will not run in the later rounds either
                    bar.refresh()
                    log.info("%s: skipped: %s", name, result["skipped"])
                    continue
                by_round.setdefault(name, []).append(result["metrics"])
                env_by_configuration[name] = {**result["env"], **({"text_encoder_apart_because": apart[name]}
                                                                  if name in apart else {})}
                measured = result["metrics"]
                log.info("round %d/%d %s: median %.4f s, load %.2f s, peak RSS %.0f MB, precision %s",
                         round_index + 1, rounds, name, measured["latency_s"]["median"], measured["load_seconds"],
                         measured["peak_rss_mb"], result["env"]["inference_precision"])
    configurations = {name: pooled(rounds) for name, rounds in by_round.items()}
    if others.share > 0.1:
        log.warning("other processes used %.0f%% of this machine's CPU during the benchmark: the timings are noisy",
                    100 * others.share)

    env = environment(device, {CONFIGURATIONS[name].runtime for name in names})
    env["other_processes_cpu_share"] = others.share
    env.update(genai="; ".join(dict.fromkeys(skipped.values())) or genai_status, configurations=env_by_configuration)
    return {"configurations": configurations, "speedup": speedups(configurations), "env": env,
            "host": host_facts.provenance()}
