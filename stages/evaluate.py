"""evaluate stage: FP vs optimized images from identical seeds, on one device.

    python -m stages.evaluate <variant> <device>
        -> metrics/<variant>/<device>/evaluate.json            aggregates (DVC metrics)
        -> metrics/<variant>/<device>/evaluate_per_prompt.csv  one row per prompt x seed x mode (DVC plots)
        -> reports/<variant>/<device>/grid.png                 prompt | FP | optimized | difference

The peers (optimum-intel's own quantizations, params benchmark.peers) are compared with the same FP images and
checked with the variant's gate checks: their metrics and verdicts are under "peers" (they gate nothing).
"""

from __future__ import annotations

import logging

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors
from ov_diffusion_quant.evaluation.compare import adherence_fp_vs_optimized, aggregate, compare, render_reference
from ov_diffusion_quant.evaluation.grid import make_grid
from ov_diffusion_quant.evaluation.checks import failed_check, metric_checks
from ov_diffusion_quant.orchestration.inference import load_variant, made_peers
from ov_diffusion_quant.common.artifacts import read_json
from ov_diffusion_quant.common.outputs import atomic_file, write_json
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.families import family_for
from ov_diffusion_quant.runtime import host_facts
from ov_diffusion_quant.evaluation.prompts import validation_prompts
from ov_diffusion_quant.evaluation.similarity import load_clip

log = logging.getLogger(__name__)


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("device")
    args = parser.parse_args(argv)

    params = load()
    variant = params.variant(args.variant)
    generation = variant.generation
    own = variant.evaluate
    prompts = validation_prompts(own.prompts or params.evaluate.prompts,
                                 own.num_prompts or params.evaluate.num_prompts)
    fp = load_variant(variant.name, args.device, optimized=False, params=params)
    optimized = load_variant(variant.name, args.device, optimized=True, params=params)
    clip, clip_skipped = load_clip(params.evaluate.clip_model, params.evaluate.clip_revision)
    if clip_skipped:
        log.info("CLIP similarity skipped: %s", clip_skipped)
    family = family_for(variant)
    with_img2img = family.supports_img2img

    # 1. FP images, then the optimized model's from the same seeds
    references = render_reference(fp, prompts, generation, params.evaluate.seeds, with_img2img)
    table, optimized_images = compare(optimized, references, generation, clip)

    # 2. The peers, against the same FP images and checks
    peers = {}
    for peer in made_peers(variant.name, args.device):
        pipeline = load_variant(variant.name, args.device, params=params, peer=peer)
        peer_table, peer_images = compare(pipeline, references, generation, clip)
        del pipeline
        peers[peer] = {**aggregate(peer_table, clip_skipped),
                       **({"adherence": adherence_fp_vs_optimized(references, peer_images)} if own.judge else {})}
        if variant.gate is not None:
            checks = metric_checks(variant.name, args.device, variant.gate, peers[peer], "")
            peers[peer]["gate"] = {"passed": all(check.passed for check in checks),
                                   "failed_checks": [failed_check(check) for check in checks if not check.passed]}

    # 3. Outputs: per-prompt table, grid (first seed of each prompt), aggregates with the judge's adherence
    with atomic_file(paths.metrics(variant.name, "evaluate_per_prompt.csv", args.device)) as tmp:
        table.to_csv(tmp, index=False)
    grid_rows = [(r.prompt["caption"], r.text2image, image) for r, image in zip(references, optimized_images)
                 if r.seed == params.evaluate.seeds[0] + r.index]
    record = paths.quantization_record(variant.name, args.device)  # what quantize applied
    recipes = read_json(record)["recipes"] if record.exists() else None
    title = ", ".join(f"{c}={r}" for c, r in recipes.items()) if recipes else "recipes not recorded"
    with atomic_file(paths.report(variant.name, "grid.png", args.device)) as tmp:
        make_grid(grid_rows, f"{variant.name} on {args.device}: FP vs optimized ({title})").save(tmp)
    write_json(paths.metrics(variant.name, "evaluate.json", args.device), {
        "measured": host_facts.measured(variant, recipes),
        **aggregate(table, clip_skipped),
        **({"clip_model": clip.provenance} if clip else {}),
        **({"adherence": adherence_fp_vs_optimized(references, optimized_images)} if own.judge else {}),
        **({"peers": peers} if peers else {}),
        "models": {"fp": family.read_sources(paths.fp_model(variant.name))},
        "host": host_facts.provenance(),
    })


if __name__ == "__main__":
    raise SystemExit(main())
