"""How much faster this CPU runs a model's matrix multiplications and convolutions in INT8 than in its FP precision,
measured on the model's own heaviest shapes: the INT8 ceiling of scripts/op_profile.py.

The FP model is read with static shapes; its MatMul and Convolution nodes with constant weights are grouped by
shape and attributes and ranked by FLOPs. The heaviest groups (together at least ``COVER`` of each kind's FLOPs, at
most ``MAX_SHAPES``) are each built as a one-node model with FP16 weights, as the export writes them, compiled at the
host's precision, then quantized by NNCF (``nncf.quantize``, the same FakeQuantize placement as the recipes) and
compiled again; the ratio of the two latencies, weighted by the groups' counts, is the kind's INT8 rate.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

KINDS = ("matmul", "convolution")
COVER = 0.8
MAX_SHAPES = 4


@dataclass(frozen=True)
class HeavyOp:
    kind: str
    input_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    attributes: tuple  # MatMul: (transpose_a, transpose_b); Convolution: (strides, pads_begin, pads_end, dilations)

    def flops(self) -> int:
        if self.kind == "matmul":
            *batch, rows, depth = self.input_shape
            if self.attributes[0]:
                rows, depth = depth, rows
            columns = self.weight_shape[-2] if self.attributes[1] else self.weight_shape[-1]
            return 2 * int(np.prod(batch, dtype=np.int64)) * rows * depth * columns
        batch, _, height, width = self.input_shape
        out_channels, in_channels, kernel_h, kernel_w = self.weight_shape
        strides, begin, end, _ = self.attributes
        out_h = (height + begin[0] + end[0] - kernel_h) // strides[0] + 1
        out_w = (width + begin[1] + end[1] - kernel_w) // strides[1] + 1
        return 2 * batch * out_channels * out_h * out_w * in_channels * kernel_h * kernel_w


def _constant_source(output) -> bool:
    """Whether an input is a constant, directly or through the export's Convert (FP16 -> f32) or decompression."""
    node = output.get_node()
    while node.get_type_name() in ("Convert", "Multiply", "Subtract", "Reshape"):
        if node.get_type_name() != "Convert" and not all(
                _constant_source(node.input_value(i)) for i in range(node.get_input_size())):
            return False
        node = node.input_value(0).get_node()
    return node.get_type_name() == "Constant"


def heavy_ops(model) -> dict[HeavyOp, int]:
    """The weight-bearing MatMul and Convolution nodes of a model with static shapes, counted by shape."""
    counts: dict[HeavyOp, int] = {}
    for node in model.get_ordered_ops():
        kind = {"MatMul": "matmul", "Convolution": "convolution"}.get(node.get_type_name())
        if kind is None or not _constant_source(node.input_value(1)):
            continue
        shapes = [node.input_value(i).get_partial_shape() for i in (0, 1)]
        if not all(shape.is_static for shape in shapes):
            continue
        attributes = node.get_attributes()
        if kind == "matmul":
            attrs = (bool(attributes["transpose_a"]), bool(attributes["transpose_b"]))
        else:
            attrs = tuple(tuple(attributes[key]) for key in ("strides", "pads_begin", "pads_end", "dilations"))
        op = HeavyOp(kind, tuple(shapes[0].to_shape()), tuple(shapes[1].to_shape()), attrs)
        counts[op] = counts.get(op, 0) + 1
    return counts


def heaviest(counts: dict[HeavyOp, int], kind: str) -> dict[HeavyOp, int]:
    ranked = sorted(((op, count) for op, count in counts.items() if op.kind == kind),
                    key=lambda item: item[0].flops() * item[1], reverse=True)
    total = sum(op.flops() * count for op, count in ranked)
    chosen, covered = {}, 0
    for op, count in ranked[:MAX_SHAPES]:
        chosen[op] = count
        covered += op.flops() * count
        if covered >= COVER * total:
            break
    return chosen


def one_op_model(op: HeavyOp):
    import openvino as ov
    from openvino import opset13 as ops

    rng = np.random.default_rng(0)
    data = ops.parameter(list(op.input_shape), np.float32, name="x")
    weights = ops.convert(ops.constant((rng.standard_normal(op.weight_shape) * 0.05).astype(np.float16)), np.float32)
    if op.kind == "matmul":
        result = ops.matmul(data, weights, *op.attributes)
    else:
        strides, begin, end, dilations = op.attributes
        result = ops.convolution(data, weights, list(strides), list(begin), list(end), list(dilations))
    return ov.Model([result], [data], op.kind)


def _latency(core, model, config: dict, example: np.ndarray, min_seconds: float = 0.5) -> float:
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    request.infer({0: example})
    times, started = [], time.perf_counter()
    while len(times) < 3 or time.perf_counter() - started < min_seconds:
        begin = time.perf_counter()
        request.infer({0: example})
        times.append(time.perf_counter() - begin)
    return float(np.median(times))


def int8_rates(core, model, config: dict) -> dict[str, dict]:
    """Per kind: the INT8-over-FP speed ratio on the model's heaviest shapes, and the shapes it was measured on."""
    import nncf

    rates = {}
    for kind in KINDS:
        chosen = heaviest(heavy_ops(model), kind)
        if not chosen:
            continue
        fp_total = int8_total = 0.0
        measured = []
        for op, count in chosen.items():
            fp_model = one_op_model(op)
            example = np.random.default_rng(1).standard_normal(op.input_shape).astype(np.float32)
            int8_model = nncf.quantize(one_op_model(op), nncf.Dataset([example]), subset_size=1,
                                       fast_bias_correction=True)
            fp_s, int8_s = _latency(core, fp_model, config, example), _latency(core, int8_model, config, example)
            fp_total += count * fp_s
            int8_total += count * int8_s
            measured.append({"input": list(op.input_shape), "weight": list(op.weight_shape), "count": count,
                             "fp_s": round(fp_s, 6), "int8_s": round(int8_s, 6), "ratio": round(fp_s / int8_s, 3)})
            log.info("%s %s x %s (x%d): FP %.2f ms, INT8 %.2f ms, %.2fx", kind, op.input_shape, op.weight_shape,
                     count, 1e3 * fp_s, 1e3 * int8_s, fp_s / int8_s)
        rates[kind] = {"ratio": round(fp_total / int8_total, 3), "shapes": measured}
    return rates
