"""recipe stage: the recipe quantize applies, for one device: params' components, or the recipe search's choice.

    python -m stages.recipe <variant> <device>
        -> data/recipes/<variant>/<device>.json              what quantize applies (every knob spelled out)
        -> data/recipes/<variant>/<device>-model/            the chosen candidate's quantized components (empty:
                                                              not searched), which quantize takes as they are
        -> metrics/<variant>/<device>/recipe.json            the search: the choice and every candidate (DVC metrics)
        -> metrics/<variant>/<device>/recipe_candidates.csv  one row per candidate (DVC plots)

For a variant outside search.variants this writes params' components. For one in it, this reads the rows the
candidate stages wrote (data/search/<variant>/<device>/candidates/, each cached on its own) and chooses the fastest
that passes the variant's gate on the validation split (ov_diffusion_quant/orchestration/search.py), without
quantizing anything. The rows depend on the host facts, so the choice is per host class. If no candidate passes,
the table is written and the stage fails, naming the closest candidate.
"""

from __future__ import annotations

import shutil

import pandas as pd

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import UserError, argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.outputs import atomic_dir, atomic_file, link_or_copy, write_json
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.quantization.chosen import Chosen, chosen_json, choose, closest

# the columns of recipe_candidates.csv (the plot: INT8 share of the image against adherence drop, per candidate)
CSV_COLUMNS = ("candidate", "passed", "image_int8_macs_share", "int8_macs_share", "adherence_drop", "ssim_min_t2i",
               "psnr_min_t2i", "denoiser_ms", "statistics", "statistics_seconds", "quantize_seconds",
               "validation_seconds", "total_seconds", "stopped_early")


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
    if not params.searches(variant.name):
        chosen = Chosen(variant.quantize.components, None)
        write_outputs(variant.name, args.device, chosen, {"searched": False}, [])
        return

    # 2. The search's rows, one per candidate, and the choice
    from ov_diffusion_quant.common.artifacts import read_json
    from ov_diffusion_quant.config.recipes import parse_component
    from ov_diffusion_quant.runtime import host_facts

    device = args.device
    rows = []
    for candidate in spec.candidates:
        path = paths.candidate_row(variant.name, device, candidate.name)
        if not path.exists():
            raise UserError(f"{path} does not exist yet: run `dvc repro candidate@{variant.name}-{device}-"
                            f"{candidate.name}` (or pull it from a remote's run-cache)")
        rows.append(read_json(path))
    host = host_facts.provenance()
    elsewhere = sorted({row["candidate"] for row in rows if row["host"]["isa_class"] != host["isa_class"]
                        or row["host"]["precision"] != host["precision"]})
    if elsewhere:
        raise UserError(f"candidate rows {', '.join(elsewhere)} of {variant.name} were measured on another host class "
                        f"than this {host['isa_class']} ({host['precision']}): re-run their candidate stages here")
    best = choose(rows)
    setup = {name: read_json(path)["seconds"] if path.exists() else None for name, path in (
        ("statistics", paths.statistics_record(variant.name, device)),
        ("fp_images", paths.fp_images_record(variant.name, device)))}
    summary = {
        "searched": True, "objective": spec.objective, "validation_prompts": spec.prompts,
        "num_prompts": spec.num_prompts, "chosen": rows[best]["candidate"] if best is not None else None,
        "closest": closest(rows) if best is None else None,
        # the search's wall time: the shared statistics passes, the FP images and every candidate
        "seconds": round(sum(row["seconds"] for row in rows)
                         + sum(seconds for seconds in setup.values() if seconds is not None), 1),
        "statistics_seconds": setup["statistics"],
        "fp_images_seconds": setup["fp_images"],
        "candidates": [{k: v for k, v in row.items() if k not in ("recorded", "host", "listed")} for row in rows],
        "host": host,
    }
    if best is None:
        write_json(paths.metrics(variant.name, "recipe.json", device), summary)
        where = f"{host['isa_class']} ({host['precision']})"
        table = paths.metrics(variant.name, "recipe.json", device)
        if summary["closest"] is None:
            raise UserError(f"no candidate recipe of variants.{variant.name}.quantize.search can run on {where}: "
                            f"every one has INT8 sums that saturate there (add one with overflow_fix: enable and "
                            f"attention_scores in its ignored_scope, or a weight-only one, or one with overflow_fix "
                            f"and attention_overflow_fix: enable); the table is in {table}")
        closest_row = next(row for row in rows if row["candidate"] == summary["closest"])
        raise UserError(f"no candidate recipe of variants.{variant.name}.quantize.search passes the gate on "
                        f"{where}: the closest is {closest_row['candidate']} "
                        f"({'; '.join(closest_row['failed_checks'])}); the table is in {table}")
    recorded = {component: parse_component(body, f"{paths.candidate_row(variant.name, device, rows[best]['candidate'])}")
                for component, body in rows[best]["recorded"].items()}
    write_outputs(variant.name, device, Chosen(recorded, rows[best]["candidate"]), summary, summary["candidates"])


def _cell(value):
    """A CSV cell: the statistics column's {component: how} as "component: how; ..."."""
    if isinstance(value, dict):
        return "; ".join(f"{component}: {how}" for component, how in value.items())
    return value


def write_outputs(variant: str, device: str, chosen: Chosen, summary: dict, rows: list[dict]) -> None:
    with atomic_dir(paths.chosen_model(variant, device)) as model:
        if chosen.candidate is not None:
            shutil.copytree(paths.candidate_model(variant, device, chosen.candidate), model, dirs_exist_ok=True,
                            copy_function=link_or_copy)
    with atomic_file(paths.metrics(variant, "recipe_candidates.csv", device)) as tmp:
        table = pd.DataFrame([{column: _cell(row.get(column)) for column in CSV_COLUMNS} for row in rows],
                             columns=list(CSV_COLUMNS))
        if table.empty:  # not searched: the one recipe, unmeasured
            table = pd.DataFrame([{"candidate": "params"}], columns=list(CSV_COLUMNS))
        table.to_csv(tmp, index=False)
    write_json(paths.metrics(variant, "recipe.json", device),
               {**summary, "recipes": {component: recipe.label() for component, recipe in chosen.components.items()}})
    write_json(paths.recipe(variant, device), chosen_json(variant, device, chosen, summary["searched"]))


if __name__ == "__main__":
    raise SystemExit(main())
