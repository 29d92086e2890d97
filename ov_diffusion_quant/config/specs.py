"""The validated params as typed objects, and the one home of the code's defaults (their fields'; params.yaml
states the same values, tests/test_params.py checks it). Pure data: the families take these specs, the
loader (params.py) builds them."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

from ov_diffusion_quant.common.errors import UserError
from ov_diffusion_quant.config.recipes import ComponentRecipe

VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # no ".": DVC reads it as a params key separator
PSNR_CAP_DB = 100.0  # identical images have infinite PSNR; JSON, plots and the gate need a number
SEARCH_OBJECTIVES = ("fastest_passing",)
PROMPT_SOURCES = ("local", "hub")
PRECISIONS = ("auto", "f32", "bf16")  # host.precision (runtime/host_facts.py resolves auto)
LARGE_MODEL_SWITCHES = ("auto", "on", "off")  # ov_diffusion_quant/quantization/nncf_patches.py


@dataclass(frozen=True)
class TrainSpec:
    """How the reference model (`source: trained`) is trained on the scenes data set."""
    steps: int  # denoiser optimisation steps
    batch_size: int = 16
    lr: float = 1e-3
    taesd_steps: int = 600  # tiny-autoencoder steps first: it defines the latent space
    vae_steps: int = 500  # AutoencoderKL steps after the denoiser, distilled into that space
    threads: int = 2


class SourceKind(enum.Enum):
    """What `model.source` (and `model.taesd`) names."""
    TINY = "tiny"  # generated from the family's tiny config with the variant's seed
    ARCH = "arch"  # the real architecture from its public config, seeded random weights
    TRAINED = "trained"  # trained by the source stage (the reference model)
    PRETRAINED = "pretrained"  # a hub id or a local directory

    @classmethod
    def of(cls, source: str | None, trained: bool = False) -> "SourceKind":
        if trained:
            return cls.TRAINED
        return {cls.TINY.value: cls.TINY, cls.ARCH.value: cls.ARCH}.get(source, cls.PRETRAINED)


@dataclass(frozen=True)
class ModelSpec:
    family: str
    source: str  # `tiny`, `arch`, a hub id or a local path (SourceKind); `trained` becomes models/<v>/source
    seed: int = 0  # seed of the generated tiny weights
    taesd: str | None = None  # tiny autoencoder: `tiny`, `arch`, a hub id / path, or None to keep the full VAE
    max_length: int = 120  # PixArt: T5 max sequence length
    weights_variant: str | None = None  # hub weight files to use, e.g. "fp16" for *.fp16.safetensors
    revision: str | None = None  # hub revision (commit, tag or branch) of `source`; None: the default branch
    taesd_revision: str | None = None  # the same for `taesd`
    train: TrainSpec | None = None  # `source: trained`: trained by the source stage into models/<variant>/source

    @property
    def kind(self) -> SourceKind:
        return SourceKind.of(self.source, trained=self.train is not None)

    @property
    def taesd_kind(self) -> SourceKind | None:
        return None if self.taesd is None else SourceKind.of(self.taesd)


@dataclass(frozen=True)
class GenerationSpec:
    height: int
    width: int
    steps: int
    guidance: float = 0.0
    seed: int = 0
    img2img_steps: int = 2
    img2img_strength: float = 0.5


@dataclass(frozen=True)
class CalibrateSpec:
    subset_size: int  # denoiser samples
    # Other components to record inputs for (component -> samples), so that they can take a calibrated
    # recipe too: e.g. {vae_decoder: 4}. Recorded from full text-to-image runs (the VAE has to run).
    other_components: dict[str, int] = field(default_factory=dict)
    prompts: "PromptSource | None" = None  # the stage-wide calibrate.prompts with this variant's keys over it


@dataclass(frozen=True)
class Candidate:
    """One recipe the search tries: the variant's components with these replaced."""
    name: str
    components: dict[str, ComponentRecipe]


@dataclass(frozen=True)
class SearchSpec:
    """A variant's recipe search (ov_diffusion_quant/orchestration/search.py): its candidates (names from the registry
    `search.candidates`, resolved for its family over its own components), tried on a validation split that the gate
    never reports on; the fastest that passes the variant's gate is quantize's recipe."""
    candidates: tuple[Candidate, ...]
    prompts: str  # the validation split: JSON lines with a caption field, disjoint from evaluate's prompts
    num_prompts: int
    objective: str = "fastest_passing"
    # stop rendering a candidate once the gate is certain to fail it (search.CertainFailure); false: every
    # candidate renders every caption, for complete rows
    stop_early: bool = True


@dataclass(frozen=True)
class QuantizeSpec:
    components: dict[str, ComponentRecipe]  # component name -> its recipe (config/recipes.py)
    # NNCF patches for models with > 2 GiB of weights (ov_diffusion_quant/quantization/nncf_patches.py): auto, on or off
    large_model_patches: str = "auto"
    search: SearchSpec | None = None  # None: quantize takes `components` as they are


@dataclass(frozen=True)
class GateSpec:
    ssim_min: float
    psnr_min: float
    clip_sim_min: float | None = None
    # judged variants: the optimized model's prompt adherence may be at most this much lower than FP's
    adherence_drop_max: float | None = None


