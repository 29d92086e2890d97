"""ov-diffusion-quant: quantize text-to-image diffusion models with OpenVINO and NNCF (the DVC stages are in stages/).

The packages sit in layers, each importing only from its own layer or those below (tests/test_layers.py).
"""
