"""scripts/emulate_host.py: the environment it gives a command is the host class it names."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO

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
    assert "no command: give it after --" in result.stderr


def test_a_class_it_cannot_emulate_is_one_line_naming_it_and_the_allowed_ones():
    result = emulated("avx2", "true")
    assert result.returncode == 2
    assert "cannot emulate 'avx2' (OpenVINO's CPU plugin crashes" in result.stderr
    assert "allowed are avx512, avx512_vnni, avx512_bf16" in result.stderr.splitlines()[-1]
