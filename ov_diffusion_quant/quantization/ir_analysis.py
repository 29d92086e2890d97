"""What a quantized OpenVINO IR holds, read from its graph: the precision of every weighted op, which compute ops
run as INT8 kernels and their share of the multiply-accumulates, the INT8 ops whose sums can saturate on a CPU
without VNNI; and the one rewrite of that graph, attention keys in half range (attention_overflow_fix)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from ov_diffusion_quant.common.errors import UserError

WEIGHTED_OPS = ("MatMul", "Convolution", "GroupConvolution", "ConvolutionBackpropData", "Gather")
# Ops between a weight constant and the op that uses it (decompression, FakeQuantize, layout).
WEIGHT_PATH_OPS = ("Convert", "Subtract", "Multiply", "Reshape", "Transpose", "FakeQuantize", "Unsqueeze")


def _weight_precision(op) -> str | None:
    """Element type of the constant feeding ``op``'s weight input, walking through decompression ops."""
    for port in range(1, op.get_input_size()) if op.get_type_name() != "Gather" else (0,):
        node = op.input_value(port).get_node()
        while node.get_type_name() in WEIGHT_PATH_OPS:
            node = node.input_value(0).get_node()
        if node.get_type_name() == "Constant":
            return node.get_element_type().get_type_name()
    return None


def count_quantized_ops(model) -> dict[str, Any]:
    """FakeQuantize count and the weight precision of every weighted op (as saved on disk)."""
    weights: Counter[str] = Counter()
    fake_quantize = 0
    for op in model.get_ops():
        kind = op.get_type_name()
        if kind == "FakeQuantize":
            fake_quantize += 1
        elif kind in WEIGHTED_OPS:
            precision = _weight_precision(op)
            if precision is not None:
                weights[precision] += 1
    return {"fake_quantize": fake_quantize, "weights_by_precision": dict(sorted(weights.items()))}


COMPUTE_OPS = ("MatMul", "Convolution", "GroupConvolution", "ScaledDotProductAttention")
LAYOUT_OPS = ("Convert", "Reshape", "Transpose", "Unsqueeze", "Squeeze", "Multiply", "Subtract")


def _source(op, port: int):
    """What feeds ``op``'s input ``port``: the first node that is not a layout op (None past 8 layout ops)."""
    node = op.input_value(port).get_node()
    for _ in range(8):
        if node.get_type_name() not in LAYOUT_OPS:
            return node
        node = node.input_value(0).get_node()
    return None


def _quantized_input(op, port: int) -> bool:
    """Whether ``op``'s input ``port`` is INT8 data: a FakeQuantize (or an i8/u8 constant) before any compute."""
    node = _source(op, port)
    if node is None:
        return False
    if node.get_type_name() == "Constant":
        return node.get_element_type().get_type_name() in ("i8", "u8")
    return node.get_type_name() == "FakeQuantize"


def runs_in_int8(op) -> bool:
    """An op the CPU plugin can run as an INT8 kernel: both its operands (Q and K for attention) are quantized."""
    return _quantized_input(op, 0) and _quantized_input(op, 1)


def int8_op_names(model) -> set[str]:
    return {op.get_friendly_name() for op in model.get_ops()
            if op.get_type_name() in COMPUTE_OPS and runs_in_int8(op)}


def _op_macs(op) -> int:
    """Multiply-accumulates of one compute op with static shapes."""
    import math

    out = list(op.get_output_shape(0))
    if op.get_type_name() == "ScaledDotProductAttention":
        q, k = list(op.get_input_shape(0)), list(op.get_input_shape(1))
        return 2 * math.prod(q) * k[-2]  # Q·Kᵀ and the weights times V
    if op.get_type_name() == "MatMul":
        a = list(op.get_input_shape(0))
        transpose_a = op.get_attributes().get("transpose_a", False)
        return math.prod(out) * (a[-2] if transpose_a and len(a) > 1 else a[-1])
    weight = list(op.get_input_shape(1))  # [Cout, Cin, k...], grouped: [G, Cout/G, Cin/G, k...]
    per_output = math.prod(weight[2:]) if op.get_type_name() == "GroupConvolution" else math.prod(weight[1:])
    return math.prod(out) * per_output


# Without VNNI an INT8 op's pair of u8×s8 products is summed in 16 bits, saturating (host_facts.SATURATING_INT8_CLASSES):
# weights within ±64 keep a pair within 255·128 = 32640 < 2¹⁵ (NNCF's overflow fix gives 7-bit weights); a product
# of two activations (attention's Q·Kᵀ) is bounded only where the keys are in half range (attention_overflow_fix).
SATURATION_FREE_WEIGHT = 64
# NNCF's half range (nncf.quantization.fake_quantize._calculate_scaled_parameters, applied to weights by overflow_fix):
# 7-bit levels spread over the 8-bit quantizer, i.e. its range times (127 - -128) / (63 - -64).
HALF_RANGE_SCALE = 255 / 127
# where the model records (as JSON) its attentions with keys in half range: node rt_info is not saved, the model's is
HALF_RANGE_KEYS_INFO = ["ov_diffusion_quant", "attention_keys_in_half_range"]


