"""Set params.yaml values with the grammar of `dvc exp run -S` (DVC's own parser), for a CI job that then
runs `dvc repro` of named targets.

    python scripts/set_params.py 'enabled=[sdxl-turbo]' 'devices=[GPU]' calibrate.prompts.source=hub

Only existing keys can be set, as with `dvc exp run -S`; comments are kept, flow-style lists are rewritten
as block lists (as `dvc exp run -S` does).
"""

from __future__ import annotations

import sys

from dvc.utils.hydra import apply_overrides

if __name__ == "__main__":
    apply_overrides("params.yaml", sys.argv[1:])
