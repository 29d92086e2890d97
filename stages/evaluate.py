"""evaluate stage: FP vs optimized images from identical seeds, on one device.

    python -m stages.evaluate <variant> <device>
        -> metrics/<variant>/<device>/evaluate.json            aggregates (DVC metrics)
        -> metrics/<variant>/<device>/evaluate_per_prompt.csv  one row per prompt x seed x mode (DVC plots)
        -> reports/<variant>/<device>/grid.png                 prompt | FP | optimized | difference
"""

from __future__ import annotations

import logging

import pandas as pd
from tqdm import tqdm

from stages.common import paths
from stages.common.errors import argument_parser, main_with_clear_errors
from stages.evaluation.grid import make_grid
from stages.runtime.inference import load_variant
from stages.common.outputs import atomic_file, write_json
from stages.config.params import load
from stages.families import get_family
from stages.runtime import host
from stages.common.prompts import validation_prompts
from stages.evaluation.similarity import load_clip, psnr_ssim, summary

log = logging.getLogger(__name__)


def compare(rows, mode, index, prompt, seed, reference, candidate, clip) -> None:
    psnr, ssim = psnr_ssim(reference, candidate)
    rows.append({"prompt_index": index, "prompt_id": prompt["id"], "mode": mode, "seed": seed, "psnr": round(psnr, 4),
                 "ssim": round(ssim, 5), "clip_sim": round(clip(reference, candidate), 5) if clip else None})


def aggregate(table: pd.DataFrame, clip_skipped: str | None) -> dict:
    metrics: dict = {"num_images": int(len(table))}
    for mode, group in table.groupby("mode", sort=False):
        metrics[mode] = {name: summary(group[name].tolist()) for name in ("psnr", "ssim")}
        if clip_skipped is None:
            metrics[mode]["clip_sim"] = summary(group["clip_sim"].tolist())
    metrics["clip_sim_skipped"] = clip_skipped or ""
    return metrics


def adherence_fp_vs_optimized(judged: dict[str, list], captions: list[str], seeds: list[int]) -> dict:
    """Prompt adherence of the FP and the optimized images, as the scenes judge reads them from pixels."""
    from stages.reference.judge import adherence

    captions = [caption for caption in captions for _ in seeds]
    scores = {name: adherence(images, captions) for name, images in judged.items()}
    for score in scores.values():
        # the gated score: mean accuracy over the five attributes. "overall" (all five right) is reported too, but
        # one hard attribute (shape, for the reference model) caps it and makes its drop a coin flip per image
        score["attributes"] = round(sum(score["per_attribute"].values()) / len(score["per_attribute"]), 4)
    return {"fp": scores["fp"], "optimized": scores["optimized"], "score": "attributes",
            "drop": round(scores["fp"]["attributes"] - scores["optimized"]["attributes"], 4)}


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
    prompts = validation_prompts(own.prompts or params.validation_prompts_path,
                                 own.num_prompts or params.evaluate.num_prompts)
    fp = load_variant(variant.name, args.device, optimized=False, params=params)
    optimized = load_variant(variant.name, args.device, optimized=True, params=params)
    clip, clip_skipped = load_clip(params.evaluate.clip_model, params.evaluate.clip_revision)
    if clip_skipped:
        log.info("CLIP similarity skipped: %s", clip_skipped)
    with_img2img = variant.model.family == "sdxl"

    rows, grid_rows, judged = [], [], {"fp": [], "optimized": []}
    for index, prompt in enumerate(tqdm(prompts, desc="validation prompts", unit="prompt")):
        # Seed + prompt index: tiny random models draw mostly from the noise, so vary it per prompt.
        for seed in (base + index for base in params.evaluate.seeds):
            reference = fp.text_to_image(prompt["caption"], generation, seed)
            candidate = optimized.text_to_image(prompt["caption"], generation, seed)
            compare(rows, "text2image", index, prompt, seed, reference, candidate, clip)
            if own.judge:
                judged["fp"].append(reference)
                judged["optimized"].append(candidate)
            if seed == params.evaluate.seeds[0] + index:
                grid_rows.append((prompt["caption"], reference, candidate))
            if with_img2img:  # the notebook's setting, on the FP text-to-image output
                compare(rows, "image2image", index, prompt, seed,
                        fp.image_to_image(prompt["caption"], reference, generation, seed),
                        optimized.image_to_image(prompt["caption"], reference, generation, seed), clip)

    table = pd.DataFrame(rows)
    with atomic_file(paths.metrics(variant.name, "evaluate_per_prompt.csv", args.device)) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_file(paths.report(variant.name, "grid.png", args.device)) as tmp:
        make_grid(grid_rows, f"{variant.name} on {args.device}: FP vs optimized "
                             f"({', '.join(f'{c}={r}' for c, r in variant.quantize.components.items())})").save(tmp)
    write_json(paths.metrics(variant.name, "evaluate.json", args.device), {
        **aggregate(table, clip_skipped),
        **({"clip_model": clip.provenance} if clip else {}),
        **({"adherence": adherence_fp_vs_optimized(judged, [p["caption"] for p in prompts], params.evaluate.seeds)}
           if own.judge else {}),
        "models": {"fp": get_family(variant.model.family).read_sources(paths.fp_model(variant.name))},
        "host": host.provenance(),
    })


if __name__ == "__main__":
    raise SystemExit(main())
