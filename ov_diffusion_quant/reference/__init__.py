"""A reference model trained on procedural scenes, and a pixel judge of its prompt adherence.

Random-weight tiny models say nothing about image quality. ``scenes`` makes a text-image data
set (coloured shapes on a plain background, captions that describe them exactly),
``training`` trains a small SDXL-family model on it, and ``judge`` reads the attributes back
from generated pixels, so an offline quality gate can measure adherence to held-out prompts.
"""
