"""ovdq: the commands beside the DVC stages, one console script (pyproject.toml [project.scripts]).

    ovdq params [params.yaml]
    ovdq generate <variant> [<device>] <prompt> [--out cat.png --optimized --image in.png ...]
    ovdq demo [--host 127.0.0.1] [--port 7860]
    ovdq sweeps <variant> [<device>] [--exp-show-json FILE]
    ovdq recipes <variant> [<device>] [--metrics FILE]
    ovdq ci-report [--base REV] [--out FILE]
    ovdq tables [--check]
    ovdq experiment <variant>... --name NAME --require-gb GB [--rounds N] [-S key=value] [--op-profile] [--stages ...]
    ovdq profile <variant> [<device>] [--exp NAME [--emulate CLASS]]
    ovdq emulate <host class> -- <command ...>

One argument style, the stages' own: the variant, then the device (default CPU) as positionals; everything
else an option. `ovdq <command> --help` for each; `python -m ov_diffusion_quant.cli.<module>` runs the same code.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "params": ("ov_diffusion_quant.cli.params", "check params.yaml and list the variants the DAG runs"),
    "generate": ("ov_diffusion_quant.cli.generate", "one image from an exported or optimized variant"),
    "demo": ("ov_diffusion_quant.cli.demo", "FP and optimized side by side in a browser (Gradio, the demo extra)"),
    "sweeps": ("ov_diffusion_quant.cli.sweeps", "a DVC experiment sweep as a table with its Pareto front"),
    "recipes": ("ov_diffusion_quant.cli.recipes", "the recipe search's candidates and its choice (metrics/<v>/<d>/recipe.json)"),
    "ci-report": ("ov_diffusion_quant.cli.ci_report", "metrics and params against a base revision, and the gate"),
    "tables": ("ov_diffusion_quant.cli.tables", "the tables of results in reports/, from the committed metrics"),
    "experiment": ("ov_diffusion_quant.cli.experiment", "variants as a DVC experiment in a temporary workspace"),
    "profile": ("ov_diffusion_quant.cli.profile", "where the time goes, against this CPU's INT8 ceiling"),
    "emulate": ("ov_diffusion_quant.cli.emulate", "run a command as on a smaller host class"),
}


def usage() -> str:
    commands = "\n".join(f"  {name:<11} {summary}" for name, (_, summary) in COMMANDS.items())
    return f"usage: ovdq <command> [arguments]\n\ncommands:\n{commands}\n\n`ovdq <command> --help` for its arguments\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        (sys.stdout if argv else sys.stderr).write(usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}: ovdq has {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    from ov_diffusion_quant.common.telemetry import declined_without_consent_file

    declined_without_consent_file()  # before the command imports NNCF, which asks for consent on import
    module = importlib.import_module(COMMANDS[command][0])
    sys.argv[0] = f"ovdq {command}"  # argparse names the program after it in usage lines
    return module.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
