"""host stage: record the facts about this machine that decide the other stages' results.

    python -m stages.host   ->  data/host/{libraries,runtime,cpu}.json

Runs on every `dvc repro` (always_changed), first: it also checks every variant of params.yaml against its
family. Its files change only when the facts do, so the
stages that list them as deps re-run on another ISA class, precision or library version, and
are restored from the cache otherwise. See ov_diffusion_quant/runtime/host_facts.py for what each file holds.
"""

from __future__ import annotations


from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.outputs import write_json
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.families import check_all
from ov_diffusion_quant.runtime import host_facts


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.parse_args(argv)

    params = load()
    check_all(params)  # every variant against its family, first in every `dvc repro`
    facts = host_facts.facts(params.host.precision)
    write_json(host_facts.LIBRARIES_FILE, facts["libraries"])
    write_json(host_facts.RUNTIME_FILE, facts["runtime"])
    write_json(host_facts.CPU_FILE, facts["cpu"])


if __name__ == "__main__":
    raise SystemExit(main())
