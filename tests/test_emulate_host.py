"""scripts/emulate_host.py: the environment it gives a command is the host class it names."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from conftest import REPO
from ov_diffusion_quant.runtime import host_facts

SCRIPT = REPO / "scripts" / "emulate_host.py"
PROBE = """
import json, os, openvino
from ov_diffusion_quant.runtime import host_facts
print(json.dumps({"default": str(openvino.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")),
                  "onednn": os.environ["ONEDNN_MAX_CPU_ISA"], "isa": host_facts.isa_class(),
                  "precision": host_facts.resolve_precision("auto", host_facts.isa_class())}))
"""


def script():
    spec = importlib.util.spec_from_file_location("emulate_host", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def this_cpu_has(host_class: str):
    flag = script().REQUIRED_FLAG[host_class]
    return pytest.mark.skipif(flag not in host_facts.cpu_flags(), reason=f"this CPU has no {flag}: cannot emulate {host_class}")


def emulated(host_class: str, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), host_class, "--", *command], capture_output=True, text=True,
                          cwd=REPO)


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
    missing = [name for name, flag in script().REQUIRED_FLAG.items() if flag not in host_facts.cpu_flags()]
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
    assert result.stderr == "error: no command: give it after --, e.g. `-- make test`\n"


def test_a_class_it_does_not_know_is_one_line_naming_it_and_the_allowed_ones():
    result = emulated("sse4", "true")
    assert result.returncode == 2
    assert result.stderr == "error: cannot emulate 'sse4' (not a host class): allowed are avx2, avx512, avx512_vnni, avx512_bf16\n"


def test_its_classes_without_bf16_and_their_flags_are_the_host_modules(monkeypatch):
    monkeypatch.delenv(host_facts.ISA_OVERRIDE_ENV, raising=False)  # the suite may itself run under emulation
    module = script()
    assert set(module.ONEDNN_ISA) <= set(host_facts.ISA_CLASSES)
    assert module.WITHOUT_BF16 == {name for name in module.ONEDNN_ISA if not host_facts.has_bf16(name)}
    assert set(module.REQUIRED_FLAG) == set(module.ONEDNN_ISA)
    # each class's flag is what ov_diffusion_quant/runtime/host_facts.py needs to detect that class
    for name, flag in module.REQUIRED_FLAG.items():
        assert host_facts.isa_class({flag, "avx2"} | ({"avx512f"} if name != "avx2" else set())) == name
