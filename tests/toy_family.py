"""A third model family in one file, for tests/test_third_family.py: registered through the
``ov_diffusion_quant.families`` entry-point group, as a family from another package would be.

It reuses the PixArt family's tiny model and export (a toy: what it proves is that the stages, the CLI and the
benchmark route by the family's interface, not by its name) and differs in what the interface says.
"""

from __future__ import annotations

from ov_diffusion_quant.families.pixart import PixArtFamily


class ToyFamily(PixArtFamily):
    name = "toy"
    has_tiny_autoencoder = False
    demo_max_steps = 2
    max_steps = 4
    max_steps_reason = "a toy's limit"
