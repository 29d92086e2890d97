"""Resolve a model id to a local directory: a local path, or the Hugging Face cache / hub.

Offline, an id that is not cached fails with one line that says how to fix it,
instead of a stack trace from deep inside huggingface_hub.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ov_diffusion_quant.common.errors import UserError

# Never fetch pickled weights or remote code: safetensors, configs and tokenizer files only.
CONFIG_FILES = ["*.json", "*.txt", "*.model"]


def model_files(weights_variant: str | None = None) -> list[str]:
    """Download patterns: configs/tokenizers plus one set of safetensors weights."""
    return CONFIG_FILES + ([f"*.{weights_variant}.safetensors"] if weights_variant else ["*.safetensors"])


TINY_ALTERNATIVE = "or keep the tiny default variants in params.yaml 'enabled'"


def offline_hint(repo_id: str, kind: str = "model", alternative: str = TINY_ALTERNATIVE) -> str:
    download = "hf download --repo-type dataset" if kind == "dataset" else "hf download"
    return (
        f"{kind} {repo_id!r} is not in the Hugging Face cache and the hub is unreachable: "
        f"fill the cache with `{download} {repo_id}` where the hub is reachable (and copy HF_HOME here), "
        f"{alternative}"
    )


def snapshot_commit(path: Path | str) -> str | None:
    """The hub commit a Hugging Face cache snapshot directory holds (``.../snapshots/<commit>[/...]``)."""
    parts = Path(path).parts
    if "snapshots" in parts and parts.index("snapshots") + 1 < len(parts):
        return parts[parts.index("snapshots") + 1]
    return None


def provenance(source: str, directory: Path) -> dict:
    """What a run used: the id (or path) and, for a hub id, the commit it resolved to."""
    return {"id": source, "revision": snapshot_commit(directory)}


def local_model_dir(source: str, kind: str = "model", allow_patterns: list[str] | None = None,
                    alternative: str = TINY_ALTERNATIVE, revision: str | None = None) -> Path:
    """A local directory holding ``source`` (a path, or a hub repo id at ``revision`` resolved through the
    cache; None: the default branch)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if source.startswith((".", "/", "~")):
        raise UserError(f"{kind} path {source!r} does not exist")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    patterns = allow_patterns or model_files()
    try:
        return Path(snapshot_download(source, allow_patterns=patterns, local_files_only=True,
                                           revision=revision))
    except HFValidationError as error:
        raise UserError(f"{kind} source {source!r} is neither a directory nor a valid hub id") from error
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        pass
    try:
        return Path(snapshot_download(source, allow_patterns=patterns, revision=revision))
    except Exception as error:  # offline, DNS failure, 401/404 on a gated or missing repo
        at = f" at revision {revision!r}" if revision else ""
        raise UserError(offline_hint(source, kind, alternative).replace(f"{kind} {source!r}", f"{kind} {source!r}{at}", 1)) from error


def local_weights_bytes(source: str, weights_variant: str | None = None, revision: str | None = None) -> int | None:
    """The safetensors weights of ``source`` that are on this machine already (a local path, or the HF cache), in
    16 bit (a 32-bit file counts half: the export writes FP16); None when they are not here."""
    path = Path(source).expanduser()
    if not path.is_dir():
        from huggingface_hub import snapshot_download

        try:
            path = Path(snapshot_download(source, allow_patterns=model_files(weights_variant), local_files_only=True,
                                          revision=revision))
        except Exception:  # noqa: BLE001 - not cached (or not an id): no estimate, the export says why if it fails
            return None
    from safetensors import safe_open

    variants = ("fp16", "bf16", "fp32")  # diffusers' weight variants: `name.<variant>.safetensors`
    files = [file for file in path.rglob("*.safetensors")
             if (file.suffixes[-2:-1] == [f".{weights_variant}"] if weights_variant
                 else file.suffixes[-2:-1] not in ([f".{v}"] for v in variants))]
    total = 0
    for file in files:
        with safe_open(file, "np") as weights:
            for name in weights.keys():
                shape = weights.get_slice(name).get_shape()
                count = 1
                for dim in shape:
                    count *= dim
                total += 2 * count
    return total or None


def directory_digest(path: Path | str) -> str:
    """sha256 over the relative paths and bytes of every file under ``path``: what a local source holds, so
    that a stage recording it changes when the files do (DVC tracks the directory, not what a path names)."""
    digest = hashlib.sha256()
    root = Path(path)
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()
