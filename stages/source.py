"""source stage: the variant's source model, made ready for export.

    python -m stages.source <variant>   ->  models/<variant>/source/, metrics/<variant>/source.json

`source: trained` trains the family's reference model on the scenes data set here (minutes; cached by
DVC, so only the first run pays). Every other source is built or fetched by the export stage
itself (tiny and arch weights from a seed, hub ids through the HF cache), and this stage only
records what that source is, so that every variant has the same DAG.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.hub import directory_digest
from ov_diffusion_quant.common.outputs import atomic_dir, write_json
from ov_diffusion_quant.common.resources import peak_rss_mb
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.runtime import host_facts


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    args = parser.parse_args(argv)

    variant = load().variant(args.variant)
    spec = variant.model
    target = paths.source_model(variant.name)
    if spec.train is None:
        record = {"family": spec.family, "source": spec.source, "seed": spec.seed, "revision": spec.revision,
                  "taesd": spec.taesd, "taesd_revision": spec.taesd_revision}
        # a local directory (e.g. the committed reference model in data/reference-models, a dependency of this
        # stage): its content, so that export re-runs when the files change, not only when the path does
        digests = {key: directory_digest(record[key]) for key in ("source", "taesd")
                   if isinstance(record[key], str) and Path(record[key]).is_dir()}
        if digests:
            record["digests"] = digests
        with atomic_dir(target) as out_dir:
            (out_dir / "source.json").write_text(json.dumps(record, indent=2) + "\n")
        return

    from ov_diffusion_quant.reference import pixart_training, training

    trainers = {"sdxl": training.train_reference, "pixart": pixart_training.train_reference}
    started = time.perf_counter()
    train = spec.train
    metrics = trainers[spec.family](paths.SCENES, target, seed=spec.seed, steps=train.steps, batch_size=train.batch_size,
                              lr=train.lr, vae_steps=train.vae_steps, taesd_steps=train.taesd_steps,
                              threads=train.threads)
    write_json(paths.metrics(variant.name, "source.json"), {
        **metrics, "wall_seconds": round(time.perf_counter() - started, 1), "peak_rss_mb": peak_rss_mb(),
        "host": host_facts.provenance(),
    })


if __name__ == "__main__":
    raise SystemExit(main())
