"""The synthetic shapes dataset: one shape on black, and captions that say exactly what it is.

Every image is drawn by code, so whether a generated picture follows its prompt can be
measured exactly (see ``scorer.py``). An image has four attributes:

| attribute  | values                                              |
|------------|-----------------------------------------------------|
| shape      | circle, square, triangle                            |
| colour     | red, green, blue, yellow, purple, white (pure RGB)  |
| size       | small, large                                        |
| position   | left, right, top, bottom, center                    |

Some (colour, shape) pairs are never shown in training (``HELD_OUT``), so a test can ask
whether the model composes a colour and a shape it has only seen apart.

Drawing is deterministic from a seed: positions and sizes get a small jitter so the model
learns regions, not single pixels, and edges are anti-aliased by 4x supersampling.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

IMAGE_SIZE = 64
SHAPES = ("circle", "square", "triangle")
COLOURS = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "purple": (160, 0, 255),
    "white": (255, 255, 255),
}
SIZES = {"small": 12, "large": 26}            # nominal side / diameter in pixels
POSITIONS = {                                  # nominal centre (x, y) in pixels
    "left": (17, 32), "right": (47, 32), "top": (32, 17), "bottom": (32, 47), "center": (32, 32),
}
HELD_OUT = (("purple", "triangle"), ("yellow", "circle"), ("white", "square"))
JITTER_PX = 2          # centre moves by up to this many pixels each way
SIZE_JITTER = 0.12     # size varies by up to +-12 %
SUPERSAMPLE = 4

POSITION_PHRASES = {
    "left": ("on the left", "at the left", "on the left side"),
    "right": ("on the right", "at the right", "on the right side"),
    "top": ("at the top", "on the top", "near the top"),
    "bottom": ("at the bottom", "on the bottom", "near the bottom"),
    "center": ("in the center", "in the middle", "at the center"),
}
SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big", "huge")}
TEMPLATES = (
    "a {size} {colour} {shape} {position}",          # canonical: the scored prompts use this
    "{size} {colour} {shape} {position}",
    "a {colour} {shape}, {size}, {position}",
    "{position} there is a {size} {colour} {shape}",
    "a {size} {shape} in {colour} {position}",
    "a picture of a {size} {colour} {shape} {position}",
)


@dataclass(frozen=True)
class Attributes:
    """What one image shows; the scorer compares a generated image against these."""

    shape: str
    colour: str
    size: str
    position: str

    def __post_init__(self):
        for name, allowed in (("shape", SHAPES), ("colour", COLOURS), ("size", SIZES),
                              ("position", POSITIONS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}; choose one of {list(allowed)}")

    @property
    def held_out(self) -> bool:
        return (self.colour, self.shape) in HELD_OUT

    def as_dict(self) -> dict:
        return asdict(self)


def all_attributes(include_held_out: bool = True) -> list[Attributes]:
    """Every combination (180), in a fixed order."""
    combos = [Attributes(s, c, z, p) for s in SHAPES for c in COLOURS for z in SIZES
              for p in POSITIONS]
    return [a for a in combos if include_held_out or not a.held_out]


def caption(attrs: Attributes, template: int = 0, variant: int = 0) -> str:
    """The caption of ``attrs`` from template ``template`` (0 = canonical) and synonym
    choice ``variant`` (0 = the canonical words)."""
    if not 0 <= template < len(TEMPLATES):
        raise ValueError(f"template={template}; choose 0 to {len(TEMPLATES) - 1}")
    size = SIZE_WORDS[attrs.size][variant % len(SIZE_WORDS[attrs.size])]
    position = POSITION_PHRASES[attrs.position][variant % 3]
    return TEMPLATES[template].format(size=size, colour=attrs.colour, shape=attrs.shape,
                                      position=position)


def coverage(shape: str, cx: float, cy: float, side: float, n: int = IMAGE_SIZE) -> np.ndarray:
    """Coverage of a shape on an n x n grid of pixel centres, float in [0, 1] (supersampled).

    Computed only in the pixels of the shape's box (plus one), zero elsewhere."""
    s = SUPERSAMPLE
    half = side / 2
    lo_x, hi_x = max(int(cx - half) - 1, 0), min(int(cx + half) + 2, n)    # pixel window
    lo_y, hi_y = max(int(cy - half) - 1, 0), min(int(cy + half) + 2, n)
    out = np.zeros((n, n))
    if lo_x >= hi_x or lo_y >= hi_y:
        return out
    coords = (np.arange(n * s) + 0.5) / s                                   # sub-pixel centres
    x, y = np.meshgrid(coords[lo_x * s: hi_x * s], coords[lo_y * s: hi_y * s])
    if shape == "circle":
        inside = (x - cx) ** 2 + (y - cy) ** 2 <= half ** 2
    elif shape == "square":
        inside = (np.abs(x - cx) <= half) & (np.abs(y - cy) <= half)
    else:  # an upright isosceles triangle in the side x side box: apex top, base bottom
        top, bottom = cy - half, cy + half
        frac = np.clip((y - top) / side, 0, 1)                              # 0 at apex, 1 at base
        inside = (y >= top) & (y <= bottom) & (np.abs(x - cx) <= half * frac)
    h, w = hi_y - lo_y, hi_x - lo_x
    out[lo_y:hi_y, lo_x:hi_x] = inside.reshape(h, s, w, s).mean(axis=(1, 3))
    return out                                                              # [n, n] coverage


