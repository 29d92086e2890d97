"""What NNCF's statistics collection adds to a model, per pipeline step, without compiling or running it.

    python scripts/nncf_statistics_census.py <model.xml> [--family sdxl --component unet] [--subset-size 200]

For each statistics step of nncf.quantize's PTQ pipeline (the int8 recipe's arguments, the family's default
IgnoredScope): the statistic points, the extra model outputs NNCF's OpenVINO aggregator would add, split into
reductions inserted in the graph (in place) and full tensors, and into points on weights (constant, no data needed)
and on activations; the bytes a full-tensor output would carry at the model's static input shapes where known.
The second step is counted on the model as given (NNCF counts it after SmoothQuant, which adds one Multiply per
smoothed input; the points are the same ops). Evidence for issue 29 (NNCF statistics in at most two passes).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors  # noqa: E402


def census(model, graph, points, aggregator_cls) -> dict:
    merged = aggregator_cls._get_merged_statistic_points(points, model, graph)
    counts = collections.Counter()
    algorithms = collections.Counter()
    for algorithm, point, collector in points.get_tensor_collectors():
        algorithms[str(algorithm).split("_")[0]] += 1
    aggregator = aggregator_cls.__new__(aggregator_cls)  # only its layout method: no dataset, no compile
    aggregator._name_to_node_mapping = {op.get_friendly_name(): op for op in model.get_ops()}
    for _, point, collector in merged.get_tensor_collectors():
        on_weight = point.target_point.is_weight_target_point()
        for reducer in collector.reducers:
            kind = "in_place" if reducer.inplace else "full_tensor"
            counts[f"{'weight' if on_weight else 'activation'}_{kind}"] += 1
    layout = aggregator._get_transformation_layout_extra_outputs(merged)
    return {"statistic_points_by_algorithm": dict(algorithms), "merged_outputs": dict(counts),
            "extra_outputs": len(layout.transformations)}


def compile_statistics_model(model, graph, pipeline, step: int, which: str, precision: str, aggregator_cls,
                             infer_shapes: dict | None = None) -> dict:
    """Compile the model with step ``step``'s extra outputs for the chosen points, as NNCF's aggregator builds it."""
    import openvino as ov
    from nncf.common.factory import ModelTransformerFactory
    from nncf.common.tensor_statistics.statistic_point import StatisticPointsContainer

    merged = aggregator_cls._get_merged_statistic_points(pipeline.get_statistic_points_for_step(step, model, graph),
                                                         model, graph)
    chosen = StatisticPointsContainer()
    for points in merged.values():
        for point in points:
            on_weight = point.target_point.is_weight_target_point()
            if which == "all" or (which == "weights") == on_weight:
                chosen.add_statistic_point(point)
    aggregator = aggregator_cls.__new__(aggregator_cls)
    aggregator._name_to_node_mapping = {op.get_friendly_name(): op for op in model.get_ops()}
    layout = aggregator._get_transformation_layout_extra_outputs(chosen)
    transformed = ModelTransformerFactory.create(model).transform(layout)
    started = time.perf_counter()
    compiled = ov.Core().compile_model(transformed, "CPU", {"INFERENCE_PRECISION_HINT": precision})
    seconds = time.perf_counter() - started
    inferred = {}
    if infer_shapes:
        import numpy as np

        from ov_diffusion_quant.common.resources import peak_rss_mb

        rng = np.random.default_rng(0)
        inputs = {port.any_name: rng.standard_normal(infer_shapes[port.any_name]).astype(np.float32)
                  for port in compiled.inputs}
        before = peak_rss_mb()
        started = time.perf_counter()
        compiled.create_infer_request().infer(inputs)
        inferred = {"first_infer_seconds": round(time.perf_counter() - started, 1),
                    "peak_rss_mb_before_infer": before, "peak_rss_mb_after_infer": peak_rss_mb()}
    return {**inferred, "points": which, "step": step, "precision": precision, "extra_outputs": len(layout.transformations),
            "compile_seconds": round(seconds, 1), "outputs": len(compiled.outputs)}


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("model", type=Path)
    parser.add_argument("--family", default="sdxl")
    parser.add_argument("--component", default="unet")
    parser.add_argument("--subset-size", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the census here")
    parser.add_argument("--compile", choices=("weights", "activations", "all"),
                        help="also compile the statistics model of --step with only these points (peak memory: run "
                             "each case in its own process, e.g. under scripts/watchdog.py)")
    parser.add_argument("--step", type=int, default=1)
    parser.add_argument("--precision", default="bf16", help="INFERENCE_PRECISION_HINT of that compile")
    parser.add_argument("--infer", type=json.loads, metavar="SHAPES",
                        help='then one inference on random inputs of these shapes, e.g. \'{"sample": [1, 4, 64, 64]}\' '
                             "(the CPU plugin repacks weights on first use: compile alone does not show their memory)")
    args = parser.parse_args(argv)

    import nncf
    import openvino as ov
    from nncf.openvino.graph.nncf_graph_builder import GraphConverter
    from nncf.openvino.statistics.aggregator import OVStatisticsAggregator
    from nncf.quantization.algorithms.post_training.pipeline import create_ptq_pipeline

    from ov_diffusion_quant.families import get_family
    from ov_diffusion_quant.quantization.recipes import RecipeContext, _ptq_arguments, parse_component

    started = time.perf_counter()
    model = ov.Core().read_model(args.model)
    family = get_family(args.family)
    knobs = dict(parse_component("int8", "census").knobs)
    context = RecipeContext(args.component, [None] * args.subset_size, nncf.TargetDevice.CPU,
                            lambda names: family.ignored_scope(args.component, model, names))
    arguments = _ptq_arguments(knobs, context)
    pipeline = create_ptq_pipeline(preset=arguments["preset"], target_device=arguments["target_device"],
                                   subset_size=arguments["subset_size"],
                                   fast_bias_correction=arguments["fast_bias_correction"],
                                   model_type=arguments["model_type"], ignored_scope=arguments["ignored_scope"],
                                   advanced_parameters=arguments["advanced_parameters"])
    graph = GraphConverter.create_nncf_graph(model)
    result = {"model": str(args.model), "ops": len(model.get_ops()), "steps": []}
    for index, step in enumerate(pipeline.pipeline_steps):
        points = pipeline.get_statistic_points_for_step(index, model, graph)
        if not list(points.get_tensor_collectors()):
            continue
        result["steps"].append({"step": index, "algorithms": [type(a).__name__ for a in step],
                                **census(model, graph, points, OVStatisticsAggregator)})
    if args.compile:
        result["compiled"] = compile_statistics_model(model, graph, pipeline, args.step, args.compile,
                                                      args.precision, OVStatisticsAggregator, args.infer)
    result["seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
