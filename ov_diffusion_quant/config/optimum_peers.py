"""The peers: optimum-intel's own quantizations of a variant's FP export, benchmarked and judged beside this
pipeline's optimized model (params `benchmark.peers`). The stage that makes them is stages/peers.py; a family that
optimum-intel runs (``ModelFamily.peers``) quantizes them in its ``quantize_peer``.

Both calibrate the way optimum-intel does for a diffusion pipeline (its ``_prepare_diffusion_calibration_data``): the
pipeline with its own default steps and guidance at min(sample_size x vae scale, 512) px, on this pipeline's
calibration prompts (its built-in datasets need the hub), ``variants.<v>.calibrate.subset_size`` denoiser calls.
"""

from __future__ import annotations

PEERS: dict[str, str] = {
    "optimum-hybrid": "optimum-intel's hybrid default (`optimum-cli export openvino --weight-format int8 --dataset`): "
                      "INT8 weights everywhere, then PTQ of the UNet's remaining activations",
    "optimum-int8": "optimum-intel's full INT8 (`--quant-mode int8 --dataset`): PTQ of the UNet, INT8 weights of "
                    "the other components",
}
