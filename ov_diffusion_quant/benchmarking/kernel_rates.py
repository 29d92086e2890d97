"""How much faster this CPU runs a model's matrix multiplications, convolutions and attention in INT8 than in its FP
precision, measured on the model's own heaviest shapes: the INT8 ceiling of `ovdq profile` (op_profile.py).

The FP model is read with static shapes; its MatMul and Convolution nodes with constant weights, and its
ScaledDotProductAttention nodes, are grouped by shape and attributes and ranked by FLOPs. The heaviest groups
(together at least ``COVER`` of each kind's FLOPs, at most ``MAX_SHAPES``) are each built as a one-node model (FP16
weights, as the export writes them), compiled at the host's precision, then quantized by NNCF (``nncf.quantize`` with
``ModelType.TRANSFORMER``: FakeQuantize on weights and activations, and on attention's query and key) and compiled
again. Each side's time is the kernel's own, from PERF_COUNT (the nodes of the kind, not the quantization of the
input in front of them, which a real model fuses into the op before); the ratio of the two, weighted by the groups'
counts, is the kind's INT8 rate.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

KINDS = ("matmul", "convolution", "attention")
COVER = 0.8
MAX_SHAPES = 4


@dataclass(frozen=True)
class HeavyOp:
    kind: str
    input_shape: tuple[int, ...]  # attention: the query's
    weight_shape: tuple[int, ...]  # attention: the key's
    attributes: tuple  # MatMul: (transpose_a, transpose_b); Convolution: (strides, pads_begin, pads_end, dilations);
    #                    attention: (the value's shape, causal)

    def flops(self) -> int:
        if self.kind == "attention":  # Q·Kᵀ and the weighted sum of V
            *batch, queries, depth = self.input_shape
            keys, value_depth = self.weight_shape[-2], self.attributes[0][-1]
            return 2 * int(np.prod(batch, dtype=np.int64)) * queries * keys * (depth + value_depth)
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


def group_of(node_name: str, node_type: str) -> str:
    """The op profile's group of a runtime node (a PERF_COUNT entry): its kind, or "other"."""
    if "scaled_dot_product_attention" in node_name or node_type == "ScaledDotProductAttention":
        return "attention"
    if node_type.startswith(("FullyConnected", "MatMul", "LLMMLP", "QKVProjection")):
        return "matmul"
    if node_type.startswith(("Convolution", "GroupConvolution", "Deconvolution")):
        return "convolution"
    return "other"


def runtime_groups(compiled) -> dict[str, str]:
    """The group of each node of a compiled model's runtime graph, by its name (PERF_COUNT's node_name). A fused node
    is attention when any layer it was fused from was a scaled-dot-product attention: in f32 the CPU plugin names the
    fused attention subgraph after its first Transpose."""
    groups = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        origin = info["originalLayersNames"].astype(str) if "originalLayersNames" in info.keys() else ""
        groups[op.get_friendly_name()] = group_of(f"{op.get_friendly_name()},{origin}", info["layerType"].astype(str))
    return groups


def heavy_ops(model) -> dict[HeavyOp, int]:
    """The weight-bearing MatMul and Convolution nodes and the attention nodes of a model with static shapes,
    counted by shape."""
    counts: dict[HeavyOp, int] = {}
    for node in model.get_ordered_ops():
        kind = {"MatMul": "matmul", "Convolution": "convolution",
                "ScaledDotProductAttention": "attention"}.get(node.get_type_name())
        if kind is None or (kind != "attention" and not _constant_source(node.input_value(1))):
            continue
        shapes = [node.input_value(i).get_partial_shape() for i in ((0, 1, 2) if kind == "attention" else (0, 1))]
        if not all(shape.is_static for shape in shapes):
            continue
        attributes = node.get_attributes()
        if kind == "attention":
            attrs = (tuple(shapes[2].to_shape()), bool(attributes.get("causal", False)))
        elif kind == "matmul":
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

    if op.kind == "attention":
        query, key, value = (ops.parameter(list(shape), np.float32, name=name) for shape, name in
                             ((op.input_shape, "query"), (op.weight_shape, "key"), (op.attributes[0], "value")))
        result = ops.scaled_dot_product_attention(query, key, value, causal=op.attributes[1],
                                                  name="scaled_dot_product_attention")
        return ov.Model([result], [query, key, value], op.kind)
    rng = np.random.default_rng(0)
    data = ops.parameter(list(op.input_shape), np.float32, name="x")
    weights = ops.convert(ops.constant((rng.standard_normal(op.weight_shape) * 0.05).astype(np.float16)), np.float32)
    if op.kind == "matmul":
        result = ops.matmul(data, weights, *op.attributes)
    else:
        strides, begin, end, dilations = op.attributes
        result = ops.convolution(data, weights, list(strides), list(begin), list(end), list(dilations))
    return ov.Model([result], [data], op.kind)


def example_inputs(op: HeavyOp) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    shapes = (op.input_shape, op.weight_shape, op.attributes[0]) if op.kind == "attention" else (op.input_shape,)
    return [rng.standard_normal(shape).astype(np.float32) for shape in shapes]


def kernel_seconds(core, model, kind: str, config: dict, inputs: list, min_seconds: float = 0.5) -> float:
    """Median time per inference of the model's nodes of this kind, from PERF_COUNT."""
    compiled = core.compile_model(model, "CPU", {**config, "PERF_COUNT": True})
    groups = runtime_groups(compiled)
    request = compiled.create_infer_request()
    request.infer(inputs)
    times, started = [], time.perf_counter()
    while len(times) < 3 or time.perf_counter() - started < min_seconds:
        request.infer(inputs)
        times.append(sum(info.real_time.total_seconds() for info in request.profiling_info
                         if groups.get(info.node_name, "other") == kind))
    if not max(times):
        ran = sorted({info.node_type for info in request.profiling_info})
        raise RuntimeError(f"no {kind} node ran in the compiled one-node model; it ran {ran}")
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
            inputs = example_inputs(op)
            int8_model = nncf.quantize(one_op_model(op), nncf.Dataset([inputs]), subset_size=1,
                                       model_type=nncf.ModelType.TRANSFORMER, fast_bias_correction=True)
            fp_s = kernel_seconds(core, one_op_model(op), kind, config, inputs)
            int8_s = kernel_seconds(core, int8_model, kind, config, inputs)
            fp_total += count * fp_s
            int8_total += count * int8_s
            measured.append({"input": list(op.input_shape), "weight": list(op.weight_shape), "count": count,
                             "fp_s": round(fp_s, 6), "int8_s": round(int8_s, 6), "ratio": round(fp_s / int8_s, 3)})
            log.info("%s %s x %s (x%d): FP %.2f ms, INT8 %.2f ms, %.2fx", kind, op.input_shape, op.weight_shape,
                     count, 1e3 * fp_s, 1e3 * int8_s, fp_s / int8_s)
        rates[kind] = {"ratio": round(fp_total / int8_total, 3), "shapes": measured}
    return rates
