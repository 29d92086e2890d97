"""What a tiny autoencoder costs in quality against the model's own VAE: the FP model decoded both ways.

    python scripts/decoder_cost.py trained-pixart-snapshot trained-pixart-snapshot-taesd [--num-prompts 100] [--out F]

Both variants' FP exports (`dvc repro export@<variant>` with both enabled) render the first held-out captions of the
first variant's `evaluate.prompts`, each with the seed evaluate gives it: SSIM and PSNR of the tiny-autoencoder image
against the VAE image (same latents, different decoder), and the scene judge's prompt adherence of both. Writes
reports/decoder_cost/<second variant>.json with the host and precision that ran.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import UserError, argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.outputs import write_json
from ov_diffusion_quant.config.params import load


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    from ov_diffusion_quant.evaluation.prompts import validation_prompts
    from ov_diffusion_quant.evaluation.similarity import psnr_ssim, summary
    from ov_diffusion_quant.orchestration.inference import load_variant
    from ov_diffusion_quant.reference.judge import adherence
    from ov_diffusion_quant.runtime import host_facts

    parser = argument_parser(__doc__)
    parser.add_argument("vae_variant")
    parser.add_argument("taesd_variant")
    parser.add_argument("--num-prompts", type=int, default=100)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    params = load()
    vae_spec, taesd_spec = params.variant(args.vae_variant), params.variant(args.taesd_variant)
    if vae_spec.model.taesd is not None or taesd_spec.model.taesd is None:
        raise UserError(f"{args.vae_variant} must decode with its VAE (model.taesd unset) and {args.taesd_variant} "
                        "with a tiny autoencoder (model.taesd set)")
    if vae_spec.evaluate.judge is None:
        raise UserError(f"{args.vae_variant} has no judge (variants.{args.vae_variant}.evaluate.judge): the cost is "
                        "measured on a trained reference model")
    rows = validation_prompts(vae_spec.evaluate.prompts or params.evaluate.prompts, args.num_prompts)
    captions = [row["caption"] for row in rows]
    seed = params.evaluate.seeds[0]
    images, seconds = {}, {}
    for name in (args.vae_variant, args.taesd_variant):
        pipeline = load_variant(name, "CPU", params=params)
        started = time.perf_counter()
        images[name] = [pipeline.text_to_image(caption, vae_spec.generation, seed + index)
                        for index, caption in enumerate(captions)]
        seconds[name] = round(time.perf_counter() - started, 2)
        del pipeline
    pairs = [psnr_ssim(vae, taesd) for vae, taesd in zip(images[args.vae_variant], images[args.taesd_variant])]
    judged = {name: adherence(images[name], captions) for name in images}
    for score in judged.values():
        score["attributes"] = round(sum(score["per_attribute"].values()) / len(score["per_attribute"]), 4)
    record = {
        "what": f"FP {args.taesd_variant} (tiny autoencoder {taesd_spec.model.taesd}) against FP {args.vae_variant} "
                f"(its own VAE) on the first {len(captions)} captions of {vae_spec.evaluate.prompts}",
        "psnr_db": summary([psnr for psnr, _ in pairs]), "ssim": summary([ssim for _, ssim in pairs]),
        "adherence": {"vae": judged[args.vae_variant], "taesd": judged[args.taesd_variant],
                      "drop": round(judged[args.vae_variant]["attributes"] - judged[args.taesd_variant]["attributes"], 4)},
        "render_seconds": seconds,
        "host": host_facts.provenance(),
    }
    out = args.out or paths.REPORTS / "decoder_cost" / f"{args.taesd_variant}.json"
    write_json(out, record)
    print(json.dumps({key: record[key] for key in ("psnr_db", "ssim")} | {"adherence_drop": record["adherence"]["drop"]}))


if __name__ == "__main__":
    raise SystemExit(main())
