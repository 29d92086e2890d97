"""The long-format tables behind the DVC plots: median latency per configuration, similarity per image."""

from __future__ import annotations

import pandas as pd

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.config.params import Params
from ov_diffusion_quant.reporting.summary import read_json, reported


def latency_table(params: Params) -> pd.DataFrame:
    rows = []
    for name, device, _ in reported(params):
        benchmark = read_json(paths.metrics(name, "benchmark.json", device))
        if benchmark is None:
            continue
        precisions = benchmark["env"].get("configurations", {})
        for configuration, measured in benchmark["configurations"].items():
            precision = precisions.get(configuration, {}).get("inference_precision", "")
            label = configuration if configuration.startswith("genai") or not precision \
                else f"{configuration} ({precision})"
            rows.append({"variant_device": f"{name}/{device}", "configuration": label,
                         "label": f"{name}/{device} {label}", "median_s": measured["latency_s"]["median"]})
    return pd.DataFrame(rows, columns=["variant_device", "configuration", "label", "median_s"])


def similarity_table(params: Params) -> pd.DataFrame:
    """Every evaluate_per_prompt.csv in one table, one labelled row per image (a bar in the plot).

    DVC's line and scatter templates put x on a quantitative scale, where prompt ids such as
    "val-001" do not plot; a bar per image with the id in its label does.
    """
    tables = []
    for name in params.enabled:
        for device in params.devices:
            path = paths.metrics(name, "evaluate_per_prompt.csv", device)
            if path.exists():
                table = pd.read_csv(path)
                table.insert(0, "variant_device", f"{name}/{device}")
                tables.append(table)
    columns = ["variant_device", "mode", "prompt_id", "seed", "label", "ssim", "psnr"]
    if not tables:
        return pd.DataFrame(columns=columns)
    table = pd.concat(tables, ignore_index=True)
    # the plot truncates long labels from the end: most distinguishing parts first
    table["label"] = table["prompt_id"] + " s" + table["seed"].astype(str) + " " + table["mode"] + " " + \
        table["variant_device"]
    return table[columns]
