"""The recipe file between the recipe stage and quantize: data/recipes/<variant>/<device>.json.

It holds each component's recipe with every knob spelled out, and which search candidate it is (None: params'
components as they are), so quantize applies exactly what the search validated. And the choice itself, from the
search's rows (orchestration/search.py writes them, one per candidate)."""

from __future__ import annotations

from dataclasses import dataclass

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.artifacts import read_json
from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.config.recipes import ComponentRecipe, parse_component


@dataclass(frozen=True)
class Chosen:
    components: dict[str, ComponentRecipe]
    candidate: str | None  # the search candidate's name; None: not searched


def chosen_json(variant: str, device: str, chosen: Chosen, searched: bool) -> dict:
    return {"variant": variant, "device": device, "searched": searched, "candidate": chosen.candidate,
            "components": {component: recipe.to_json() for component, recipe in chosen.components.items()}}


def read_chosen(variant, device: str) -> Chosen:
    path = paths.recipe(variant.name, device)
    if not path.exists():
        raise UserError(f"{path} does not exist yet: run `dvc repro recipe@{variant.name}-{device}`")
    data = read_json(path)
    components = {component: parse_component(body, f"{path}: components.{component}")
                  for component, body in data["components"].items()}
    if set(components) != set(variant.quantize.components):
        raise UserError(f"{path} is for components {', '.join(components)}, params.yaml quantizes "
                        f"{', '.join(variant.quantize.components)}: re-run `dvc repro recipe@{variant.name}-{device}`")
    return Chosen(components, data.get("candidate"))


def choose(rows: list[dict]) -> int | None:
    """`fastest_passing`: the passing row with the largest INT8 share of the image, the earliest on a tie (None: none
    passes)."""
    passing = [index for index, row in enumerate(rows) if row["passed"]]
    if not passing:
        return None
    return max(passing, key=lambda index: (rows[index].get("image_int8_macs_share") or 0.0, -index))


def closest(rows: list[dict]) -> str | None:
    """The candidate whose worst check is nearest its threshold (None: every candidate was skipped)."""
    rendered = [row for row in rows if row.get("margin") is not None]
    return max(rendered, key=lambda row: row["margin"])["candidate"] if rendered else None


def failed_label(row: dict) -> str:
    """A failing row's verdict: FAIL, and where the search stopped rendering it (search.CertainFailure)."""
    stopped = row.get("stopped_early")
    return f"FAIL (stopped after {stopped['after']} of {stopped['of']})" if stopped else "FAIL"
