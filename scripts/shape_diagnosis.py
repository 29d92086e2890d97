"""Where a trained reference model's shape accuracy is lost: the autoencoder, the sampler, generalisation or the
denoiser. Writes reports/reference_shape/<variant>.json.

    python scripts/shape_diagnosis.py <variant> [--export DIR]   (DIR: an FP export, default models/<variant>/fp)

On the first 100 captions of each split, with the scenes judge: the data set's own images, their round trip through
the autoencoder the variant decodes with, the FP pipeline at the variant's steps and at four times as many, on the
training captions (seen triples) and the held-out ones (unseen), and which shape the judge reads where the training
captions ask for each.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ov_diffusion_quant.common.outputs import write_json  # noqa: E402
from ov_diffusion_quant.config.params import load  # noqa: E402
from ov_diffusion_quant.families import family_for  # noqa: E402
from ov_diffusion_quant.reference.judge import adherence, judge_image  # noqa: E402
from ov_diffusion_quant.reference.scene_dataset import load_split  # noqa: E402
from ov_diffusion_quant.runtime import host_facts  # noqa: E402

CAPTIONS = 100


def round_trip(variant, images: np.ndarray) -> np.ndarray:
    """The images through the encoder and decoder of the autoencoder the variant's pipeline decodes with."""
    import torch
    from diffusers import AutoencoderKL, AutoencoderTiny

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        if variant.model.taesd:
            taesd = AutoencoderTiny.from_pretrained(ROOT / variant.model.taesd)
            out = taesd.decoder(taesd.encoder(x))
        else:
            vae = AutoencoderKL.from_pretrained(ROOT / variant.model.source / "vae")
            out = vae.decode(vae.encode(x).latent_dist.mode()).sample
    return ((out.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant")
    parser.add_argument("--export", type=Path)
    args = parser.parse_args()
    params = load(ROOT / "params.yaml")
    variant = params.variant(args.variant)
    generation, base = variant.generation, params.evaluate.seeds[0]
    pipeline = family_for(variant).load(args.export or ROOT / "models" / variant.name / "fp", "CPU")

    def per_attribute(images, captions) -> dict:
        return {name: round(value, 3) for name, value in adherence(images, captions)["per_attribute"].items()}

    def render(captions, steps=None) -> list:
        return [pipeline.text_to_image(c, generation, base + i, steps=steps) for i, c in enumerate(captions)]

    record: dict = {"variant": variant.name, "captions_per_split": CAPTIONS, "steps": generation.steps}
    heldout_images, heldout = load_split(ROOT / "data" / "scenes", "heldout")
    captions = [row["caption"] for row in heldout[:CAPTIONS]]
    record["held_out"] = {
        "data_set_images": per_attribute(list(heldout_images[:CAPTIONS]), captions),
        "autoencoder_round_trip": per_attribute(list(round_trip(variant, heldout_images[:CAPTIONS])), captions),
        "fp": per_attribute(render(captions), captions),
        f"fp_{4 * generation.steps}_steps": per_attribute(render(captions, 4 * generation.steps), captions),
    }
    _, train = load_split(ROOT / "data" / "scenes", "train")
    captions = [row["caption"] for row in train[:CAPTIONS]]
    images = render(captions)
    record["train"] = {"fp": per_attribute(images, captions)}
    read = Counter()
    for image, caption in zip(images, captions):
        verdict = judge_image(image, caption)
        read[f"{verdict['expected']['shape']} read as {verdict['found']['shape']}"] += 1
    record["train"]["fp_shape_read"] = dict(sorted(read.items()))
    record["host"] = host_facts.provenance()
    out = ROOT / "reports" / "reference_shape" / f"{variant.name}.json"
    write_json(out, record)
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
