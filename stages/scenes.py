"""scenes stage: the procedural text-image data set the reference model trains and is judged on.

    python -m stages.scenes   ->  data/scenes/{train,heldout,validation}{.jsonl,_images.npy}, dataset.json

Simple scenes (shape, colour, count, position, background) with captions that describe them
fully; the held-out split uses attribute combinations that training never shows, and the validation split
the same combinations with none of the held-out captions (for tuning). Made in
seconds from `scenes.seed`, byte for byte the same for the same params.
"""

from __future__ import annotations


from ov_diffusion_quant.common import paths
from ov_diffusion_quant.common.errors import argument_parser, main_with_clear_errors
from ov_diffusion_quant.config.params import load
from ov_diffusion_quant.reference.scene_dataset import write_dataset


@main_with_clear_errors
def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.parse_args(argv)

    scenes = load().scenes
    write_dataset(paths.SCENES, seed=scenes.seed, train_size=scenes.train_size, heldout_size=scenes.heldout_size,
                  image_size=scenes.image_size, validation_size=scenes.validation_size)


if __name__ == "__main__":
    raise SystemExit(main())
