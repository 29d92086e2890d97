"""ovdq profile <variant> [<device>]: where an image's time goes, FP vs optimized, against this CPU's INT8 ceiling.

    ovdq profile sdxl-turbo-arch                          # the models in this workspace: a markdown table on stdout
    ovdq profile sdxl-turbo-arch --exp bench-arch-sdxl-20261206-063053 [--emulate avx512]
                                                          # an experiment's models -> reports/<v>/op_profile-<class>.md

Every component of models/<variant>/fp and optimized-<device>, compiled at static shapes and timed with OpenVINO's
PERF_COUNT, summed into matmuls, convolutions, attention and the rest, beside the INT8 ceiling: those kinds at this
CPU's measured INT8 rates on the component's own heaviest shapes (ov_diffusion_quant/benchmarking/op_profile.py).
With --exp the models are checked out from the experiment into a scratch worktree (this workspace is not touched),
optionally run as an emulated smaller class (`ovdq emulate`), and reports/op_profile.md gathers every profile.
"""

from __future__ import annotations

import sys

from ov_diffusion_quant.common.errors import UserError, argument_parser, main_with_clear_errors


def arguments():
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("device", nargs="?", default="CPU")
    parser.add_argument("--runs", type=int, default=3, help="timed calls per component (the median is shown)")
    parser.add_argument("--markdown", help="also append the table to this file")
    parser.add_argument("--exp", help="profile this DVC experiment's models, into reports/<variant>/")
    parser.add_argument("--emulate", metavar="CLASS", help="with --exp: as an emulated smaller host class")
    parser.add_argument("--require-gb", type=float, default=1.0, help="with --exp: memory needed to start")
    return parser


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    args = arguments().parse_args(argv)
    if args.exp:
        from ov_diffusion_quant.orchestration.experiments import profile_experiment
        from ov_diffusion_quant.reporting.tables import write_op_profiles

        written = profile_experiment(args.exp, args.variant, args.device, args.emulate, args.runs, args.require_gb)
        write_op_profiles()
        print(f"{written}; reports/op_profile.md gathers it", file=sys.stderr)
        return
    if args.emulate:
        raise UserError(f"--emulate is for an experiment's models (--exp); for this workspace's: "
                        f"ovdq emulate {args.emulate} -- ovdq profile {args.variant}")
    from ov_diffusion_quant.benchmarking.op_profile import op_profile
    from ov_diffusion_quant.config.params import load

    text = op_profile(load().variant(args.variant), args.device, args.runs)
    print(text)
    if args.markdown:
        with open(args.markdown, "a") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
