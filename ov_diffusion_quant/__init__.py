"""ov-diffusion-quant: quantize text-to-image diffusion models with OpenVINO and NNCF (the DVC stages are in stages/)."""
