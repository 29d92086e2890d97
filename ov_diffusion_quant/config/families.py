"""The family names params.yaml may use, as data: the built-in families' modules, plug-ins' entry points and
families registered at run time. Loading a family module is ov_diffusion_quant/families' job; params validation
reads only the names."""

from __future__ import annotations

import importlib.metadata

FAMILY_MODULES = {  # family name -> "module:class"
    "sdxl": "ov_diffusion_quant.families.sdxl:SDXLFamily",
    "pixart": "ov_diffusion_quant.families.pixart:PixArtFamily",
}
ENTRY_POINT_GROUP = "ov_diffusion_quant.families"
REGISTERED: dict[str, type] = {}  # name -> ModelFamily subclass, made known by families.register


def plugins() -> dict[str, str]:
    return {entry.name: entry.value for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def family_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys([*FAMILY_MODULES, *plugins(), *REGISTERED]))
