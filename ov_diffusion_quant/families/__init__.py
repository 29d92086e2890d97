"""Model families by name: the registry, and the check of a variant against its family.

A family module is imported only when a variant of that family is used. Adding a family: one module with a
``ModelFamily`` subclass, named in ``FAMILY_MODULES`` (ov_diffusion_quant/config/families.py); or, from another package, an entry point in the
``ov_diffusion_quant.families`` group (``toy = my_package.toy:ToyFamily``, as tests/test_third_family.py does).
"""

from __future__ import annotations

import importlib

from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.config.families import ENTRY_POINT_GROUP, FAMILY_MODULES, REGISTERED, family_names, plugins
from ov_diffusion_quant.families.base import LoadedPipeline, ModelFamily, SourceKind


def register(cls: type[ModelFamily]) -> type[ModelFamily]:
    """Make a family known by its ``name`` without an entry in FAMILY_MODULES (a plug-in, or a test's toy)."""
    REGISTERED[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    REGISTERED.pop(name, None)


def family_class(name: str) -> type[ModelFamily]:
    if name in REGISTERED:
        return REGISTERED[name]
    target = FAMILY_MODULES.get(name) or plugins().get(name)
    if target is None:
        raise UserError(f"unknown family {name!r}: allowed are {', '.join(family_names())}")
    module, _, attribute = target.partition(":")
    cls = getattr(importlib.import_module(module), attribute)
    if not (isinstance(cls, type) and issubclass(cls, ModelFamily)) or cls.name != name:
        raise UserError(f"family {name!r} ({target}) is not a ModelFamily named {name!r}")
    return cls


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


__all__ = ["ENTRY_POINT_GROUP", "FAMILY_MODULES", "LoadedPipeline", "ModelFamily", "SourceKind", "check_all", "family_class",
           "family_for", "family_names", "get_family", "register", "unregister"]
