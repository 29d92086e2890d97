"""peers stage: optimum-intel's own quantizations of the FP export, for the benchmark and evaluate to measure beside
the optimized model (params `benchmark.peers`, ov_diffusion_quant/config/optimum_peers.py).

    python -m stages.peers <variant> <device>
        -> models/<variant>/peers-<device>/<peer>/   optimum-intel's pipeline directory, one per peer
        -> models/<variant>/peers-<device>/peers.json  what each is, or why there is none

With `benchmark.peers` empty (the default), or for a family optimum-intel has no pipeline for, only peers.json is
written, without loading anything. Each peer is calibrated on the variant's calibration prompts (the ones calibrate
reads) with `calibrate.subset_size` denoiser calls, the way optimum-intel collects them.
"""

from __future__ import annotations

import itertools
import logging
import time

from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors
from ov_diffusion_quant.common.outputs import atomic_dir, write_json
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.config.optimum_peers import PEERS
from ov_diffusion_quant.families import family_for
from ov_diffusion_quant.runtime import host_facts
from ov_diffusion_quant.runtime.devices import check_device

log = logging.getLogger(__name__)


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("device")
    args = parser.parse_args(argv)

    params = load()
    variant = params.variant(args.variant)
    device = check_device(args.device)
    family = family_for(variant)
    wanted = params.benchmark.peers
    missing = [peer for peer in wanted if peer not in family.peers]
    record: dict = {"peers": {}}
    if not wanted:
        record["none_because"] = "benchmark.peers is empty"
    elif missing:
        record["none_because"] = f"optimum-intel cannot make {', '.join(missing)} for the {family.name} family"
    with atomic_dir(paths.peers(variant.name, device)) as out_dir:
        if wanted and not missing:
            from ov_diffusion_quant.evaluation.prompts import calibration_prompts, prompt_provenance

            source = variant.calibrate.prompts or params.calibrate.prompts
            samples = variant.calibrate.subset_size
            # optimum-intel stops once it has `samples` denoiser calls: at most one prompt per call is needed
            captions = [row["caption"] for row in itertools.islice(calibration_prompts(source), samples)]
            for peer in wanted:
                started = time.perf_counter()
                family.quantize_peer(peer, paths.fp_model(variant.name), out_dir / peer, captions, samples)
                log.info("peers: %s made in %.0f s", peer, time.perf_counter() - started)
                record["peers"][peer] = {"what": PEERS[peer], "denoiser_samples": samples}
            record["prompts"] = prompt_provenance(source)
            record["host"] = host_facts.provenance()
        write_json(out_dir / paths.peers_record(variant.name, device).name, record)


if __name__ == "__main__":
    raise SystemExit(main())
