"""candidate stage: one candidate of the recipe search, quantized, rendered and checked: its row of the table.

    python -m stages.candidate <variant> <device> <candidate>
        -> data/search/<variant>/<device>/candidates/<candidate>.json  its row
        -> data/search/<variant>/<device>/models/<candidate>/           its quantized components if it passed

A unit of its own, so that DVC caches every candidate apart: a candidate reproduced on one machine is taken from a
shared remote's run-cache by every other (`dvc push --run-cache`, `dvc pull --run-cache`), and the candidates of a
search can run on as many machines as a team has (docs/hosts-and-caching.md). The candidate takes the shared
statistics where its recipe can (stage statistics) and the FP images of the validation captions (stage fp_images).
A candidate the variant does not list writes a row saying so and quantizes nothing.
"""

from __future__ import annotations

import time

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.artifacts import read_json
from ov_diffusion_quant.common.errors import UserError, argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.outputs import atomic_dir, write_json
from ov_diffusion_quant.common.resources import peak_rss_mb
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.runtime import host_facts


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("device")
    parser.add_argument("candidate")
    args = parser.parse_args(argv)

    # 1. The candidate, as the variant resolves it
    params = load()
    variant = params.searching_variant(args.variant)
    if args.candidate not in params.search.candidates:
        raise UserError(f"unknown candidate {args.candidate!r}: search.candidates defines "
                        f"{', '.join(params.search.candidates)}")
    out = paths.candidate_row(variant.name, args.device, args.candidate)
    candidate = next((c for c in variant.quantize.search.candidates if c.name == args.candidate), None)
    if candidate is None:
        with atomic_dir(paths.candidate_model(variant.name, args.device, args.candidate)):
            write_json(out, {"candidate": args.candidate, "listed": False,
                             "note": f"not in variants.{variant.name}.quantize.search.candidates"})
        return

    # 2. Quantize, render, check (heavy imports only here)
    from ov_diffusion_quant.evaluation.compare import load_references
    from ov_diffusion_quant.evaluation.similarity import clip_for_gate
    from ov_diffusion_quant.families import family_for
    from ov_diffusion_quant.orchestration.search import run_candidate
    from ov_diffusion_quant.runtime.devices import check_device

    device = check_device(args.device)
    family = family_for(variant)
    family.check_exported(paths.fp_model(variant.name))
    clip = clip_for_gate(variant.gate.clip_sim_min, params.evaluate.clip_model, params.evaluate.clip_revision,
                         f"variants.{variant.name}.gate.clip_sim_min")
    started = time.perf_counter()
    references = load_references(paths.fp_images(variant.name, device))
    model = paths.candidate_model(variant.name, device, candidate.name)
    with atomic_dir(model) as kept:
        row, recipes = run_candidate(variant, device, family, candidate, references, params.evaluate.seeds, clip,
                                     keep=kept, image_calls=read_json(paths.image_calls(variant.name, device)))
        write_json(out, {**row, "listed": True, "recorded": {c: r.to_json() for c, r in recipes.items()},
                         "seconds": round(time.perf_counter() - started, 1), "peak_rss_mb": peak_rss_mb(),
                         "host": host_facts.provenance()})


if __name__ == "__main__":
    raise SystemExit(main())
