"""The small interface every model family implements, and what its loaded pipeline offers.

A family knows how to build its tiny model, export a source model to an OpenVINO
directory, load that directory on a device, which IgnoredScope its denoiser needs for
full INT8, and what of params.yaml it accepts (``check_variant``). Stages only talk to
this interface, so a third family is one new file plus a params entry.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Iterator

from ov_diffusion_quant.common.artifacts import check_ir, read_json
from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.config.specs import GenerationSpec, ModelSpec, SourceKind

COMPILE_CONFIG_FILE = "compile_config.json"
SOURCE_FILE = "source.json"  # which model ids (and hub commits) an export was made from


class LoadedPipeline(ABC):
    """An OpenVINO-backed diffusion pipeline for one model directory on one device."""

    family: ClassVar[str]

    @abstractmethod
    def text_to_image(self, prompt: str, generation: GenerationSpec, seed: int, output_type: str = "pil",
                      steps: int | None = None, height: int | None = None, width: int | None = None):
        """Generate one image (or latents with ``output_type='latent'``) from a prompt."""

    def image_to_image(self, prompt: str, image, generation: GenerationSpec, seed: int,
                       steps: int | None = None, strength: float | None = None):
        raise UserError(f"image-to-image is not supported by the {self.family} family")

    @abstractmethod
    def prompt_token_count(self, prompt: str) -> int:
        """Tokens the text encoder would see (special tokens included), without truncation."""

    @property
    @abstractmethod
    def max_prompt_tokens(self) -> int:
        """Longer prompts are truncated by the pipeline; calibration skips them instead."""

    def encode(self, prompt: str):
        """The prompt's text-encoder output, for ``text_to_image(..., encoded=...)`` (families with
        ``ModelFamily.encodes_apart``)."""
        raise UserError(f"the {self.family} family does not run its text encoder apart")

    @abstractmethod
    def compiled_model_slots(self) -> dict[str, tuple[Any, str]]:
        """Where each component's compiled model lives: name -> (holder, attribute name).

        Hooks (calibration recording, per-component timing) replace that attribute
        with a wrapper and restore it afterwards.
        """


class ModelFamily(ABC):
    name: ClassVar[str]
    components: ClassVar[tuple[str, ...]]  # OpenVINO IR sub-directories of an exported model
    denoiser: ClassVar[str]  # the component called once per step: calibrated and quantized
    size_multiple: ClassVar[int]  # height and width must be multiples of this
    # The text encoder can run alone: load(parts=("text_encoder",)) then LoadedPipeline.encode, and the denoiser
    # and decoder without it: load(parts=(denoiser, "vae_decoder")), text_to_image(encoded=...). For a pipeline
    # whose parts do not fit in memory together (PixArt's T5-XXL in f32).
    encodes_apart: ClassVar[bool] = False
    # Twice the largest native size of these families (SDXL 1024, SDXL-Turbo 512, PixArt 1024): at 2048 x 2048
    # the self-attention over the finest latent grid (16,384 tokens) already takes ~1 GiB per head in f32,
    # and larger sizes only fail allocating memory after the model has loaded.
    max_size: ClassVar[int] = 2048
    max_steps: ClassVar[int]  # what the family's scheduler allows
    supports_img2img: ClassVar[bool] = False  # LoadedPipeline.image_to_image works (evaluated and gated too)
    supports_genai: ClassVar[bool] = False  # OpenVINO GenAI's Text2ImagePipeline runs its exports (benchmarked)
    has_tiny_autoencoder: ClassVar[bool] = False  # `model.taesd` replaces the VAE with a tiny autoencoder
    trains_reference: ClassVar[bool] = False  # `source: trained`: ov_diffusion_quant/reference/training.py builds it
    max_steps_reason: ClassVar[str]
    demo_max_steps: ClassVar[int] = 8  # the demo's step slider

    def prompt_length(self, spec: ModelSpec) -> int:
        """The text encoder's sequence length (what a prompt is padded to)."""
        return spec.max_length

    @classmethod
    def check_img2img(cls, steps: int, strength: float) -> None:
        """Refuse image-to-image settings this family cannot run (one line)."""
        raise UserError(f"image-to-image is not supported by the {cls.name} family")

    @classmethod
    def check_variant(cls, variant) -> None:
        """What params.yaml's generic checks cannot know: sizes, steps, components and scopes of this family."""
        where = f"variants.{variant.name}"
        model = variant.model
        if model.taesd is not None and not cls.has_tiny_autoencoder:
            raise UserError(f"params.yaml: {where}.model.taesd = {model.taesd!r}: the {cls.name} family has no tiny "
                            "autoencoder: remove it")
        if model.kind is SourceKind.TRAINED and not cls.trains_reference:
            raise UserError(f"params.yaml: {where}.model: `source: trained` trains a reference model, which the "
                            f"{cls.name} family does not build")
        generation = variant.generation
        cls.check_size(generation.height, generation.width, f"params.yaml: {where}.generation.")
        cls.check_steps(generation.steps, f"params.yaml: {where}.generation.steps")
        if cls.supports_img2img:
            cls.check_steps(generation.img2img_steps, f"params.yaml: {where}.generation.img2img_steps")
            try:
                cls.check_img2img(generation.img2img_steps, generation.img2img_strength)
            except UserError as error:
                raise UserError(f"params.yaml: {where}.generation.img2img_steps/img2img_strength: {error}") from error
        others = [name for name in cls.components if name != cls.denoiser]
        for component in variant.calibrate.other_components:
            if component not in others:
                raise UserError(f"unknown component {component!r} at {where}.calibrate.other_components: allowed "
                                f"are {', '.join(others)} (the denoiser's count is subset_size)")
        cls.check_components(variant.quantize.components, f"{where}.quantize.components")
        search = variant.quantize.search
        for index, candidate in enumerate(search.candidates if search else ()):
            cls.check_components(candidate.components, f"{where}.quantize.search.candidates[{index}]")

    @classmethod
    def check_components(cls, recipes: dict, where: str) -> None:
        for component, recipe in recipes.items():
            if component not in cls.components:
                raise UserError(f"unknown component {component!r} at {where}: {cls.name} has "
                                f"{', '.join(cls.components)}")
            for name in recipe.knobs.get("ignored_scope") or ():
                if name not in cls.ignored_scopes:
                    raise UserError(f"unknown ignored scope {name!r} at {where}.{component}.ignored_scope: "
                                    f"{cls.name} has {', '.join(cls.ignored_scopes)}")

    @classmethod
    def check_size(cls, height: int, width: int, where: str = "") -> None:
        for label, value in ((f"{where}height", height), (f"{where}width", width)):
            if value <= 0 or value % cls.size_multiple or value > cls.max_size:
                raise UserError(f"{label} {value} is not allowed for {cls.name}: use a positive multiple of "
                                f"{cls.size_multiple} up to {cls.max_size}")

    @classmethod
    def check_steps(cls, steps: int, label: str = "steps") -> None:
        if not 1 <= steps <= cls.max_steps:
            raise UserError(f"{label} {steps} is not allowed for {cls.name}: use 1 to {cls.max_steps} "
                            f"({cls.max_steps_reason})")

    @abstractmethod
    def build_tiny(self, spec: ModelSpec, out_dir: Path) -> None:
        """Write a tiny diffusers-format model (safetensors weights, offline tokenizers)."""

    def build_arch(self, spec: ModelSpec, out_dir: Path) -> None:
        """Write the real architecture with seeded random weights (``source: arch``), see arch_configs.py."""
        raise UserError(f"source 'arch' is not available for the {self.name} family")

    def arch_parameter_count(self, spec: ModelSpec) -> int | None:
        """Parameters of the ``source: arch`` model that the export traces, counted without allocating them."""
        return None

    def source_weights_gb(self, spec: ModelSpec) -> float | None:
        """The exported components' weights at 16 bit (the IR's size), for the pre-flight estimate of the export:
        counted for "arch", read off the safetensors of a local path or a filled HF cache; None for the tiny and
        trained models and for a hub model not downloaded yet."""
        if spec.kind is SourceKind.ARCH:
            count = self.arch_parameter_count(spec)
            return count * 2 / 2**30 if count else None
        if spec.kind is not SourceKind.PRETRAINED:
            return None
        from ov_diffusion_quant.common.hub import local_weights_bytes

        size = local_weights_bytes(spec.source, spec.weights_variant, spec.revision)
        return size / 2**30 if size else None

    @abstractmethod
    def export(self, spec: ModelSpec, generation: GenerationSpec, out_dir: Path) -> None:
        """Export the model named by ``spec`` to a self-contained OpenVINO directory."""

    @abstractmethod
    def load(self, model_dir: Path, device: str, f32: bool = False, parts: tuple[str, ...] | None = None) -> LoadedPipeline:
        """Load an exported (or optimized) directory on ``device``; ``parts``: only these components (families
        with ``encodes_apart``; None: all)."""

    # Named parts of a component's graph that a recipe can keep in float (`ignored_scope: [name, ...]`); a family
    # adds its own in ignored_scope_part.
    ignored_scopes: ClassVar[dict[str, str]] = {
        "attention_scores": "every ScaledDotProductAttention (Q·Kᵀ and the weights times V)",
    }

    def default_ignored_scope(self, component: str) -> tuple[str, ...]:
        """The scope names full INT8 of ``component`` takes when its recipe names none."""
        return ()

    def ignored_scope_part(self, component: str, ov_model, name: str) -> dict[str, list[str]]:
        """One named part as IgnoredScope fields (names, patterns, types)."""
        if name == "attention_scores":
            return {"types": ["ScaledDotProductAttention"]}
        raise UserError(f"unknown ignored scope {name!r} for {self.name}: allowed are {', '.join(self.ignored_scopes)}")

    def ignored_scope(self, component: str, ov_model, names: tuple[str, ...] | None = None) -> Any:
        """The nncf.IgnoredScope of the named parts (``None``: the component's default; None if it is empty)."""
        import nncf

        names = self.default_ignored_scope(component) if names is None else names
        fields: dict[str, list[str]] = {"names": [], "patterns": [], "types": []}
        for name in names:
            for key, values in self.ignored_scope_part(component, ov_model, name).items():
                fields[key] += values
        return nncf.IgnoredScope(**fields, validate=False) if any(fields.values()) else None

    # -- peers: optimum-intel's own quantizations (config/optimum_peers.py) ---------------------------
    peers: ClassVar[tuple[str, ...]] = ()  # the ones optimum-intel can make of this family's export

    def quantize_peer(self, peer: str, fp_dir: Path, out_dir: Path, captions: list[str], num_samples: int) -> None:
        """Write optimum-intel's quantization ``peer`` of the FP export ``fp_dir`` to ``out_dir``, calibrated on
        ``captions`` with ``num_samples`` denoiser calls."""
        raise UserError(f"optimum-intel has no pipeline for the {self.name} family: it has no peer {peer!r}")

    # -- helpers shared by families -------------------------------------------------------
    @contextlib.contextmanager
    def source_dir(self, spec: ModelSpec) -> Iterator[Path]:
        """The source model as a local diffusers directory: generated into a temp dir for "tiny" and
        "arch" (real architecture, random weights), otherwise a local path or the hub id resolved
        through the HF cache."""
        from ov_diffusion_quant.common.hub import local_model_dir, model_files

        builders = {SourceKind.TINY: self.build_tiny, SourceKind.ARCH: self.build_arch}
        if spec.kind not in builders:
            yield local_model_dir(spec.source, allow_patterns=model_files(spec.weights_variant),
                                  revision=spec.revision)
            return
        with tempfile.TemporaryDirectory(prefix=f"{spec.source}-{self.name}-") as scratch:
            builders[spec.kind](spec, Path(scratch))
            yield Path(scratch)

    @staticmethod
    def tiny_autoencoder_dir(spec: ModelSpec, source: Path) -> Path | None:
        """The diffusers directory of ``model.taesd`` (None without one): beside the generated source for "tiny" and
        "arch" (build_tiny / build_arch write it there), else a local path or a hub id through the HF cache."""
        from ov_diffusion_quant.common.hub import local_model_dir, model_files

        if spec.taesd is None:
            return None
        if spec.taesd_kind in (SourceKind.TINY, SourceKind.ARCH):
            return source / "taesd"
        return local_model_dir(spec.taesd, "taesd", model_files(), revision=spec.taesd_revision)

    @staticmethod
    def record_sources(out_dir: Path, sources: dict[str, tuple[Path, str]]) -> None:
        """Make the export independent of where its sources lay, and say which sources it used.

        Exporters copy each source's local directory (a temp build dir, or the HF cache snapshot on
        this host) into the configs' ``_name_or_path``; a random or host path there gives every
        export a new hash. It is replaced by the source's id, and ``source.json`` records each id
        with the hub commit it resolved to (None for generated weights).
        """
        from ov_diffusion_quant.common.hub import provenance

        out_dir = Path(out_dir)
        by_length = sorted(((str(path), label) for path, label in sources.values() if path), key=lambda x: -len(x[0]))

        def stable(value):
            if isinstance(value, dict):
                return {key: stable(item) if key not in ("_name_or_path", "name_or_path") else relabel(item)
                        for key, item in value.items()}
            return [stable(item) for item in value] if isinstance(value, list) else value

        def relabel(value):
            if not isinstance(value, str) or not value.startswith("/"):
                return value
            for prefix, label in by_length:
                if value == prefix or value.startswith(prefix + "/"):
                    return label + value[len(prefix):]
            return Path(value).name

        for config in sorted(out_dir.rglob("*.json")):
            data = json.loads(config.read_text())
            cleaned = stable(data)
            if cleaned != data:
                config.write_text(json.dumps(cleaned, indent=2, sort_keys=True) + "\n")
        record = {name: provenance(label, path) if path else {"id": label, "revision": None}
                  for name, (path, label) in sources.items()}
        (out_dir / SOURCE_FILE).write_text(json.dumps(record, indent=2) + "\n")

    @staticmethod
    def read_sources(model_dir: Path) -> dict:
        path = Path(model_dir) / SOURCE_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    @staticmethod
    def read_compile_config(model_dir: Path) -> dict[str, dict[str, str]]:
        path = Path(model_dir) / COMPILE_CONFIG_FILE
        return read_json(path) if path.exists() else {}

    def check_exported(self, model_dir: Path) -> None:
        """A clear error for a missing, incomplete or damaged model directory (before any library opens it)."""
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise UserError(f"model directory {model_dir} does not exist: run `dvc repro` for its export/quantize stage")
        for component in self.components:
            xml = model_dir / component / "openvino_model.xml"
            if not xml.exists() or not xml.with_suffix(".bin").exists():
                raise UserError(f"{xml} (or its .bin) is missing: {model_dir} is not a complete {self.name} export")
            check_ir(xml)
