"""Reading the pipeline's own artifacts: a damaged file is one line naming it and the stage that makes it.

OpenVINO IR (``openvino_model.xml`` + ``.bin``) is checked structurally before OpenVINO opens it: a
garbage XML makes OpenVINO try every frontend on it, and the TensorFlow one prints parser errors of its
own to stderr before the RuntimeError. The calibration shards are checked where they are read
(ov_diffusion_quant/quantization/calibration_data.py) with ``corrupt`` from here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ov_diffusion_quant.common.errors import UserError, one_line
from ov_diffusion_quant.common.paths import remake_hint


def corrupt(path: Path | str, reason: str) -> UserError:
    return UserError(f"{path} is corrupt ({reason}): {remake_hint(path)}")


def missing(path: Path | str) -> UserError:
    return UserError(f"{path} is missing: {remake_hint(path)}")


def check_ir(xml: Path | str) -> None:
    """The XML parses as an IR, and its .bin holds every constant the XML points into (what a truncated
    copy or an interrupted write breaks). Reads the XML only: megabytes, not the gigabytes of weights."""
    import xml.etree.ElementTree as ElementTree

    xml = Path(xml)
    weights = xml.with_suffix(".bin")
    for path in (xml, weights):
        if not path.is_file():
            raise missing(path)
    try:
        root = ElementTree.parse(xml).getroot()
    except ElementTree.ParseError as error:
        raise corrupt(xml, f"not valid XML: {error}") from error
    if root.tag != "net" or root.find("layers") is None:
        raise corrupt(xml, f"not an OpenVINO IR: the root element is <{root.tag}>, not <net> with <layers>")
    try:
        needed = max((int(data.get("offset")) + int(data.get("size"))
                      for layer in root.iter("layer") if layer.get("type") == "Const"
                      for data in layer.findall("data") if data.get("offset") is not None), default=0)
    except (TypeError, ValueError) as error:
        raise corrupt(xml, f"a constant's offset or size is not a number: {error}") from error
    size = weights.stat().st_size
    if size < needed:
        raise corrupt(weights, f"truncated: {size} bytes, {xml.name} needs {needed}")


def read_ir(xml: Path | str):
    """``ov.Core().read_model`` of an IR, with OpenVINO's refusal as one line naming the file."""
    import openvino as ov

    try:
        return ov.Core().read_model(Path(xml))
    except RuntimeError as error:
        raise corrupt(xml, f"OpenVINO cannot read it: {one_line(error)}") from error


def read_json(path: Path | str) -> Any:
    """A JSON artifact (metrics, configs, manifests); unreadable JSON is one line naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
        raise corrupt(path, f"not JSON: {one_line(error)}") from error
