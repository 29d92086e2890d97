"""`ovdq emulate` (runtime/emulation.py): the environment it gives a command is the host class it names, and what
the kernels compute under it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from ov_diffusion_quant.orchestration import emulation
from ov_diffusion_quant.runtime import host_facts

PROBE = """
import json, os, openvino
from ov_diffusion_quant.runtime import host_facts
print(json.dumps({"default": str(openvino.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")),
                  "onednn": os.environ["ONEDNN_MAX_CPU_ISA"], "isa": host_facts.isa_class(),
                  "precision": host_facts.resolve_precision("auto", host_facts.isa_class())}))
"""


def this_cpu_has(host_class: str):
    flag = emulation.REQUIRED_FLAG[host_class]
    return pytest.mark.skipif(flag not in host_facts.cpu_flags(), reason=f"this CPU has no {flag}: cannot emulate {host_class}")


def emulated(host_class: str, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ov_diffusion_quant.cli.main", "emulate", host_class, "--", *command],
                          capture_output=True, text=True, cwd=REPO)


@this_cpu_has("avx512")
def test_a_host_without_bf16_gets_its_class_an_isa_cap_and_f32_by_default():
    result = emulated("avx512", sys.executable, "-c", PROBE)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"default": "<Type: 'float32'>", "onednn": "AVX512_CORE",
                                                          "isa": "avx512", "precision": "f32"}


@this_cpu_has("avx512_bf16")
def test_a_host_with_bf16_keeps_openvinos_default():
    result = emulated("avx512_bf16", sys.executable, "-c", PROBE)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.splitlines()[-1])
    assert (probe["onednn"], probe["isa"], probe["precision"]) == ("AVX512_CORE_BF16", "avx512_bf16", "bf16")


def test_a_class_above_this_cpu_is_refused_in_one_line():
    missing = [name for name, flag in emulation.REQUIRED_FLAG.items() if flag not in host_facts.cpu_flags()]
    if not missing:
        pytest.skip("this CPU has every class the script emulates")
    result = emulated(missing[-1], "true")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: cannot emulate {missing[-1]!r} on this CPU: it lacks ")
    assert len(result.stderr.splitlines()) == 1


@this_cpu_has("avx512")
def test_avx2_runs_int8_and_weight_compressed_layers_in_its_kernels(tmp_path):
    """Under the AVX2 cap on an AVX-512 CPU, OpenVINO would compile a weight-compressed MatMul for dynamic
    quantization (it decides that from CPUID) and find no kernel; on avx2 there is none, as on a real AVX2 host."""
    import nncf
    import numpy as np
    import openvino as ov
    from openvino import opset13 as ops

    x = ops.parameter([4, 64], np.float32, name="x")
    weights = ops.constant(np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32))
    model = ov.Model([ops.matmul(x, weights, False, True)], [x])
    ov.save_model(nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM), tmp_path / "compressed.xml")
    probe = (f"import json, numpy, openvino; core = openvino.Core(); "
             f"compiled = core.compile_model({str(tmp_path / 'compressed.xml')!r}, 'CPU'); "
             f"compiled(numpy.ones((4, 64), numpy.float32)); "
             f"print(json.dumps([str(core.get_property('CPU', p)) for p in "
             f"('INFERENCE_PRECISION_HINT', 'DYNAMIC_QUANTIZATION_GROUP_SIZE')]))")
    result = emulated("avx2", sys.executable, "-c", probe)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == ["<Type: 'float32'>", "0"]
    assert result.stderr.startswith("note: emulated avx2 cannot run the PixArt transformer (")


def test_no_command_is_one_line_saying_how_to_give_it():
    result = emulated("avx512")
    assert result.returncode == 2
    assert result.stderr.startswith("error: no command: give it after --") and len(result.stderr.splitlines()) == 1


def test_a_class_it_does_not_know_is_one_line_naming_it_and_the_allowed_ones():
    result = emulated("sse4", "true")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "'sse4' (not a host class)" in result.stderr
    assert all(name in result.stderr for name in emulation.ONEDNN_ISA), "it names the classes it can emulate"


def test_its_classes_without_bf16_and_their_flags_are_the_host_modules(monkeypatch):
    monkeypatch.delenv(host_facts.ISA_OVERRIDE_ENV, raising=False)  # the suite may itself run under emulation
    module = emulation
    assert module.ISA_OVERRIDE_ENV == host_facts.ISA_OVERRIDE_ENV
    assert set(module.ONEDNN_ISA) <= set(host_facts.ISA_CLASSES)
    assert module.WITHOUT_BF16 == {name for name in module.ONEDNN_ISA if not host_facts.has_bf16(name)}
    assert set(module.REQUIRED_FLAG) == set(module.ONEDNN_ISA)
    # each class's flag is what ov_diffusion_quant/runtime/host_facts.py needs to detect that class
    for name, flag in module.REQUIRED_FLAG.items():
        assert host_facts.isa_class({flag, "avx2"} | ({"avx512f"} if name != "avx2" else set())) == name


def _outputs_with_and_without_vnni(tmp_path, names: tuple[str, ...], inputs) -> dict:
    """Each saved model tmp_path/<name>.xml run on ``inputs`` under emulated avx512 and avx512_vnni (one process
    per class: oneDNN reads its cap at start-up), as {class: {name: output}}."""
    np.save(tmp_path / "inputs.npy", inputs)
    probe = (f"import numpy, openvino; core = openvino.Core(); x = numpy.load({str(tmp_path / 'inputs.npy')!r}); "
             f"numpy.savez(__import__('sys').argv[1], **{{f: core.compile_model({str(tmp_path)!r} + f'/{{f}}.xml', 'CPU')(x)[0] "
             f"for f in {names!r}}})")
    outputs = {}
    for host_class in ("avx512", "avx512_vnni"):
        result = emulated(host_class, sys.executable, "-c", probe, str(tmp_path / f"{host_class}.npz"))
        assert result.returncode == 0, result.stderr[-2000:]
        outputs[host_class] = np.load(tmp_path / f"{host_class}.npz")
    return outputs


def _saturating_int8_matmul(codes, zero_point, weights):
    """What an INT8 MatMul computes without VNNI: u8 activations times s8 weights, each pair of products summed in
    16 bits with saturation (vpmaddubsw), then in 32 bits; the zero point's term is exact."""
    pairs = (codes[:, None, 0::2] * weights[None, :, 0::2] + codes[:, None, 1::2] * weights[None, :, 1::2])
    return np.clip(pairs, -32768, 32767).sum(-1) - zero_point * weights.sum(1)[None, :]


@this_cpu_has("avx512_vnni")
def test_without_vnni_int8_sums_saturate_in_16_bits_unless_nncfs_overflow_fix_halves_the_weights(tmp_path):
    """Why NNCF's `overflow_fix` knob exists, and that the emulation reproduces it: on avx512 (no VNNI) an NNCF-quantized
    MatMul (asymmetric activations, as the pipeline's mixed preset) is what a simulation of 16-bit saturated pair sums
    gives, and differs from avx512_vnni's exact sums; with the fix (weights within ±63) the two are identical."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix
    from openvino import opset13 as ops

    rng = np.random.default_rng(0)
    x = ops.parameter([16, 128], np.float32, name="x")
    model = ov.Model([ops.matmul(x, ops.constant(rng.standard_normal((128, 128)).astype(np.float32)), False, True)], [x])
    data = nncf.Dataset([rng.standard_normal((16, 128)).astype(np.float32) for _ in range(8)])
    for fix in ("disable", "enable"):
        quantized = nncf.quantize(model, data, preset=nncf.QuantizationPreset.MIXED, subset_size=8,
                                  advanced_parameters=AdvancedQuantizationParameters(overflow_fix=OverflowFix(fix)))
        ov.save_model(quantized, tmp_path / f"{fix}.xml")
    inputs = rng.standard_normal((16, 128)).astype(np.float32)
    outputs = _outputs_with_and_without_vnni(tmp_path, ("disable", "enable"), inputs)

    def relative(a, b):
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))

    # the quantized model's own integers: the activations' FakeQuantize range and the compressed weights
    graph = ov.Core().read_model(tmp_path / "disable.xml")
    fake_quantize = next(op for op in graph.get_ordered_ops() if op.get_type_name() == "FakeQuantize")
    low, high = (float(fake_quantize.input_value(i).get_node().get_data().ravel()[0]) for i in (1, 2))
    constants = {str(op.get_element_type()): op.get_data() for op in graph.get_ordered_ops()
                 if op.get_type_name() == "Constant" and op.get_output_shape(0) in ([128, 128], [128, 1])}
    weights, weight_scale = constants["<Type: 'int8_t'>"].astype(np.int64), constants["<Type: 'float32'>"]
    step = (high - low) / 255
    codes = np.clip(np.round((inputs - low) / step), 0, 255).astype(np.int64)
    exact = ((codes - (-low / step)) @ weights.T) * step * weight_scale.T
    saturated = _saturating_int8_matmul(codes, -low / step, weights) * step * weight_scale.T

    assert relative(outputs["avx512_vnni"]["disable"], exact) < 1e-5
    assert relative(outputs["avx512"]["disable"], saturated) < 1e-5
    assert relative(outputs["avx512"]["disable"], outputs["avx512_vnni"]["disable"]) > 0.01
    assert np.array_equal(outputs["avx512"]["enable"], outputs["avx512_vnni"]["enable"])


@this_cpu_has("avx512_vnni")
def test_a_model_the_saturation_rule_clears_computes_the_same_bits_with_and_without_vnni(tmp_path):
    """recipes.saturating_int8_ops (what the recipe search skips without VNNI) against the kernels: an attention block
    quantized as NNCF does for transformers has both causes and differs between avx512 and avx512_vnni; with the
    overflow fix and the attention in float the rule finds nothing and the two classes compute identical outputs."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix
    from openvino import opset13 as ops

    from ov_diffusion_quant.quantization.ir_analysis import saturating_int8_ops

    rng = np.random.default_rng(1)
    x = ops.parameter([1, 64, 64], np.float32, name="x")

    def linear(data, name):
        weights = ops.constant(rng.standard_normal((64, 64)).astype(np.float32) / 8)
        return ops.matmul(data, weights, False, True, name=name)

    q, k, v = (ops.reshape(linear(x, n), [1, 64, 4, 16], False) for n in ("to_q", "to_k", "to_v"))
    heads = [ops.transpose(t, [0, 2, 1, 3]) for t in (q, k, v)]
    attention = ops.transpose(ops.scaled_dot_product_attention(*heads, causal=False), [0, 2, 1, 3])
    model = ov.Model([linear(ops.reshape(attention, [1, 64, 64], False), "to_out")], [x])
    data = nncf.Dataset([rng.standard_normal((1, 64, 64)).astype(np.float32) * 3 for _ in range(8)])
    recipes = {"saturating": {},
               "cleared": {"advanced_parameters": AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE),
                           "ignored_scope": nncf.IgnoredScope(types=["ScaledDotProductAttention"])}}
    found = {}
    for name, arguments in recipes.items():
        quantized = nncf.quantize(model, data, model_type=nncf.ModelType.TRANSFORMER, subset_size=8, **arguments)
        found[name] = saturating_int8_ops(quantized)
        ov.save_model(quantized, tmp_path / f"{name}.xml")
    assert set(found["saturating"]) == {"INT8 products of two activations (attention)",
                                        "INT8 weights beyond ±64 (overflow_fix is not enable)"}
    assert found["cleared"] == {}
    outputs = _outputs_with_and_without_vnni(tmp_path, ("saturating", "cleared"),
                                             rng.standard_normal((1, 64, 64)).astype(np.float32) * 3)
    assert not np.allclose(outputs["avx512"]["saturating"], outputs["avx512_vnni"]["saturating"], rtol=1e-3, atol=1e-3)
    assert np.array_equal(outputs["avx512"]["cleared"], outputs["avx512_vnni"]["cleared"])


