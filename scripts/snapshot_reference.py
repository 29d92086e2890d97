"""Train a reference model once and commit it: data/reference-models/<variant> (trained-sdxl, trained-pixart), the
model that the `<variant>-snapshot` variant exports, quantizes and gates without training (CI:
tests/test_reference_e2e.py).

    make reference-snapshot [REFERENCE=trained-pixart]        # `dvc repro scenes`, then this script
    python scripts/snapshot_reference.py --variant trained-pixart
    python scripts/snapshot_reference.py --trained WORKSPACE  # package what `python -m stages.source
                                                            # trained-sdxl` trained in another checkout

It trains what `variants.<variant>.model` in params.yaml says (the full training: times per host in
docs/reference-model.md) on data/scenes as dvc.lock records it, and writes provenance.json beside the model:
those params, the scenes data set's hash in dvc.lock and its file digests, the training metrics with the host they
ran on, the commit and the date. tests/test_reference_snapshot.py checks the first two against params.yaml and
dvc.lock: change the training params or the scenes data set and that test says to run this again.
"""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path.cwd()))  # this checkout's stages (an editable install may point at another worktree)
from ov_diffusion_quant.common import paths  # noqa: E402
from ov_diffusion_quant.common.errors import UserError, argument_parser, main_with_clear_errors  # noqa: E402
from ov_diffusion_quant.common.outputs import atomic_dir  # noqa: E402
from ov_diffusion_quant.common.resources import peak_rss_mb  # noqa: E402
from ov_diffusion_quant.config.params import load  # noqa: E402
from ov_diffusion_quant.runtime import host_facts  # noqa: E402

REFERENCES = ("trained-sdxl", "trained-pixart")  # the variants whose training params a snapshot follows


def scenes_lock_md5(lock_file: Path = Path("dvc.lock")) -> str:
    """The hash dvc.lock records for data/scenes, the data set the snapshot trains on and is judged on."""
    lock = yaml.safe_load(lock_file.read_text()) if lock_file.exists() else {}
    for out in lock.get("stages", {}).get("scenes", {}).get("outs", []):
        if out["path"] == str(paths.SCENES):
            return out["md5"]
    raise UserError(f"{lock_file} records no {paths.SCENES}: run `dvc repro scenes` first")


def scene_files(workspace: Path) -> dict[str, str]:
    summary = workspace / paths.SCENES / "dataset.json"
    if not summary.exists():
        raise UserError(f"{summary} does not exist: run `dvc repro scenes` there first")
    return json.loads(summary.read_text())["files"]


def train(variant: str, out_dir: Path) -> dict:
    from ov_diffusion_quant.reference import pixart_training, training

    spec = load().variant(variant).model
    train_reference = {"sdxl": training.train_reference, "pixart": pixart_training.train_reference}[spec.family]
    started = time.perf_counter()
    metrics = train_reference(paths.SCENES, out_dir, seed=spec.seed, steps=spec.train.steps,
                              batch_size=spec.train.batch_size, lr=spec.train.lr, vae_steps=spec.train.vae_steps,
                              taesd_steps=spec.train.taesd_steps, threads=spec.train.threads, progress=True)
    return {**metrics, "wall_seconds": round(time.perf_counter() - started, 1), "peak_rss_mb": peak_rss_mb(),
            "host": host_facts.provenance()}


def trained_elsewhere(workspace: Path, variant: str, model_params: dict,
                      scenes_here: dict[str, str]) -> tuple[Path, dict]:
    """A model the source stage trained in ``workspace``, checked to be what the params and scenes here say."""
    model_dir, metrics_file = workspace / paths.source_model(variant), workspace / paths.metrics(variant, "source.json")
    if not (model_dir / "model_index.json").exists() or not metrics_file.exists():
        raise UserError(f"--trained {workspace}: no {paths.source_model(variant)} with "
                        f"{paths.metrics(variant, 'source.json')} there: run `python -m stages.source {variant}` in it")
    metrics = json.loads(metrics_file.read_text())
    train = model_params["train"]
    trained = {"seed": metrics["seed"], "steps": metrics["denoiser"]["steps"]}
    if trained != {"seed": model_params["seed"], "steps": train["steps"]}:
        raise UserError(f"--trained {workspace}: trained with {trained}, params.yaml asks for seed "
                        f"{model_params['seed']} and {train['steps']} steps")
    if scene_files(workspace) != scenes_here:
        raise UserError(f"--trained {workspace}: its data/scenes differs from this checkout's")
    return model_dir, metrics


def git_commit(checkout: Path) -> str | None:
    result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=checkout)
    return result.stdout.strip() or None


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--variant", default=REFERENCES[0], choices=REFERENCES, help="the reference model to snapshot")
    parser.add_argument("--trained", type=Path, metavar="WORKSPACE",
                        help="package the model `python -m stages.source <variant>` trained in this checkout")
    args = parser.parse_args(argv)
    variant, snapshot = args.variant, paths.REFERENCE_MODELS / args.variant
    if not Path("params.yaml").exists():
        raise UserError(f"no params.yaml in {Path.cwd()}: run this in the project's checkout")
    model_params = yaml.safe_load(Path("params.yaml").read_text())["variants"][variant]["model"]
    scenes = {"lock_md5": scenes_lock_md5(), "files": scene_files(Path.cwd())}
    elsewhere = trained_elsewhere(args.trained, variant, model_params, scenes["files"]) if args.trained else None
    provenance = {"variant": variant, "model": model_params, "scenes": scenes,
                  "commit": git_commit(args.trained or Path.cwd()), "date": datetime.date.today().isoformat()}
    with atomic_dir(snapshot) as out_dir:
        if elsewhere:
            model_dir, provenance["training"] = elsewhere
            shutil.copytree(model_dir, out_dir, dirs_exist_ok=True)
        else:
            provenance["training"] = train(variant, out_dir)
        (out_dir / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"{snapshot}: {sum(f.stat().st_size for f in snapshot.rglob('*') if f.is_file()) / 2**20:.1f} MB; "
          "commit it with its provenance.json", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
