"""The environment of a command run as if on a smaller host class (`ovdq emulate avx512 -- make test`).

For measuring what a host class this machine is not would get (docs/hosts-and-caching.md#emulating-a-host):
- OVDQ_HOST_ISA makes the pipeline's host stage report the class, so its precision (f32 without bf16) applies;
- ONEDNN_MAX_CPU_ISA caps the kernels oneDNN picks, in OpenVINO and in torch (e.g. avx512: no VNNI, no AMX:
  INT8 runs in brgemm_avx512_i8 instead of brgemm_avx512_amx_i8);
- every openvino.Core gets the CPU defaults OpenVINO would pick on such a CPU by itself, which it otherwise reads
  from CPUID past the cap (``set_cpu_defaults_on_import``, run by a sitecustomize.py that `emulated_environment` puts
  on PYTHONPATH): f32 on classes without bf16; on avx2 no dynamic
  quantization of weight-compressed layers (it needs VNNI; with the cap and AVX-512 CPUID the plugin asks oneDNN
  for a kernel the cap forbids, and compile fails).
What it cannot emulate: the other CPU's clock, caches and memory bandwidth. Compare as ratios on one machine.

Standard library only: importing the entry points' setup (common.errors) would put its quiet logging variables into
the environment the command inherits.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

ISA_OVERRIDE_ENV = "OVDQ_HOST_ISA"  # the class runtime/host_facts.py reports instead of this CPU's (tested: its own)
CPU_DEFAULTS_ENV = "OVDQ_EMULATED_CPU_DEFAULTS"  # read by set_cpu_defaults_on_import
# Python runs a sitecustomize module at start-up: this one runs set_cpu_defaults_on_import from this file, loaded by
# its path (the command's Python need not have this package installed)
SITECUSTOMIZE = """# written by {path} for `ovdq emulate`
import importlib.util
spec = importlib.util.spec_from_file_location("ovdq_emulation", {path!r})
emulation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(emulation)
emulation.set_cpu_defaults_on_import()
"""

# host class (runtime/host_facts.py ISA_CLASSES) -> oneDNN's cap (oneDNN docs, "CPU Dispatcher Controls")
ONEDNN_ISA = {
    "avx2": "AVX2",
    "avx512": "AVX512_CORE",
    "avx512_vnni": "AVX512_CORE_VNNI",
    "avx512_bf16": "AVX512_CORE_BF16",
}
WITHOUT_BF16 = {"avx2", "avx512", "avx512_vnni"}  # the classes not in host_facts.BF16_CLASSES (tested)
# the CPU flag each class needs (/proc/cpuinfo): a cap only takes features away, so the CPU must have the class
REQUIRED_FLAG = {"avx2": "avx2", "avx512": "avx512f", "avx512_vnni": "avx512_vnni", "avx512_bf16": "avx512_bf16"}
# OpenVINO's CPU properties each class gets by default (sitecustomize.py sets them on every Core): the ones the
# plugin would choose by itself on such a CPU but decides from CPUID, past oneDNN's cap
CPU_DEFAULTS = {name: {"INFERENCE_PRECISION_HINT": "f32"} for name in WITHOUT_BF16}
CPU_DEFAULTS["avx2"]["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = 0
# What OpenVINO 2026.4.1 cannot run under a class's cap on a bigger CPU (a JIT reorder of a u8 constant to i32,
# compiled past the cap, crashes): said before the command starts, since the crash itself is a segfault
CANNOT_RUN = {"avx2": "the PixArt transformer (OpenVINO's CPU plugin segfaults running it under the AVX2 cap "
                      "on an AVX-512 CPU): emulate avx2 for SDXL variants only"}


class CannotEmulate(ValueError):
    """A class this CPU or this tool cannot emulate; the message is the user's one line."""


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return next((set(line.split(":", 1)[1].split()) for line in text.splitlines() if line.startswith("flags")), set())


def emulated_environment(host_class: str, environment: dict[str, str] | None = None) -> dict[str, str]:
    """``environment`` (default: this process's) with the variables that make a command run as on ``host_class``."""
    if host_class not in ONEDNN_ISA:
        raise CannotEmulate(f"cannot emulate {host_class!r} (not a host class): allowed are {', '.join(ONEDNN_ISA)}")
    if REQUIRED_FLAG[host_class] not in cpu_flags():
        raise CannotEmulate(f"cannot emulate {host_class!r} on this CPU: it lacks {REQUIRED_FLAG[host_class]} "
                            "(emulation only takes features away; run on the host class itself)")
    env = dict(os.environ if environment is None else environment)
    env.update({ISA_OVERRIDE_ENV: host_class, "ONEDNN_MAX_CPU_ISA": ONEDNN_ISA[host_class]})
    if host_class in CPU_DEFAULTS:
        env[CPU_DEFAULTS_ENV] = json.dumps(CPU_DEFAULTS[host_class])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(sitecustomize_dir()), env.get("PYTHONPATH")]))
    return env


def sitecustomize_dir() -> Path:
    """A directory holding the sitecustomize.py that runs ``set_cpu_defaults_on_import`` (written once per checkout)."""
    text = SITECUSTOMIZE.format(path=str(Path(__file__).resolve()))
    directory = Path(tempfile.gettempdir()) / f"ovdq-emulate-{hashlib.sha1(text.encode()).hexdigest()[:12]}"
    target = directory / "sitecustomize.py"
    if not target.is_file() or target.read_text() != text:
        directory.mkdir(exist_ok=True)
        partial = directory / f".sitecustomize.{os.getpid()}"
        partial.write_text(text)
        partial.replace(target)
    return directory


def set_cpu_defaults_on_import() -> None:
    """Every ``openvino.Core`` of this process gets the CPU properties in CPU_DEFAULTS_ENV (JSON), if it is set.

    OpenVINO picks some CPU defaults from CPUID, which ONEDNN_MAX_CPU_ISA does not change: on an AMX host capped to
    AVX-512, a compile without a precision hint would run bf16 in oneDNN's slow reference kernels, which no real host
    does. So the Core is patched as OpenVINO's module is imported, before anything can create one.
    """
    if not os.environ.get(CPU_DEFAULTS_ENV):
        return

    class SetCpuDefaultsOnImport(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "openvino._ov_api":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            run_module = spec.loader.exec_module

            def exec_module(module):
                run_module(module)
                base_init = module.CoreBase.__init__

                def __init__(self, *args, **kwargs):
                    base_init(self, *args, **kwargs)
                    self.set_property("CPU", json.loads(os.environ[CPU_DEFAULTS_ENV]))

                module.Core.__init__ = __init__

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, SetCpuDefaultsOnImport())
