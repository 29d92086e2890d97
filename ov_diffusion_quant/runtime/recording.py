"""Hooks around a loaded pipeline's compiled models: record inputs (calibration), time calls (benchmark); the
input shapes of a recorded input.

This is the notebooks' CompiledModelDecorator idea, generalised: each family says where
its components' compiled models are called (`compiled_model_slots`), and a hook swaps in
a wrapper there for the duration of a `with` block.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator

import numpy as np
import openvino as ov


def input_shapes(model: ov.Model, sample: dict[str, np.ndarray]) -> dict:
    """{port: the shape of its value in ``sample``}, matching a port by any of its names."""
    return {port: list(sample[next(iter(port.get_names() & sample.keys()))].shape) for port in model.inputs}


class RecordingCompiledModel(ov.CompiledModel):
    """Calls through to the compiled model and keeps a copy of every call's named inputs."""

    def __init__(self, compiled: ov.CompiledModel, sink: list[dict[str, np.ndarray]]):
        super().__init__(compiled)
        self.sink = sink
        self.ranks = {name: port.get_partial_shape().rank.get_length()
                      for port in compiled.inputs if port.get_partial_shape().rank.is_static
                      for name in port.get_names()}

    def __call__(self, inputs, *args, **kwargs):
        sample = {}
        for name, value in inputs.items():
            array = np.array(value, copy=True)
            if array.ndim == 0 and self.ranks.get(name) == 1:  # a scalar timestep for a [batch] input
                array = array.reshape(1)
            sample[name] = array
        self.sink.append(sample)
        return super().__call__(inputs, *args, **kwargs)


class TimedCompiledModel(ov.CompiledModel):
    """Calls through to the compiled model and appends each call's wall time (seconds) to ``sink``."""

    def __init__(self, compiled: ov.CompiledModel, sink: list[float]):
        super().__init__(compiled)
        self.sink = sink

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        result = super().__call__(*args, **kwargs)
        self.sink.append(time.perf_counter() - started)
        return result


@contextlib.contextmanager
def hooked(pipeline, component: str, wrap: Callable[[ov.CompiledModel], ov.CompiledModel]) -> Iterator[None]:
    holder, attribute = pipeline.compiled_model_slots()[component]
    original = getattr(holder, attribute)
    setattr(holder, attribute, wrap(original))
    try:
        yield
    finally:
        setattr(holder, attribute, original)


@contextlib.contextmanager
def recorded_calls(pipeline) -> Iterator[dict[str, list[dict[str, np.ndarray]]]]:
    """Every component's calls inside the block: {component: [its named inputs, per call]}."""
    calls: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in pipeline.compiled_model_slots()}
    with contextlib.ExitStack() as stack:
        for name in calls:
            stack.enter_context(hooked(pipeline, name, lambda compiled, sink=calls[name]:
                                       RecordingCompiledModel(compiled, sink)))
        yield calls


def call_shapes(calls: dict[str, list[dict[str, np.ndarray]]]) -> dict[str, dict]:
    """What one run called: {component: {"calls": how many times, "inputs": {name: shape} of the first call}}, for
    the components it called."""
    return {name: {"calls": len(made), "inputs": {key: list(value.shape) for key, value in made[0].items()}}
            for name, made in calls.items() if made}
