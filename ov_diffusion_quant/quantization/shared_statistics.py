"""NNCF's statistics collected once, PTQ recipes applied many times: the recipe search's candidates and the
quantize stage share one set of statistics passes over the calibration set.

    statistics = collect(model, calibration, [nncf.quantize kwargs of each recipe, ...])   # the passes, once
    statistics.save(directory); statistics = SharedStatistics.load(directory)
    quantized = quantize_from(model, statistics, **kwargs)                                 # no calibration data

nncf.quantize (OpenVINO) builds ``create_ptq_pipeline(...)``; each step ([SmoothQuant], [MinMax, FastBiasCorrection
or BiasCorrection]) collects its statistic points with one pass over the data on the model as the steps before
left it. ``collect`` builds every recipe's pipeline, groups the steps by that model state (the "prefix": the
model-changing algorithms before the step, e.g. SmoothQuant with its alphas) and fills the union of the recipes'
points in one pass per state. Each statistic is stored under (prefix, the tensor it reads, the collector's
signature). ``quantize_from`` runs the real nncf.quantize with a dataset it must not read and with the pipeline's
statistics collection replaced by a lookup: everything else is NNCF's own code, so the model equals plain
nncf.quantize's (tests/test_shared_statistics.py compares them op by op).

What shares: recipes that differ in ignored scope, preset, overflow fix, fast bias correction or none; SmoothQuant's
own statistics serve any alpha, but the MinMax step after it needs a pass per distinct SmoothQuant setting. What does
not: full bias correction (raw per-layer activations, too large to keep at full size), hybrid (its weights are
compressed first, which changes the activations downstream), accuracy control (NNCF re-runs the model).

Works around: nncf.quantize has no way to take stored statistics (NNCF's own serializer keys a statistic by its
class and point, so two presets' MinMax collide, and refuses SmoothQuant's dict statistics). It touches NNCF
3.4.0 internals (:data:`NNCF_VERSION`): the module global ``nncf.quantization.algorithms.pipeline.collect_statistics``
(replaced during quantize_from), ``Pipeline.pipeline_steps`` / ``get_statistic_points_for_step`` / ``run_step``,
``TensorCollector._stat_container_kwargs_map`` and ``_stat_container``, SmoothQuant's ``_alpha_map``,
``_subset_size`` and ``_inplace_statistics``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

import nncf
import nncf.quantization.algorithms.pipeline as nncf_pipeline_module
from nncf.common.factory import build_graph
from nncf.common.graph.transformations.commands import TargetType
from nncf.common.tensor_statistics import statistics as nncf_statistics
from nncf.common.tensor_statistics.statistic_point import StatisticPointsContainer
from nncf.common.utils.backend import BackendType
from nncf.openvino.graph.model_utils import remove_friendly_name_duplicates
from nncf.quantization.algorithms.post_training.pipeline import create_ptq_pipeline
from nncf.quantization.algorithms.smooth_quant.algorithm import SmoothQuant
from nncf.tensor import Tensor

from ov_diffusion_quant.common.artifacts import read_json
from ov_diffusion_quant.common.errors import UserError

NNCF_VERSION = "3.4.0"  # the internals above are this version's
FORMAT_VERSION = 1
INDEX = "statistics.json"
_PTQ_KEYS = ("mode", "preset", "target_device", "subset_size", "fast_bias_correction", "model_type",
             "ignored_scope", "advanced_parameters")


class MissingStatistics(nncf.ValidationError):
    """A recipe needs a statistic that collect() did not gather (it was not among the recipes collected for)."""


def check_nncf_version() -> None:
    if nncf.__version__ != NNCF_VERSION:
        raise UserError(f"shared statistics (ov_diffusion_quant/quantization/shared_statistics.py) use NNCF "
                        f"{NNCF_VERSION} internals and this is NNCF {nncf.__version__}: install nncf=={NNCF_VERSION}")


# -- signatures ------------------------------------------------------------------------------------------------
def _simple(value: Any) -> Any:
    """A deterministic, JSON-able rendering of simple attribute values (None if not simple)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, (tuple, list)) and all(_simple(v) is not None or v is None for v in value):
        return [_simple(v) for v in value]
    return None