@dataclass(frozen=True)
class VariantEvaluate:
    """A variant's own validation set and judge (the trained reference model: held-out scene captions)."""
    prompts: str | None = None  # JSON lines with a caption field; None: evaluate.prompts
    num_prompts: int | None = None  # None: evaluate.num_prompts
    judge: str | None = None  # "scenes": score prompt adherence of FP and optimized images


@dataclass(frozen=True)
class ScenesParams:
    seed: int = 0
    image_size: int = 64
    train_size: int = 6000
    heldout_size: int = 200
    validation_size: int = 200


@dataclass(frozen=True)
class Variant:
    name: str
    model: ModelSpec
    generation: GenerationSpec
    calibrate: CalibrateSpec
    quantize: QuantizeSpec
    gate: GateSpec | None = None
    evaluate: VariantEvaluate = field(default_factory=VariantEvaluate)


@dataclass(frozen=True)
class PromptSource:
    """`calibrate.prompts` (and a variant's `calibrate.prompts`, over it): where calibration captions come from."""
    source: str = "local"  # local: `path`; hub: `dataset_id` streamed through `datasets`
    path: str = "data/prompts/calibration.jsonl"
    dataset_id: str = "google-research-datasets/conceptual_captions"
    split: str = "train"
    shuffle_seed: int = 42
    column: str = "caption"
    revision: str | None = None  # hub revision of `dataset_id`


@dataclass(frozen=True)
class CalibrateParams:
    prompts: PromptSource = field(default_factory=PromptSource)
    compare_notebook_prompts: int = 4  # prompts timed both ways (latents only vs the notebooks' full pipeline)


@dataclass(frozen=True)
class EvaluateParams:
    prompts: str = "data/prompts/validation.jsonl"  # JSON lines with a caption field
    num_prompts: int = 6
    seeds: list[int] = field(default_factory=lambda: [0])
    clip_model: str | None = "openai/clip-vit-large-patch14"
    clip_revision: str | None = None  # hub revision of `clip_model`


@dataclass(frozen=True)
class HostParams:
    precision: str = "auto"  # auto (OpenVINO's default for this CPU), f32 or bf16


@dataclass(frozen=True)
class BenchmarkParams:
    warmup: int = 1  # untimed runs per configuration before the timed ones
    runs: int = 5  # timed end-to-end text-to-image runs per configuration
    prompts: int = 5  # the runs cycle through the first `prompts` validation prompts
    f32_baseline: bool = True
    bf16_baseline: bool = True
    runtimes: list[str] = field(default_factory=lambda: ["optimum", "genai"])
    # Rounds of all configurations, each in a fresh process, runs pooled: on a shared host whose speed drifts
    # (20% between two runs here), alternating FP and optimized keeps the drift out of their ratio.
    rounds: int = 1
    # Compile every component for the variant's size (recorded from one run) instead of dynamic shapes.
    static_shapes: bool = False
    # FP f32 with the text encoder run alone and released before the denoiser and decoder are compiled, the
    # latency composed of both parts (families with ModelFamily.encodes_apart): auto = when the whole f32
    # pipeline would not fit in the memory available (PixArt's T5-XXL is 19 GB in f32); always; never.
    text_encoder_apart: str = "auto"
    # optimum-intel's own quantizations of the FP export (config/optimum_peers.py), timed and judged beside the optimized model
    peers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GateParams:
    # A gate run that checked nothing (nothing enabled, or every enabled variant `gate: null`) fails unless
    # this allows it, e.g. `make bench-arch`, whose random-weight variants have no meaningful threshold.
    allow_empty: bool = False


@dataclass(frozen=True)
class SearchParams:
    """`search`: which enabled variants run their search in this DAG (stages statistics, fp_images and
    candidate@<variant>-<device>-<candidate>), and the candidate registry: name -> family -> the components it sets."""
    variants: list[str] = field(default_factory=list)
    candidates: dict[str, dict[str, dict[str, ComponentRecipe]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Params:
    enabled: list[str]
    variants: dict[str, Variant]
    devices: list[str] = field(default_factory=lambda: ["CPU"])
    host: HostParams = field(default_factory=HostParams)
    scenes: ScenesParams = field(default_factory=ScenesParams)
    calibrate: CalibrateParams = field(default_factory=CalibrateParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    gate: GateParams = field(default_factory=GateParams)
    benchmark: BenchmarkParams = field(default_factory=BenchmarkParams)
    search: SearchParams = field(default_factory=SearchParams)
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def searches(self, name: str) -> bool:
        """Whether the variant runs its recipe search in this DAG (it is in `search.variants`)."""
        return name in self.search.variants

    def searching_variant(self, name: str) -> Variant:
        """The variant, which must run its recipe search in this DAG (the search's own stages)."""
        variant = self.variant(name)
        if not self.searches(variant.name):
            raise UserError(f"{variant.name} does not search in this DAG: add it to search.variants")
        return variant

    def variant(self, name: str) -> Variant:
        check_variant_name(name)
        if name not in self.variants:
            raise UserError(f"unknown variant {name!r}: params.yaml defines {', '.join(sorted(self.variants))}")
        return self.variants[name]


def check_variant_name(name: str) -> None:
    if not VARIANT_NAME.match(name):
        raise UserError(
            f"invalid variant name {name!r}: use letters, digits, '_' and '-' only (no path characters; DVC reads '.' as a params key separator)"
        )
