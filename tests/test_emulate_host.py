"""scripts/emulate_host.py: the environment it gives a command is the host class it names."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

from conftest import REPO
from stages.runtime import host

SCRIPT = REPO / "scripts" / "emulate_host.py"
PROBE = """
import json, os, openvino
from stages.runtime import host
print(json.dumps({"default": str(openvino.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")),
                  "onednn": os.environ["ONEDNN_MAX_CPU_ISA"], "isa": host.isa_class(),
                  "precision": host.resolve_precision("auto", host.isa_class())}))
"""


def emulated(host_class: str, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), host_class, "--", *command], capture_output=True, text=True,
                          cwd=REPO)


def test_a_host_without_bf16_gets_its_class_an_isa_cap_and_f32_by_default():
    result = emulated("avx512", sys.executable, "-c", PROBE)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"default": "<Type: 'float32'>", "onednn": "AVX512_CORE",
                                                          "isa": "avx512", "precision": "f32"}


def test_a_host_with_bf16_keeps_openvinos_default():
    result = emulated("avx512_bf16", sys.executable, "-c", PROBE)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.splitlines()[-1])
    assert (probe["onednn"], probe["isa"], probe["precision"]) == ("AVX512_CORE_BF16", "avx512_bf16", "bf16")


def test_no_command_is_one_line_saying_how_to_give_it():
    result = emulated("avx512")
    assert result.returncode == 2
    assert result.stderr == "error: no command: give it after --, e.g. `-- make test`\n"


def test_a_class_it_cannot_emulate_is_one_line_naming_it_and_the_allowed_ones():
    result = emulated("avx2", "true")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("error: cannot emulate 'avx2' (OpenVINO's CPU plugin crashes")
    assert line.endswith("allowed are avx512, avx512_vnni, avx512_bf16")


def test_its_classes_without_bf16_are_the_host_modules():
    spec = importlib.util.spec_from_file_location("emulate_host", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert set(script.ONEDNN_ISA) <= set(host.ISA_CLASSES)
    assert script.WITHOUT_BF16 == {name for name in script.ONEDNN_ISA if not host.has_bf16(name)}