def _object_signature(obj: Any, skip: tuple[str, ...] = ()) -> str:
    attrs = {}
    for name, value in sorted(vars(obj).items()):
        if name in skip:
            continue
        rendered = _simple(value)
        if rendered is not None or value is None:
            attrs[name] = rendered
    return f"{type(obj).__name__}{json.dumps(attrs, sort_keys=True)}"


def _collector_signature(collector) -> str:
    """Statistic class + every branch (name, reducer, reducer port, aggregator) of a TensorCollector."""
    reducers = {hash(r): r for r in collector.reducers}
    aggregators = collector.aggregators
    branches = []
    for branch_name, key in sorted(collector._stat_container_kwargs_map.items()):  # noqa: SLF001 (nncf 3.4.0)
        reducer_hash, port, _ = key
        branches.append([branch_name, _object_signature(reducers[reducer_hash]), port,
                         _object_signature(aggregators[key], skip=("_container", "_collected_samples"))])
    container = collector._stat_container  # noqa: SLF001
    return json.dumps({"statistic": container.__name__ if container else "dict", "branches": branches})


def _algorithm_signature(algorithm) -> str:
    """What a model-changing algorithm that precedes a statistics step does to the model."""
    if isinstance(algorithm, SmoothQuant):
        alphas = {k: float(v) for k, v in sorted(algorithm._alpha_map.items()) if v >= 0}  # noqa: SLF001
        return json.dumps(["SmoothQuant", alphas, algorithm._subset_size, algorithm._inplace_statistics])  # noqa: SLF001
    return _object_signature(algorithm, skip=("_algorithm_key",))


def _steps(pipeline) -> list[list]:
    """Pipeline steps that run on OpenVINO (what Pipeline._remove_unsupported_algorithms keeps)."""
    steps = [[a for a in step if BackendType.OPENVINO in a.available_backends] for step in pipeline.pipeline_steps]
    return [step for step in steps if step]


def _prefixes(pipeline) -> list[str]:
    """For each step: a signature of the model it runs on (the algorithms of the steps before it)."""
    steps = _steps(pipeline)
    return [json.dumps([_algorithm_signature(a) for s in steps[:i] for a in s]) for i in range(len(steps))]


def _tensor_of(target_point, graph) -> tuple[str, int]:
    """The tensor a statistic point reads: producer op and output port (as OVStatisticsAggregator sees it)."""
    if target_point.type in (TargetType.PRE_LAYER_OPERATION, TargetType.OPERATION_WITH_WEIGHTS):
        node = graph.get_node_by_name(target_point.target_node_name)
        edge = graph.get_input_edges(node)[target_point.port_id]
        return edge.from_node.node_name, edge.output_port_id
    return target_point.target_node_name, target_point.port_id


def _graph_fingerprint(graph) -> str:
    names = sorted(f"{n.node_name}:{n.node_type}" for n in graph.get_all_nodes())
    return hashlib.sha1("\n".join(names).encode()).hexdigest()


def _key(prefix: str, target_point, graph, collector) -> str:
    producer, port = _tensor_of(target_point, graph)
    return json.dumps([hashlib.sha1(prefix.encode()).hexdigest()[:16], producer, port,
                       _collector_signature(collector)])


def _ptq_kwargs(config: dict) -> dict:
    unknown = set(config) - set(_PTQ_KEYS)
    if unknown:
        raise TypeError(f"not nncf.quantize arguments: {sorted(unknown)}")
    kwargs = dict(config)
    kwargs.setdefault("target_device", nncf.TargetDevice.ANY)
    kwargs.setdefault("subset_size", 300)
    kwargs.setdefault("fast_bias_correction", True)
    return kwargs