@this_cpu_has("avx512_vnni")
def test_int8_attention_saturates_without_vnni_unless_its_keys_are_in_half_range(tmp_path):
    """attention_overflow_fix against the kernels: Q·Kᵀ of an attention NNCF quantized (overflow fix on, so only the
    attention can saturate) differs between avx512 and avx512_vnni on queries and keys at the ends of their range;
    with recipes.half_range_attention_keys the rule finds nothing (as quantize reads the saved model) and the two
    classes compute identical outputs."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix
    from openvino import opset13 as ops

    from ov_diffusion_quant.quantization.ir_analysis import half_range_attention_keys, saturating_int8_ops

    rng = np.random.default_rng(2)
    x = ops.parameter([1, 64, 64], np.float32, name="x")
    identity = ops.constant(np.eye(64, dtype=np.float32))
    q, k = (ops.reshape(ops.matmul(x, identity, False, True, name=n), [1, 64, 4, 16], False) for n in ("to_q", "to_k"))
    v = ops.reshape(x, [1, 64, 4, 16], False)
    heads = [ops.transpose(t, [0, 2, 1, 3]) for t in (q, k, v)]
    model = ov.Model([ops.scaled_dot_product_attention(*heads, causal=False)], [x])

    def signs():  # every query and key at the end of its range: the largest pairs of products
        return rng.choice(np.float32([-3, 3]), (1, 64, 64))

    for name in ("int8_attention", "keys_in_half_range"):
        quantized = nncf.quantize(model, nncf.Dataset([signs() for _ in range(8)]), model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=8,
                                  advanced_parameters=AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE))
        if name == "keys_in_half_range":
            assert len(half_range_attention_keys(quantized)) == 1
        ov.save_model(quantized, tmp_path / f"{name}.xml")
        found = saturating_int8_ops(ov.Core().read_model(tmp_path / f"{name}.xml"))
        assert found == ({} if name == "keys_in_half_range" else {"INT8 products of two activations (attention)": 1})
    outputs = _outputs_with_and_without_vnni(tmp_path, ("int8_attention", "keys_in_half_range"), signs())
    assert not np.allclose(outputs["avx512"]["int8_attention"], outputs["avx512_vnni"]["int8_attention"], rtol=1e-3,
                           atol=1e-3)
    assert np.array_equal(outputs["avx512"]["keys_in_half_range"], outputs["avx512_vnni"]["keys_in_half_range"])
