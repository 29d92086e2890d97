"""export stage: a variant's source model -> a self-contained OpenVINO directory.

    python -m stages.export <variant>      ->  models/<variant>/fp, metrics/<variant>/export.json
"""

from __future__ import annotations

import tempfile
import time

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors
from ov_diffusion_quant.families import family_for
from ov_diffusion_quant.common.outputs import atomic_dir, dir_size_bytes, write_json
from ov_diffusion_quant.runtime.preflight import heavy_stage
from ov_diffusion_quant.common.resources import mount_point
from ov_diffusion_quant.config.specs import SourceKind
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.runtime import host_facts


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    args = parser.parse_args(argv)

    variant = load().variant(args.variant)
    family = family_for(variant)
    weights_gb = family.source_weights_gb(variant.model)  # the IR's size; an "arch" source is also written to /tmp
    disk_gb = weights_gb * (2 if variant.model.kind is SourceKind.ARCH and mount_point(tempfile.gettempdir())
                            == mount_point(paths.fp_model(variant.name)) else 1) if weights_gb else None
    with heavy_stage("export", variant.name, None, weights_gb, host=host_facts.provenance(), disk_gb=disk_gb,
                     disk_path=paths.fp_model(variant.name)) as run:
        started = time.perf_counter()
        with atomic_dir(paths.fp_model(variant.name)) as out_dir:
            family.export(variant.model, variant.generation, out_dir)
            family.check_exported(out_dir)
        write_json(paths.metrics(variant.name, "export.json"), {
            "export_seconds": round(time.perf_counter() - started, 2),
            "size_mb": round(dir_size_bytes(paths.fp_model(variant.name)) / 2**20, 3),
            "sources": family.read_sources(paths.fp_model(variant.name)),
            "resources": run.metrics(),
            "host": host_facts.provenance(),
        })


if __name__ == "__main__":
    raise SystemExit(main())