# -- the statistics --------------------------------------------------------------------------------------------
@dataclass
class SharedStatistics:
    entries: dict[str, Any] = field(default_factory=dict)  # key -> TensorStatistic or dict (as get_statistics)
    prefixes: dict[str, str] = field(default_factory=dict)  # prefix signature -> graph fingerprint of that state
    passes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    # NNCF's dump_statistics/load_statistics key by "<StatisticClass>_<target point>" (two collectors of one
    # class at one point collide, e.g. the symmetric and asymmetric MinMax of two presets) and only accept
    # TensorStatistic values made of Tensors (SmoothQuant returns a dict, BiasCorrection lists of raw tensors).
    # So: one npz of arrays + a JSON index that rebuilds the exact Python objects.
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}

        def encode(value):
            if isinstance(value, Tensor):
                data = value.data
                name = f"a{len(arrays)}"
                arrays[name] = np.asarray(data)
                return {"tensor": name, "scalar": not isinstance(data, np.ndarray)}
            if is_dataclass(value):
                return {"statistic": type(value).__name__,
                        "fields": {f.name: encode(getattr(value, f.name)) for f in fields(value)}}
            if isinstance(value, dict):
                return {"dict": [[encode(k), encode(v)] for k, v in value.items()]}
            if isinstance(value, (list, deque)):
                return {"list": [encode(v) for v in value]}
            if isinstance(value, tuple):
                return {"tuple": [encode(v) for v in value]}
            if value is None or isinstance(value, (bool, int, float, str)):
                return {"value": value}
            if isinstance(value, np.ndarray):
                name = f"a{len(arrays)}"
                arrays[name] = value
                return {"ndarray": name}
            raise TypeError(f"cannot save a statistic of type {type(value)}")

        index = {"format": FORMAT_VERSION, "nncf": nncf.__version__, "passes": self.passes,
                 "prefixes": self.prefixes, "entries": {k: encode(v) for k, v in sorted(self.entries.items())}}
        for name, array in arrays.items():  # np.save is byte-for-byte repeatable (np.savez's zip is time-stamped)
            np.save(directory / f"{name}.npy", array, allow_pickle=False)
        (directory / INDEX).write_text(json.dumps(index, indent=0, sort_keys=True) + "\n")

    @classmethod
    def load(cls, directory: Path) -> SharedStatistics:
        index = read_json(directory / INDEX)
        if index.get("format") != FORMAT_VERSION or index.get("nncf") != nncf.__version__:
            raise UserError(f"{directory} holds statistics of format {index.get('format')} from NNCF "
                            f"{index.get('nncf')}; this reads format {FORMAT_VERSION} from NNCF {nncf.__version__}: "
                            f"collect them again (dvc repro -f the statistics stage)")
        arrays = {path.stem: np.load(path, allow_pickle=False) for path in directory.glob("a*.npy")}

        def decode(item):
            kind = next(key for key in ("tensor", "statistic", "dict", "list", "tuple", "ndarray", "value")
                        if key in item)
            payload = item[kind]
            if kind == "tensor":
                array = arrays[payload]
                return Tensor(array[()] if item["scalar"] else array)
            if kind == "statistic":
                statistic = object.__new__(getattr(nncf_statistics, payload))  # bypass __init__ conversions
                for name, value in item["fields"].items():
                    setattr(statistic, name, decode(value))
                return statistic
            if kind == "dict":
                return {decode(k): decode(v) for k, v in payload}
            if kind == "list":
                return [decode(v) for v in payload]
            if kind == "tuple":
                return tuple(decode(v) for v in payload)
            if kind == "ndarray":
                return arrays[payload]
            return payload

        return cls({k: decode(v) for k, v in index["entries"].items()}, index["prefixes"], index["passes"])


