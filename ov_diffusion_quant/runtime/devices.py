"""OpenVINO devices: validation against what this machine has, and compile settings."""

from __future__ import annotations

import functools

from ov_diffusion_quant.common.errors import UserError

# Devices this tool accepts besides the ones OpenVINO lists. AUTO picks a device itself.
VIRTUAL_DEVICES = ("AUTO",)


@functools.lru_cache(maxsize=1)
def available_devices() -> tuple[str, ...]:
    import openvino as ov

    return tuple(ov.Core().available_devices)


def check_device(device: str) -> str:
    """Return ``device`` if OpenVINO can use it here, else raise a one-line UserError.

    Policy: a device this machine does not have fails its stage with this message;
    it is never silently skipped (a skipped stage would look like a result in DVC).
    """
    allowed = available_devices() + VIRTUAL_DEVICES
    if device not in allowed:
        raise UserError(f"unknown device {device!r}: this machine has {', '.join(allowed)}")
    return device


def nncf_target_device(device: str):
    """NNCF's TargetDevice for an OpenVINO device name (ANY for AUTO)."""
    import nncf

    base = device.split(".")[0].split(":")[0]
    return {"CPU": nncf.TargetDevice.CPU, "GPU": nncf.TargetDevice.GPU, "NPU": nncf.TargetDevice.NPU}.get(
        base, nncf.TargetDevice.ANY
    )


def compile_config(f32: bool = False, extra: dict | None = None) -> dict:
    """OpenVINO compile properties; ``f32`` forces f32 execution (no bf16 on AMX). Otherwise the precision
    the host stage resolved (params host.precision) is set explicitly, so that a stage computes what its
    data/host/runtime.json dep says; outside a pipeline run the device chooses."""
    from ov_diffusion_quant.runtime.host_facts import inference_precision

    config = dict(extra or {})
    precision = "f32" if f32 else inference_precision()
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    return config
