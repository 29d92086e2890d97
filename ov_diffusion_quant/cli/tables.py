"""ovdq tables [--check]: the tables of results in reports/, made from the committed metrics and records.

    reports/benchmarks.md, reports/resources.md, reports/recipe_search.md, reports/op_profile.md,
    reports/scaling/scaling.md (+ csv for dvc.yaml's plots)

The docs link these instead of copying numbers (ov_diffusion_quant/reporting/tables.py says what each holds). Run it
after bringing back a run (`ovdq experiment`, `ovdq profile --exp`) and commit the tables with the records;
--check only says which tables are stale (exit 1), as tests/test_tables.py does.
"""

from __future__ import annotations

import sys

from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors


@main_with_clear_errors
def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a table is stale")
    args = parser.parse_args(argv)
    from ov_diffusion_quant.reporting import tables

    if args.check:
        stale = tables.stale()
        for path in stale:
            print(f"{path} is stale: run `ovdq tables`", file=sys.stderr)
        return 1 if stale else 0
    for path in tables.write(tables.outputs()):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
