"""fp_images stage: the FP images of the recipe search's validation captions, rendered once.

    python -m stages.fp_images <variant> <device>
        -> data/search/<variant>/<device>/fp_images/      PNG images and their prompts and seeds, and
                                                          image_calls.json: what one text-to-image run calls
        -> data/search/<variant>/<device>/fp_images.json  how long they took

Every candidate of the search (stage candidate) is compared against these images, as WWB keeps its ground truth:
one FP rendering per variant and host class, not one per candidate or per search.
"""

from __future__ import annotations

import time

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.outputs import atomic_dir, write_json
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.evaluation.compare import save_references
from ov_diffusion_quant.families import family_for
from ov_diffusion_quant.orchestration.search import render_fp_images
from ov_diffusion_quant.runtime import host_facts
from ov_diffusion_quant.runtime.devices import check_device


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("device")
    args = parser.parse_args(argv)

    params = load()
    variant = params.searching_variant(args.variant)
    device = check_device(args.device)
    family = family_for(variant)
    family.check_exported(paths.fp_model(variant.name))
    started = time.perf_counter()
    references, image_calls = render_fp_images(variant, device, family, params.evaluate.seeds)
    with atomic_dir(paths.fp_images(variant.name, device)) as tmp:
        save_references(references, tmp)
        write_json(tmp / paths.image_calls(variant.name, device).name, image_calls)
    write_json(paths.fp_images_record(variant.name, device), {
        "images": len(references), "seconds": round(time.perf_counter() - started, 1), "host": host_facts.provenance()})


if __name__ == "__main__":
    raise SystemExit(main())
