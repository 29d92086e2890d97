"""The INT8 rates behind the op profile's ceiling: the heavy nodes found by shape, their FLOPs, and a measured
FP-vs-INT8 ratio of the kernels per kind on a model built here."""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest
from openvino import opset13 as ops

from ov_diffusion_quant.benchmarking import kernel_rates
from ov_diffusion_quant.benchmarking.kernel_rates import HeavyOp


def weights(shape):
    return ops.convert(ops.constant(np.full(shape, 0.01, np.float16)), np.float32)


def small_model() -> ov.Model:
    image = ops.parameter([1, 8, 16, 16], np.float32, name="image")
    conv = ops.convolution(image, weights((16, 8, 3, 3)), [1, 1], [1, 1], [1, 1], [1, 1])
    tokens = ops.reshape(conv, ops.constant(np.array([1, 16, 256], np.int64)), False)  # [1, 16 tokens, 256]
    first = ops.matmul(tokens, weights((256, 256)), False, True)
    second = ops.matmul(first, weights((256, 256)), False, True)
    scores = ops.matmul(first, second, False, True)  # activations times activations: not weight-bearing
    heads = ops.reshape(second, ops.constant(np.array([1, 4, 16, 64], np.int64)), False)
    attention = ops.scaled_dot_product_attention(heads, heads, heads)
    return ov.Model([scores, attention], [image])


def test_heavy_ops_are_the_weight_bearing_nodes_grouped_by_shape_with_their_flops():
    counts = kernel_rates.heavy_ops(small_model())
    matmul = HeavyOp("matmul", (1, 16, 256), (256, 256), (False, True))
    conv = HeavyOp("convolution", (1, 8, 16, 16), (16, 8, 3, 3), ((1, 1), (1, 1), (1, 1), (1, 1)))
    attention = HeavyOp("attention", (1, 4, 16, 64), (1, 4, 16, 64), ((1, 4, 16, 64), False))
    assert counts == {matmul: 2, conv: 1, attention: 1}
    assert matmul.flops() == 2 * 16 * 256 * 256
    assert conv.flops() == 2 * 16 * 16 * 16 * 8 * 9
    assert attention.flops() == 2 * 4 * 16 * 16 * (64 + 64)
    assert kernel_rates.heaviest(counts, "matmul") == {matmul: 2}


def test_int8_rates_measure_every_kind_on_the_models_own_shapes():
    rates = kernel_rates.int8_rates(ov.Core(), small_model(), {})
    assert set(rates) == {"matmul", "convolution", "attention"}
    for kind, rate in rates.items():
        [shape] = rate["shapes"]
        assert rate["ratio"] > 0 and shape["fp_s"] > 0 and shape["int8_s"] > 0
    assert rates["matmul"]["shapes"][0]["count"] == 2
    int8 = kernel_rates.one_op_model(HeavyOp("matmul", (1, 16, 256), (256, 256), (False, True)))
    import nncf

    quantized = nncf.quantize(int8, nncf.Dataset([np.ones((1, 16, 256), np.float32)]), subset_size=1)
    assert any(op.get_type_name() == "FakeQuantize" for op in quantized.get_ops()), "what the INT8 side measures"


def test_the_attention_side_quantizes_query_and_key_and_times_only_the_attention_kernel():
    import nncf

    op = HeavyOp("attention", (1, 2, 32, 16), (1, 2, 32, 16), ((1, 2, 32, 16), False))
    inputs = kernel_rates.example_inputs(op)
    quantized = nncf.quantize(kernel_rates.one_op_model(op), nncf.Dataset([inputs]), subset_size=1,
                              model_type=nncf.ModelType.TRANSFORMER)
    sdpa = next(node for node in quantized.get_ops() if node.get_type_name() == "ScaledDotProductAttention")
    fed = [sdpa.input_value(port).get_node().get_type_name() for port in range(3)]
    assert fed == ["FakeQuantize", "FakeQuantize", "Parameter"]
    assert kernel_rates.group_of("scaled_dot_product_attention", "Subgraph") == "attention"
    assert kernel_rates.group_of("query/fq_output_0", "Subgraph") == "other"
    assert kernel_rates.kernel_seconds(ov.Core(), quantized, "attention", {}, inputs) > 0
    with pytest.raises(RuntimeError, match="no convolution node ran"):
        kernel_rates.kernel_seconds(ov.Core(), quantized, "convolution", {}, inputs)


def test_a_fused_attention_named_after_another_layer_is_still_attention():
    """In f32 the CPU plugin fuses attention with the transposes around it into a subgraph named after a transpose."""
    tokens = ops.parameter([1, 64, 4, 16], np.float32, name="tokens")
    order = ops.constant(np.array([0, 2, 1, 3], np.int64))
    query, key, value = (ops.transpose(ops.multiply(tokens, ops.constant(np.float32(scale))), order)
                         for scale in (1.0, 0.5, 2.0))
    attention = ops.scaled_dot_product_attention(query, key, value, name="attn1/aten::scaled_dot_product_attention")
    compiled = ov.Core().compile_model(ov.Model([ops.transpose(attention, order)], [tokens]), "CPU",
                                       {"PERF_COUNT": True, "INFERENCE_PRECISION_HINT": "f32"})
    groups = kernel_rates.runtime_groups(compiled)
    request = compiled.create_infer_request()
    request.infer([np.ones((1, 64, 4, 16), np.float32)])
    ran = {info.node_name: groups[info.node_name] for info in request.profiling_info if info.real_time.total_seconds()}
    assert "attention" in ran.values(), ran
    assert not any("scaled_dot_product_attention" in name for name in ran), "the case this test is for: renamed"
