"""ovdq experiment <variant>... --name NAME --require-gb GB: variants as a DVC experiment in a temporary workspace.

    ovdq experiment sdxl-turbo-arch --name bench-arch-sdxl --rounds 2 --require-gb 20 --op-profile
    ovdq experiment pixart-lcm-arch --name pixart --require-gb 20 --stages export calibrate quantize benchmark
    ovdq experiment sdxl-turbo-arch --name scaling --require-gb 20 --calibration-sizes 8 50 200 [-S host.precision=f32]

The experiment (`dvc exp run --temp`, named NAME-<date>) starts from this workspace as it is, uncommitted edits
included, with enabled=[<variant>...] and the -S overrides, under a memory watchdog (it does not start with less than
GB available and stops the run when memory runs low). Only metrics/<variant>/ and reports/<variant>/ come back; this
workspace is never reset. `make bench-arch`, `make reference` and `make search` are this command.

--stages: one experiment per stage (one variant), each brought back as it finishes: for runs too long for one
sitting; started again, the stages already run come from DVC's run-cache.
--calibration-sizes: quantize at each calibration size, one experiment each, into reports/scaling/ (then `ovdq tables`).
--op-profile: afterwards `ovdq profile <variant> --exp <experiment>` for each variant.
"""

from __future__ import annotations

import logging
import time

from ov_diffusion_quant.common.errors import UserError, argument_parser, main_with_clear_errors

log = logging.getLogger(__name__)


def arguments():
    parser = argument_parser(__doc__)
    parser.add_argument("variants", nargs="+", metavar="variant")
    parser.add_argument("--name", required=True, help="the experiment's name (a date is appended)")
    parser.add_argument("--require-gb", type=float, required=True,
                        help="memory that must be available to start (the machine may be shared)")
    parser.add_argument("--rounds", type=int, help="benchmark.rounds for the experiment")
    parser.add_argument("-S", "--set-param", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="more params overrides, as `dvc exp run -S` takes them")
    parser.add_argument("--op-profile", action="store_true", help="profile each variant's models afterwards")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--stages", nargs="+", metavar="STAGE", help="one experiment per stage, in this order")
    mode.add_argument("--calibration-sizes", nargs="+", type=int, metavar="N",
                      help="quantize at each calibration size into reports/scaling/")
    return parser


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    from ov_diffusion_quant.orchestration import experiments
    from ov_diffusion_quant.reporting import tables

    args = arguments().parse_args(argv)
    name = f"{args.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    overrides = [*([f"benchmark.rounds={args.rounds}"] if args.rounds else []), *args.overrides]
    if args.calibration_sizes:
        if len(args.variants) != 1:
            raise UserError(f"--calibration-sizes is for one variant, not {len(args.variants)}")
        experiments.calibration_scaling(name, args.variants[0], args.calibration_sizes, overrides, args.require_gb)
        tables.write_scaling()
        return
    names = experiments.run_experiment(name, args.variants, overrides, args.require_gb, args.stages)
    if args.op_profile:
        for variant in args.variants:
            experiments.profile_experiment(names[-1], variant, require_gb=args.require_gb)
        tables.write_op_profiles()
    log.info("%s done: metrics/<variant>/, reports/<variant>/%s; `dvc repro report` adds them to reports/summary.md",
             name, ", reports/op_profile.md" if args.op_profile else "")


if __name__ == "__main__":
    raise SystemExit(main())
