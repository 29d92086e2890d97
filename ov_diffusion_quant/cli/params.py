"""ovdq params [path]: check params.yaml (every variant against its family too) and list what the DAG runs."""

from __future__ import annotations

import sys

from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors
from ov_diffusion_quant.config.params import PARAMS_FILE, describe, load
from ov_diffusion_quant.families import check_all


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("path", nargs="?", default=str(PARAMS_FILE), help="default: params.yaml")
    args = parser.parse_args(argv)
    params = load(args.path)
    check_all(params)
    sys.stdout.write(f"{args.path} is valid. " + describe(params) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