def half_range_attention_keys(model) -> list[str]:
    """NNCF's overflow fix for the keys of INT8 attention: every ScaledDotProductAttention whose Q and K are quantized
    gets its key quantizer's range times HALF_RANGE_SCALE, so that keys within their calibrated range are integers
    within ±64 and a pair of u8×s8 products of Q·Kᵀ fits 16 bits on a CPU without VNNI (the same bits as with VNNI:
    tests/test_emulation.py). NNCF applies half range to weights only; its activation quantizers refuse it, since
    keys beyond the calibrated range are then clipped at twice it, not at it (and can saturate there). Changes
    ``model`` in place; returns the attentions' names."""
    import numpy as np
    from openvino import opset13 as ops

    widened, done = [], set()
    for op in model.get_ordered_ops():
        if op.get_type_name() != "ScaledDotProductAttention" or not runs_in_int8(op):
            continue
        keys = _source(op, 1)
        widened.append(op.get_friendly_name())
        if keys.get_friendly_name() in done:  # one quantizer shared by two attentions: widened once
            continue
        done.add(keys.get_friendly_name())
        low, high, out_low, out_high = (keys.input_value(i).get_node().get_data() for i in range(1, 5))
        if (keys.get_attributes()["levels"] != 256 or not np.allclose(low, -high * 128 / 127, rtol=1e-4)
                or not (np.array_equal(low, out_low) and np.array_equal(high, out_high))):
            raise UserError(f"attention_overflow_fix needs signed symmetric 8-bit key quantizers (as NNCF makes for "
                            f"transformers); {keys.get_friendly_name()} has {keys.get_attributes()['levels']} levels "
                            f"over [{float(np.min(low)):.4g}, {float(np.max(high)):.4g}]")
        for port in range(1, 5):
            bound = keys.input_value(port).get_node().get_data()
            widened_bound = ops.constant((bound * HALF_RANGE_SCALE).astype(bound.dtype))
            keys.input(port).replace_source_output(widened_bound.output(0))
    model.set_rt_info(json.dumps(widened), HALF_RANGE_KEYS_INFO)
    return widened


def _attention_keys_in_half_range(model) -> set[str]:
    if not model.has_rt_info(HALF_RANGE_KEYS_INFO):
        return set()
    return set(json.loads(model.get_rt_info(HALF_RANGE_KEYS_INFO).astype(str)))


def _weight_magnitude(op) -> int | None:
    """The largest |integer| of ``op``'s INT8 weights (input 1), or None when that input is an activation."""
    import numpy as np

    node = _source(op, 1)
    kind = node.get_type_name() if node is not None else None
    if kind == "Constant":
        return int(np.abs(node.get_data().astype(np.int32)).max())
    if kind == "FakeQuantize" and node.input_value(0).get_node().get_type_name() == "Constant":
        # weights not yet compressed: ±levels/2 (NNCF's overflow fix gives them 7 bits, 128 levels)
        return node.get_attributes()["levels"] // 2
    return None


def saturating_int8_ops(model) -> dict[str, int]:
    """The INT8 ops of ``model`` whose sums can saturate on a CPU without VNNI, counted by cause (empty: none)."""
    found: Counter[str] = Counter()
    half_range_keys = _attention_keys_in_half_range(model)
    for op in model.get_ops():
        if op.get_type_name() in COMPUTE_OPS and runs_in_int8(op):
            magnitude = _weight_magnitude(op)
            if magnitude is None and op.get_friendly_name() in half_range_keys:
                continue
            if magnitude is None:
                found["INT8 products of two activations (attention)"] += 1
            elif magnitude > SATURATION_FREE_WEIGHT:
                found["INT8 weights beyond ±64 (overflow_fix is not enable)"] += 1
    return dict(found)


def _macs(model, shapes: dict[str, list[int]]) -> tuple[int, int]:
    """(all, INT8) multiply-accumulates of ``model`` at the input ``shapes`` ({input name: shape})."""
    import openvino as ov

    static = model.clone()
    reshape = {}
    for port in static.inputs:
        name = next(iter(port.get_names() & shapes.keys()), None)
        if name is not None:
            reshape[port] = ov.PartialShape(list(shapes[name]))
    static.reshape(reshape)
    total = int8 = 0
    for op in static.get_ops():
        if op.get_type_name() in COMPUTE_OPS and op.get_output_partial_shape(0).is_static:
            macs = _op_macs(op)
            total += macs
            if runs_in_int8(op):
                int8 += macs
    return total, int8


def int8_compute_share(model, sample: dict) -> dict[str, Any]:
    """The share of ``model``'s multiply-accumulates (at the shapes of ``sample``, one recorded input) that run in
    INT8: what ranks candidate recipes by speed where latency at the trained model's 64 px says little."""
    total, int8 = _macs(model, {name: list(value.shape) for name, value in sample.items()})
    return {"int8_macs_share": round(int8 / total, 4) if total else 0.0, "gmacs": round(total / 1e9, 4)}


def image_int8_share(model_dir, image_calls: dict[str, dict]) -> dict[str, Any]:
    """The share of one text-to-image run's multiply-accumulates that run in INT8, over every component of the model
    directory and every call (``image_calls``: {component: {"calls": n, "inputs": {name: shape}}}, what the FP run
    called at the variant's size), with each component's own share."""
    import openvino as ov

    core = ov.Core()
    total = int8 = 0
    components = {}
    for component, called in image_calls.items():
        macs, int8_macs = _macs(core.read_model(Path(model_dir) / component / "openvino_model.xml"), called["inputs"])
        total += macs * called["calls"]
        int8 += int8_macs * called["calls"]
        components[component] = {"int8_macs_share": round(int8_macs / macs, 4) if macs else 0.0,
                                  "gmacs_per_call": round(macs / 1e9, 4), "calls": called["calls"]}
    return {"image_int8_macs_share": round(int8 / total, 4) if total else 0.0, "image_gmacs": round(total / 1e9, 4),
            "image_components": components}
