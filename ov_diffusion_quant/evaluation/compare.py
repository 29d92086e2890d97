"""FP vs optimized images from identical seeds: what the evaluate stage reports and the recipe search judges.

The FP images are rendered once (:func:`render_reference`) and every optimized model is compared against them
(:func:`compare`), so a search over candidates pays for the FP pipeline once.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from ov_diffusion_quant.common.artifacts import read_json
from ov_diffusion_quant.evaluation.similarity import psnr_ssim, summary


@dataclass
class Reference:
    """One prompt x seed rendered by the FP pipeline (text-to-image, and image-to-image from that image)."""
    index: int
    prompt: dict
    seed: int
    text2image: Any
    image2image: Any | None


def seeds_for(index: int, seeds: list[int]) -> list[int]:
    # seed + prompt index: tiny random models draw mostly from the noise, so vary it per prompt
    return [base + index for base in seeds]


def render_reference(fp, prompts: list[dict], generation, seeds: list[int], with_img2img: bool,
                     desc: str = "FP images", image_calls: dict | None = None) -> list[Reference]:
    """The FP images; ``image_calls`` (a dict) gets what the first text-to-image run called (recording.call_shapes)."""
    from ov_diffusion_quant.runtime.recording import call_shapes, recorded_calls

    references = []
    for index, prompt in enumerate(tqdm(prompts, desc=desc, unit="prompt")):
        for seed in seeds_for(index, seeds):
            with recorded_calls(fp) if image_calls is not None and not image_calls else contextlib.nullcontext() as calls:
                image = fp.text_to_image(prompt["caption"], generation, seed)
            if calls is not None:
                image_calls.update(call_shapes(calls))
            references.append(Reference(index, prompt, seed, image, fp.image_to_image(
                prompt["caption"], image, generation, seed) if with_img2img else None))
    return references


REFERENCES_INDEX = "references.json"


def save_references(references: list[Reference], out_dir: Path) -> None:
    """The FP images as PNG (lossless: the same pixels come back) beside an index of prompt, seed and file names,
    so that a search renders them once (as WWB keeps its ground truth)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    index = []
    for number, reference in enumerate(references):
        entry = {**{k: v for k, v in asdict(reference).items() if k not in ("text2image", "image2image")},
                 "text2image": f"{number:04d}-t2i.png", "image2image": None}
        _image(reference.text2image).save(out_dir / entry["text2image"])
        if reference.image2image is not None:
            entry["image2image"] = f"{number:04d}-i2i.png"
            _image(reference.image2image).save(out_dir / entry["image2image"])
        index.append(entry)
    (out_dir / REFERENCES_INDEX).write_text(json.dumps(index, indent=1) + "\n")


def load_references(directory: Path) -> list[Reference]:
    def image(name):
        with Image.open(directory / name) as opened:
            return opened.convert("RGB").copy()
    return [Reference(entry["index"], entry["prompt"], entry["seed"], image(entry["text2image"]),
                      image(entry["image2image"]) if entry["image2image"] else None)
            for entry in read_json(directory / REFERENCES_INDEX)]


def _image(image) -> Image.Image:
    return image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))


def compare(optimized, references: list[Reference], generation, clip=None, desc: str = "optimized images",
            stop: Callable[[list[dict], list], bool] | None = None) -> tuple[pd.DataFrame, list]:
    """One row per prompt x seed x mode (PSNR, SSIM, CLIP similarity) and the optimized text-to-image images.
    ``stop(rows, images)``, asked after each reference: True ends the rendering there (the recipe search's early
    stop), and the table and images cover the references rendered so far."""
    rows, images = [], []

    def row(mode, reference, fp_image, candidate):
        psnr, ssim = psnr_ssim(fp_image, candidate)
        rows.append({"prompt_index": reference.index, "prompt_id": reference.prompt["id"], "mode": mode,
                     "seed": reference.seed, "psnr": round(psnr, 4), "ssim": round(ssim, 5),
                     "clip_sim": round(clip(fp_image, candidate), 5) if clip else None})

    for reference in tqdm(references, desc=desc, unit="image"):
        candidate = optimized.text_to_image(reference.prompt["caption"], generation, reference.seed)
        images.append(candidate)
        row("text2image", reference, reference.text2image, candidate)
        if reference.image2image is not None:  # the notebook's setting, on the FP text-to-image output
            row("image2image", reference, reference.image2image, optimized.image_to_image(
                reference.prompt["caption"], reference.text2image, generation, reference.seed))
        if stop is not None and stop(rows, images):
            break
    return pd.DataFrame(rows), images


def aggregate(table: pd.DataFrame, clip_skipped: str | None) -> dict:
    metrics: dict = {"num_images": int(len(table))}
    for mode, group in table.groupby("mode", sort=False):
        metrics[mode] = {name: summary(group[name].tolist()) for name in ("psnr", "ssim")}
        if clip_skipped is None:
            metrics[mode]["clip_sim"] = summary(group["clip_sim"].tolist())
    metrics["clip_sim_skipped"] = clip_skipped or ""
    return metrics


def adherence_fp_vs_optimized(references: list[Reference], optimized_images: list) -> dict:
    """Prompt adherence of the FP and the optimized images, as the scenes judge reads them from pixels."""
    from ov_diffusion_quant.reference.judge import adherence

    captions = [reference.prompt["caption"] for reference in references]
    scores = {"fp": adherence([r.text2image for r in references], captions),
              "optimized": adherence(optimized_images, captions)}
    for score in scores.values():
        # the gated score: mean accuracy over the five attributes. "overall" (all five right) is reported too, but
        # one hard attribute (shape, for the reference model) caps it and makes its drop a coin flip per image
        score["attributes"] = round(sum(score["per_attribute"].values()) / len(score["per_attribute"]), 4)
    return {"fp": scores["fp"], "optimized": scores["optimized"], "score": "attributes",
            "drop": round(scores["fp"]["attributes"] - scores["optimized"]["attributes"], 4)}
