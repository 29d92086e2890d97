"""Loaded by every Python process that scripts/emulate_host.py starts (it puts this directory on PYTHONPATH).

OpenVINO picks some CPU defaults from CPUID, which ONEDNN_MAX_CPU_ISA does not change: on an AMX host capped to
AVX-512, a compile without a precision hint would run bf16 in oneDNN's slow reference kernels, which no real host
does. So every `openvino.Core` gets the defaults the emulated class would have (OVDQ_EMULATED_CPU_DEFAULTS, JSON,
set by emulate_host.py): f32 without bf16, no dynamic quantization without VNNI on avx2.
"""

import importlib.abc
import importlib.util
import json
import os
import sys

if os.environ.get("OVDQ_EMULATED_CPU_DEFAULTS"):

    class _SetCpuDefaultsOnImport(importlib.abc.MetaPathFinder):
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
                    self.set_property("CPU", json.loads(os.environ["OVDQ_EMULATED_CPU_DEFAULTS"]))

                module.Core.__init__ = __init__

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _SetCpuDefaultsOnImport())
