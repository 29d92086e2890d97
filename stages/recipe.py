"""recipe stage: the recipe quantize applies, for one device: params' components, or the recipe search's choice.

    python -m stages.recipe <variant> <device>
        -> data/recipes/<variant>/<device>.json              what quantize applies (every knob spelled out)
        -> metrics/<variant>/<device>/recipe.json            the search: the choice and every candidate (DVC metrics)
        -> metrics/<variant>/<device>/recipe_candidates.csv  one row per candidate (DVC plots)

Without `variants.<v>.quantize.search` this only writes params' components. With it, every candidate is quantized,
rendered on the search's validation split and checked against the variant's gate (ov_diffusion_quant/orchestration/search.py);
the fastest that passes is chosen. The stage depends on the host facts, so the choice is cached per host class.
If no candidate passes, the table is written and the stage fails, naming the closest candidate.
"""

from __future__ import annotations

import time

import pandas as pd

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import UserError, argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.outputs import atomic_file, write_json
from ov_diffusion_quant.common.resources import peak_rss_mb
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.quantization.chosen import Chosen, chosen_json

# the columns of recipe_candidates.csv (the plot: INT8 share against adherence drop, per candidate)
CSV_COLUMNS = ("candidate", "passed", "int8_macs_share", "adherence_drop", "ssim_min_t2i", "psnr_min_t2i",
               "denoiser_ms", "total_seconds")


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("device")
    args = parser.parse_args(argv)

    # 1. Params' recipe, unless the variant searches
    params = load()
    variant = params.variant(args.variant)
    spec = variant.quantize.search
    if spec is None:
        chosen = Chosen(variant.quantize.components, None)
        write_outputs(variant.name, args.device, chosen, {"searched": False}, [])
        return

    # 2. The search (heavy imports only here)
    from ov_diffusion_quant.families import family_for
    from ov_diffusion_quant.orchestration.search import search
    from ov_diffusion_quant.runtime import host_facts
    from ov_diffusion_quant.runtime.devices import check_device

    device = check_device(args.device)
    family = family_for(variant)
    family.check_exported(paths.fp_model(variant.name))
    started, host = time.perf_counter(), host_facts.provenance()
    result = search(variant, device, family, params.evaluate.seeds)
    summary = {
        "searched": True, "objective": spec.objective, "validation_prompts": spec.prompts,
        "num_prompts": spec.num_prompts, "chosen": result.chosen.candidate if result.chosen else None,
        "closest": result.closest, "seconds": round(time.perf_counter() - started, 1), "peak_rss_mb": peak_rss_mb(),
        "candidates": result.rows, "host": host,
    }
    if result.chosen is None:
        write_json(paths.metrics(variant.name, "recipe.json", device), summary)
        where = f"{host['isa_class']} ({host['precision']})"
        table = paths.metrics(variant.name, "recipe.json", device)
        if result.closest is None:
            raise UserError(f"no candidate recipe of variants.{variant.name}.quantize.search can run on {where}: "
                            f"every one has INT8 sums that saturate there (add one with overflow_fix: enable and "
                            f"attention_scores in its ignored_scope, or a weight-only one, or one with overflow_fix "
                            f"and attention_overflow_fix: enable); the table is in {table}")
        closest = next(row for row in result.rows if row["candidate"] == result.closest)
        raise UserError(f"no candidate recipe of variants.{variant.name}.quantize.search passes the gate on "
                        f"{where}: the closest is {closest['candidate']} ({'; '.join(closest['failed_checks'])}); "
                        f"the table is in {table}")
    write_outputs(variant.name, device, result.chosen, summary, result.rows)


def write_outputs(variant: str, device: str, chosen: Chosen, summary: dict, rows: list[dict]) -> None:
    with atomic_file(paths.metrics(variant, "recipe_candidates.csv", device)) as tmp:
        table = pd.DataFrame([{column: row.get(column) for column in CSV_COLUMNS} for row in rows],
                             columns=list(CSV_COLUMNS))
        if table.empty:  # not searched: the one recipe, unmeasured
            table = pd.DataFrame([{"candidate": "params"}], columns=list(CSV_COLUMNS))
        table.to_csv(tmp, index=False)
    write_json(paths.metrics(variant, "recipe.json", device),
               {**summary, "recipes": {component: recipe.label() for component, recipe in chosen.components.items()}})
    write_json(paths.recipe(variant, device), chosen_json(variant, device, chosen, summary["searched"]))


if __name__ == "__main__":
    raise SystemExit(main())
