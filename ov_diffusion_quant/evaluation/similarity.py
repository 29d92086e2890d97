"""Image similarity between FP and optimized outputs: PSNR and SSIM (torchmetrics), CLIP cosine.

The CLIP score follows OpenVINO's who_what_benchmark: cosine similarity of the two
images' CLIP image embeddings.
"""

from __future__ import annotations

import numpy as np

from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.config.specs import PSNR_CAP_DB  # noqa: F401  (re-exported beside psnr_ssim, which applies it)


def _to_tensor(image):
    import torch

    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)


def psnr_ssim(reference, candidate) -> tuple[float, float]:
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    a, b = _to_tensor(reference), _to_tensor(candidate)
    psnr = float(peak_signal_noise_ratio(b, a, data_range=1.0))
    ssim = float(structural_similarity_index_measure(b, a, data_range=1.0))
    return min(psnr, PSNR_CAP_DB), ssim


class ClipSimilarity:
    """CLIP image-embedding cosine similarity, loaded from a local path or the HF cache (never remote code)."""

    def __init__(self, model_id: str, revision: str | None = None):
        from transformers import CLIPImageProcessor, CLIPModel

        from ov_diffusion_quant.common.hub import local_model_dir, provenance

        directory = local_model_dir(model_id, "CLIP model", revision=revision,
                                    alternative="or set evaluate.clip_model to a local directory (or null)")
        self.provenance = provenance(model_id, directory)
        try:
            self.model = CLIPModel.from_pretrained(directory, use_safetensors=True).eval()
            self.processor = CLIPImageProcessor.from_pretrained(directory)
        except (OSError, ValueError) as error:
            raise UserError(f"CLIP model {model_id!r} at {directory} cannot be loaded: {error}") from error

    def __call__(self, reference, candidate) -> float:
        import torch

        pixels = self.processor(images=[reference.convert("RGB"), candidate.convert("RGB")], return_tensors="pt")
        with torch.no_grad():
            embeddings = self.model.get_image_features(pixel_values=pixels["pixel_values"])
        if not isinstance(embeddings, torch.Tensor):  # some versions return a model output
            embeddings = embeddings.pooler_output
        embeddings = torch.nn.functional.normalize(embeddings, dim=-1)
        return float((embeddings[0] * embeddings[1]).sum())


def load_clip(model_id: str | None, revision: str | None = None) -> tuple[ClipSimilarity | None, str | None]:
    """(scorer, None), or (None, reason) when no CLIP model is configured or available offline."""
    if not model_id:
        return None, "no CLIP model configured (evaluate.clip_model is null)"
    try:
        return ClipSimilarity(model_id, revision), None
    except UserError as error:
        return None, str(error)


def clip_for_gate(threshold: float | None, model_id: str | None, revision: str | None, where: str
                  ) -> ClipSimilarity | None:
    """The CLIP scorer a gate with a CLIP-similarity minimum needs (None without one); a UserError naming the
    threshold and the reason where it cannot be loaded, since every check against it would fail unmeasured."""
    if threshold is None:
        return None
    clip, reason = load_clip(model_id, revision)
    if clip is None:
        raise UserError(f"{where} is {threshold}, and CLIP cannot be loaded: {reason}")
    return clip


def summary(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(array.mean()), 4), "min": round(float(array.min()), 4),
            "p10": round(float(np.percentile(array, 10)), 4)}
