"""Model families by name. Adding a family: one module here plus its name in this registry."""

from __future__ import annotations

from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.families.base import LoadedPipeline, ModelFamily


def family_class(name: str) -> type[ModelFamily]:
    from ov_diffusion_quant.families.pixart import PixArtFamily
    from ov_diffusion_quant.families.sdxl import SDXLFamily

    registry = {cls.name: cls for cls in (SDXLFamily, PixArtFamily)}
    if name not in registry:
        raise UserError(f"unknown family {name!r}: allowed are {', '.join(registry)}")
    return registry[name]


def get_family(name: str) -> ModelFamily:
    return family_class(name)()


__all__ = ["LoadedPipeline", "ModelFamily", "family_class", "get_family"]