def jittered(attrs: Attributes, rng: np.random.Generator | None) -> tuple[float, float, float]:
    """Centre (x, y) and side of ``attrs`` in pixels, moved by ``rng``'s jitter (None: nominal)."""
    cx, cy = POSITIONS[attrs.position]
    side = float(SIZES[attrs.size])
    if rng is not None:
        cx, cy = cx + rng.uniform(-JITTER_PX, JITTER_PX), cy + rng.uniform(-JITTER_PX, JITTER_PX)
        side *= 1 + rng.uniform(-SIZE_JITTER, SIZE_JITTER)
    return cx, cy, side


def draw_coverage(cover: np.ndarray, colour: str) -> np.ndarray:
    """float RGB [64, 64, 3] in 0..255: ``colour`` painted with coverage ``cover`` [64, 64]."""
    return cover[..., None] * np.array(COLOURS[colour], np.float32)


def draw(attrs: Attributes, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """A 64x64 uint8 RGB image of ``attrs``; ``rng`` (or a seed) adds the jitter, None draws
    the nominal shape exactly."""
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) and rng is not None else rng
    cx, cy, side = jittered(attrs, rng)
    cover = coverage(attrs.shape, cx, cy, side)                             # [64, 64]
    return np.round(draw_coverage(cover, attrs.colour)).astype(np.uint8)    # [64, 64, 3]


class ShapesDataset:
    """Deterministic batches of (images, captions, attributes) from a seed, generated on the fly.

    Args:
        seed: the stream's seed; batch k of a dataset is the same on every machine.
        include_held_out: False for the diffusion model's training (the held-out pairs are
            never shown); True for the VAE, which needs no captions.
        uncond_prob: fraction of captions replaced by "" (classifier-free guidance training).
    """

    def __init__(self, seed: int = 0, include_held_out: bool = False, uncond_prob: float = 0.0):
        self.seed, self.uncond_prob = seed, uncond_prob
        self.combos = all_attributes(include_held_out)

    def batch(self, index: int, size: int):
        """Batch ``index``: images uint8 [size, 64, 64, 3], captions, attributes."""
        rng = np.random.default_rng([self.seed, index])
        picks = rng.integers(0, len(self.combos), size)
        attrs = [self.combos[k] for k in picks]
        images = np.stack([draw(a, rng) for a in attrs])
        captions = [caption(a, int(rng.integers(len(TEMPLATES))), int(rng.integers(3)))
                    for a in attrs]
        drop = rng.random(size) < self.uncond_prob
        captions = ["" if d else c for c, d in zip(captions, drop)]
        return images, captions, attrs
