"""Do the cross-attention maps mean something? Measured on tiny-shapes, where the truth is known.

For prompts naming one large shape (the canonical template, e.g. "a large red circle on the
left"), each image is generated with ``capture_attention=True``. For the colour word, the shape
word and the start token, the token's map is summed over the steps (DAAM), upsampled to the
64 × 64 image (bilinear), thresholded at its own top ``fraction`` (20 %) of pixels, and compared
with the image's foreground (the scorer's: brightest channel > 60) by IoU.

The start token is the control: under CLIP's causal mask it has seen only itself, so it knows
nothing of the prompt, and any overlap it has with the shape is what a map gets for free.
A large shape covers 8-17 % of the image, so a perfect top-20 % map scores IoU 0.4-0.8.

    python -m explainer.shapes.grounding            # the figures for the shipped model
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explainer.explore.attention_maps import AttentionMaps, iou
from explainer.drawn.dataset import IMAGE_SIZE, Attributes, all_attributes, caption
from explainer.drawn.scorer import FOREGROUND

WORDS = ("colour", "shape", "start")


@dataclass(frozen=True)
class Grounding:
    """Mean IoU of each token's top-``fraction`` map with the foreground, over ``prompts``."""

    prompts: tuple[str, ...]
    per_prompt: np.ndarray  # [N, 3]: colour word, shape word, start token
    fraction: float

    @property
    def colour(self) -> float:
        return float(self.per_prompt[:, 0].mean())

    @property
    def shape(self) -> float:
        return float(self.per_prompt[:, 1].mean())

    @property
    def start(self) -> float:
        return float(self.per_prompt[:, 2].mean())

    @property
    def words(self) -> float:
        """The colour and shape words together (the mean of their IoUs)."""
        return float(self.per_prompt[:, :2].mean())

    def table(self) -> str:
        n = len(self.prompts)
        se = self.per_prompt.std(axis=0, ddof=1) / np.sqrt(n)
        rows = [f"IoU of the top {self.fraction:.0%} of each token's map with the shape, "
                f"{n} prompts (mean ± standard error)"]
        rows += [f"  {name:<12} {self.per_prompt[:, k].mean():.2f} ± {se[k]:.2f}"
                 for k, name in enumerate(("colour word", "shape word", "start token"))]
        rows.append(f"  words - start = {self.words - self.start:+.2f}")
        return "\n".join(rows)


def large_shapes() -> list[Attributes]:
    """Every one-large-shape combination (3 shapes x 6 colours x 5 positions = 90)."""
    return [a for a in all_attributes() if a.size == "large"]


def foreground(image) -> np.ndarray:
    """The scorer's foreground: pixels whose brightest channel exceeds ``FOREGROUND``."""
    return np.asarray(image).max(axis=-1) > FOREGROUND


def measure_grounding(pipe, attrs: list[Attributes] | None = None, seed: int = 2000,
                      fraction: float = 0.2, batch: int = 30, guidance_scale=None,
                      num_steps: int = 25) -> Grounding:
    """Generate each prompt once (seed, seed+1, ...) with the maps captured, and score them."""
    attrs = large_shapes() if attrs is None else list(attrs)
    prompts = [caption(a) for a in attrs]
    rows = []
    for start in range(0, len(attrs), batch):
        chunk = prompts[start:start + batch]
        result = pipe.text_to_image(chunk, seed=[seed + start + k for k in range(len(chunk))],
                                    num_steps=num_steps, guidance_scale=guidance_scale,
                                    capture_attention=True, keep=("cross_attention",))
        for k, a in enumerate(attrs[start:start + batch]):
            maps = AttentionMaps(result.trace, image=k)
            fg = foreground(result.images[k])
            rows.append([iou(AttentionMaps.top_mask(
                AttentionMaps.upsampled(maps.token(word, "all", "all"), IMAGE_SIZE), fraction), fg)
                for word in (a.colour, a.shape, "<start>")])
    return Grounding(tuple(prompts), np.asarray(rows), fraction)


def main(argv=None) -> int:
    import argparse

    import explainer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="a tiny-shapes folder (default: shipped)")
    parser.add_argument("--seed", type=int, default=2000)
    args = parser.parse_args(argv)
    pipe = explainer.load_pipeline(weights=args.weights) if args.weights else \
        explainer.load_pipeline()
    print(measure_grounding(pipe, seed=args.seed).table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
