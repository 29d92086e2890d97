"""Model families by name: the registry, and the check of a variant against its family.

A family module is imported only when a variant of that family is used, so a stage's code is the family it runs
(``python -m ov_diffusion_quant.families`` lists them). Adding a family: one module with a ``ModelFamily``
subclass, named here in ``FAMILY_MODULES`` (or ``register``-ed at run time, as tests/toy_family.py does).
"""

from __future__ import annotations

import importlib

from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.families.base import LoadedPipeline, ModelFamily, SourceKind

FAMILY_MODULES = {  # family name -> "module:class"
    "sdxl": "ov_diffusion_quant.families.sdxl:SDXLFamily",
    "pixart": "ov_diffusion_quant.families.pixart:PixArtFamily",
}
_registered: dict[str, type[ModelFamily]] = {}


def register(cls: type[ModelFamily]) -> type[ModelFamily]:
    """Make a family known by its ``name`` without an entry in FAMILY_MODULES (a plug-in, or a test's toy)."""
    _registered[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    _registered.pop(name, None)


def family_names() -> tuple[str, ...]:
    return (*FAMILY_MODULES, *(name for name in _registered if name not in FAMILY_MODULES))


def family_class(name: str) -> type[ModelFamily]:
    if name in _registered:
        return _registered[name]
    if name not in FAMILY_MODULES:
        raise UserError(f"unknown family {name!r}: allowed are {', '.join(family_names())}")
    module, _, attribute = FAMILY_MODULES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def get_family(name: str) -> ModelFamily:
    return family_class(name)()


def family_for(variant) -> ModelFamily:
    """The family of a validated variant, after checking the variant against it (sizes, steps, components,
    scopes: what params.py cannot know without importing the family)."""
    cls = family_class(variant.model.family)
    cls.check_variant(variant)
    return cls()


def check_all(params) -> None:
    """Every variant of params.yaml against its family (the host stage runs this first in every `dvc repro`)."""
    for name in params.variants:
        family_for(params.variant(name))


__all__ = ["FAMILY_MODULES", "LoadedPipeline", "ModelFamily", "SourceKind", "check_all", "family_class",
           "family_for", "family_names", "get_family", "register", "unregister"]