# -- collect -----------------------------------------------------------------------------------------------------
def collect(model, calibration_items, configs: list[dict]) -> SharedStatistics:
    """Run NNCF's statistics passes once for every recipe in ``configs`` (nncf.quantize's keyword arguments of
    each): one pass per distinct model state (the model as exported; each distinct SmoothQuant setting)."""
    check_nncf_version()
    dataset = nncf.Dataset(calibration_items)
    model = remove_friendly_name_duplicates(model)  # what nncf's quantize_impl does first
    pipelines = [create_ptq_pipeline(**_ptq_kwargs(c)) for c in configs]
    steps = [_steps(p) for p in pipelines]
    prefixes = [_prefixes(p) for p in pipelines]
    stats = SharedStatistics()
    states = {prefixes[0][0]: (model, build_graph(model))}  # prefix "[]" -> the original model
    seconds = defaultdict(float)
    depth = 0
    while any(depth < len(s) for s in steps):
        groups: dict[str, list[int]] = defaultdict(list)
        for ci, candidate_steps in enumerate(steps):
            if depth < len(candidate_steps):
                groups[prefixes[ci][depth]].append(ci)
        for prefix, candidates in groups.items():
            step_model, step_graph = states[prefix]
            stats.prefixes[prefix] = _graph_fingerprint(step_graph)
            containers = {ci: pipelines[ci].get_statistic_points_for_step(depth, step_model, step_graph)
                          for ci in candidates}
            start = time.perf_counter()
            nncf_pipeline_module.collect_statistics(list(containers.values()), step_model, step_graph, dataset)
            seconds["statistics passes"] += time.perf_counter() - start
            stats.passes += 1
            for container in containers.values():
                for _, point, collector in container.get_tensor_collectors():
                    stats.entries.setdefault(_key(prefix, point.target_point, step_graph, collector),
                                             collector.get_statistics())
            start = time.perf_counter()
            for ci in candidates:  # the model states the next steps run on (e.g. after SmoothQuant)
                if depth + 1 < len(steps[ci]) and prefixes[ci][depth + 1] not in states:
                    next_model = pipelines[ci].run_step(depth, containers[ci], step_model, step_graph)
                    states[prefixes[ci][depth + 1]] = (next_model, build_graph(next_model))
            seconds["intermediate steps"] += time.perf_counter() - start
        depth += 1
    stats.seconds = dict(seconds)
    return stats


# -- quantize_from -----------------------------------------------------------------------------------------------
class _NoDataDataset(nncf.Dataset):
    """A Dataset with a length and no items: iterating it is an error."""

    def __init__(self, length: int):
        super().__init__([None] * length)

    def get_data(self, indices=None):
        raise AssertionError("quantize_from must not iterate the calibration dataset")

    def get_inference_data(self, indices=None):
        raise AssertionError("quantize_from must not iterate the calibration dataset")


@contextlib.contextmanager
def _statistics_from(stats: SharedStatistics, prefixes: list[str]):
    calls = iter(prefixes)

    def from_cache(containers, model, graph, dataset):
        prefix = next(calls)
        if prefix not in stats.prefixes:
            raise MissingStatistics(f"no statistics for the model state {prefix}: add such a candidate to collect()")
        if stats.prefixes[prefix] != _graph_fingerprint(graph):
            raise MissingStatistics(f"model state {prefix} differs from the one the statistics were collected on")
        merged = StatisticPointsContainer()
        for container in containers if isinstance(containers, list) else [containers]:
            for points in container.values():
                for point in points:
                    merged.add_statistic_point(point)
        missing = []
        for _, point, collector in merged.get_tensor_collectors():
            key = _key(prefix, point.target_point, graph, collector)
            if key not in stats.entries:
                missing.append(key)
                continue
            collector.set_cache(stats.entries[key])  # get_statistics() returns a deep copy of it
        if missing:
            raise MissingStatistics(f"{len(missing)} statistics not collected, e.g. {missing[0]}")
        return merged

    original = nncf_pipeline_module.collect_statistics
    nncf_pipeline_module.collect_statistics = from_cache
    try:
        yield
    finally:
        nncf_pipeline_module.collect_statistics = original


def quantize_from(model, stats: SharedStatistics, **kwargs):
    """nncf.quantize(model, <no data>, **kwargs) with every statistic taken from ``stats``; MissingStatistics when
    the recipe needs one that was not collected."""
    check_nncf_version()
    kwargs = _ptq_kwargs(kwargs)
    prefixes = _prefixes(create_ptq_pipeline(**kwargs))
    with _statistics_from(stats, prefixes):
        return nncf.quantize(model, _NoDataDataset(kwargs["subset_size"]), **kwargs)
