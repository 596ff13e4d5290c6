"""Scenes of one or two shapes, and captions that leave some attributes open (tiny-shapes 2).

A *scene* holds one or two shapes (``Attributes``: shape, colour, size, position; see
``dataset.py``), two at distinct positions with black between them. Its caption has one
phrase per shape, joined by "and", and each phrase states each attribute only some of the
time: "a circle", "something blue at the top", "a large red shape", "a red circle on the left
and a small square". What a phrase leaves open is whatever the scene has, and scenes are drawn
uniformly, so the open attributes are uniform too. That is what lets the seed choose what the
words do not say, and what makes guidance trade variety for adherence.

| name          | what it is                                                             |
|---------------|------------------------------------------------------------------------|
| ``Scene``     | the drawn truth: a tuple of one or two ``Attributes``                  |
| ``Phrase``    | what one phrase of a caption asks for; ``None`` = left open            |
| ``describe``  | phrases -> caption text (the canonical word order that evaluation uses) |
| ``SceneDataset`` | deterministic batches of (images, captions, scenes, phrases)         |

Two shapes may share a scene when their nominal boxes leave at least ``MIN_GAP`` px of black
between them: opposite positions (left + right, top + bottom), at most one of them large.
A drawn scene is redrawn until the jittered shapes are at least ``SEPARATION`` px apart. The
VAE (f = 8) blurs a narrower gap shut: in a round trip of the fine-tuned VAE, scenes whose
shapes were 2-4 px apart came back as one blob in 25-43 % of cases, 6 px or more in none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explainer.drawn.dataset import (
    COLOURS,
    IMAGE_SIZE,
    POSITION_PHRASES,
    POSITIONS,
    SHAPES,
    SIZE_WORDS,
    SIZES,
    Attributes,
    all_attributes,
    coverage,
    draw_coverage,
    jittered,
)

ATTRIBUTES = ("shape", "colour", "size", "position")
MIN_GAP = 8.0            # px of black between the nominal boxes of two shapes in one scene
SEPARATION = 6           # px of black (at least) between two drawn shapes
TWO_SHAPES = 0.5         # fraction of scenes with two shapes
ALL_STATED = 0.3         # fraction of phrases that state all four attributes
STATED = 0.5             # otherwise, the chance that a phrase states each attribute
NOUNS = ("shape", "thing")          # the noun of a phrase that leaves the shape open
PREFIXES = ("", "", "", "a picture of ", "an image of ")  # "" is the canonical form


@dataclass(frozen=True)
class Phrase:
    """What one phrase asks of one shape; an attribute that is ``None`` is left open."""

    shape: str | None = None
    colour: str | None = None
    size: str | None = None
    position: str | None = None

    def __post_init__(self):
        allowed = {"shape": SHAPES, "colour": COLOURS, "size": SIZES, "position": POSITIONS}
        for name in ATTRIBUTES:
            value = getattr(self, name)
            if value is not None and value not in allowed[name]:
                raise ValueError(f"{name}={value!r}; choose one of {list(allowed[name])} "
                                 "or None (left open)")

    @classmethod
    def of(cls, attrs: Attributes, stated=ATTRIBUTES) -> "Phrase":
        """The phrase that states ``stated`` of ``attrs`` and leaves the rest open."""
        return cls(**{name: getattr(attrs, name) if name in stated else None
                      for name in ATTRIBUTES})

    @property
    def stated(self) -> tuple[str, ...]:
        return tuple(name for name in ATTRIBUTES if getattr(self, name) is not None)

    def matches(self, attrs: Attributes) -> bool:
        """Whether ``attrs`` has every attribute this phrase states."""
        return all(getattr(attrs, name) == getattr(self, name) for name in self.stated)

    def text(self, variant: int = 0, noun: int = 0) -> str:
        """The words: "a {size} {colour} {shape} {position}" with what is open left out
        (``variant`` picks size and position synonyms, 0 = canonical; ``noun`` the word for
        an open shape: "shape", "thing", or "something" before the colour)."""
        size = SIZE_WORDS[self.size][variant % 3] if self.size else None
        position = POSITION_PHRASES[self.position][variant % 3] if self.position else None
        if self.shape is None and self.size is None and noun == len(NOUNS):
            words = ["something", self.colour, position]              # "something blue ..."
        else:
            noun_word = self.shape or NOUNS[noun % len(NOUNS)]
            words = ["a", size, self.colour, noun_word, position]
        return " ".join(w for w in words if w)


@dataclass(frozen=True)
class Scene:
    """One or two shapes, as drawn."""

    shapes: tuple[Attributes, ...]

    def __post_init__(self):
        if not 1 <= len(self.shapes) <= 2:
            raise ValueError(f"a scene holds one or two shapes, not {len(self.shapes)}")
        if len(self.shapes) == 2 and not fits(*self.shapes):
            a, b = self.shapes
            raise ValueError(f"a {a.size} shape at the {a.position} and a {b.size} shape at "
                             f"the {b.position} do not fit; two shapes need opposite "
                             "positions (left and right, or top and bottom), at most one large")

    @property
    def held_out(self) -> bool:
        return any(a.held_out for a in self.shapes)


def fits(a: Attributes, b: Attributes) -> bool:
    """Whether ``a`` and ``b`` can share a scene: ``MIN_GAP`` px of black between their
    nominal boxes along some axis."""
    if a.position == b.position:
        return False
    (ax, ay), (bx, by) = POSITIONS[a.position], POSITIONS[b.position]
    reach = (SIZES[a.size] + SIZES[b.size]) / 2
    return max(abs(ax - bx), abs(ay - by)) - reach >= MIN_GAP


def describe(phrases, prefix: str = "", variant: int = 0, noun: int = 0) -> str:
    """The caption of ``phrases`` (one per shape, joined by "and"); with the defaults, the
    canonical text the evaluation prompts use."""
    return prefix + " and ".join(p.text(variant, noun) for p in phrases)


def draw_scene(scene: Scene, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """A 64x64 uint8 RGB image of ``scene``. With ``rng`` (or a seed) each shape gets its
    jitter, redrawn until the shapes are ``SEPARATION`` px apart; None: nominal."""
    rng = np.random.default_rng(rng) if rng is not None and not isinstance(
        rng, np.random.Generator) else rng
    for _ in range(100):
        placed = [jittered(a, rng) for a in scene.shapes]
        covers = [coverage(a.shape, cx, cy, side) for a, (cx, cy, side) in
                  zip(scene.shapes, placed)]
        if len(covers) == 1 or not _near(covers[0] > 0, covers[1] > 0, SEPARATION):
            break
    else:  # cannot happen for a scene that fits(); kept as a guard
        raise RuntimeError(f"could not place {scene} without the shapes touching")
    image = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), np.float32)
    for a, cover in zip(scene.shapes, covers):
        image += draw_coverage(cover, a.colour)
    return np.round(np.clip(image, 0, 255)).astype(np.uint8)


def _near(a: np.ndarray, b: np.ndarray, gap: int) -> bool:
    """Whether two masks come closer than ``gap`` px (Chebyshev distance)."""
    return bool((dilated(a, gap - 1) & b).any())


def dilated(mask: np.ndarray, reach: int) -> np.ndarray:
    """``mask`` grown by ``reach`` px in every direction (a square of side 2·reach + 1)."""
    rows = np.zeros_like(mask)
    for d in range(-reach, reach + 1):                          # along rows, then columns
        rows |= np.roll(mask, d, axis=1)
    grown = np.zeros_like(mask)
    for d in range(-reach, reach + 1):
        grown |= np.roll(rows, d, axis=0)
    return grown


class SceneDataset:
    """Deterministic batches of scenes and their captions from a seed, generated on the fly.

    Args:
        seed: the stream's seed; batch k of a dataset is the same on every machine.
        include_held_out: False for the diffusion model's training (no scene shows a held-out
            colour+shape pair, in words or pixels); True for the VAE, which needs no captions.
        uncond_prob: fraction of captions replaced by "" (classifier-free guidance training).
        two_shapes: fraction of scenes with two shapes.
    """

    def __init__(self, seed: int = 0, include_held_out: bool = False, uncond_prob: float = 0.0,
                 two_shapes: float = TWO_SHAPES):
        self.seed, self.uncond_prob, self.two_shapes = seed, uncond_prob, two_shapes
        self.combos = all_attributes(include_held_out)

    def scene(self, rng: np.random.Generator) -> Scene:
        """A scene drawn uniformly: one shape, or two that fit (pairs by rejection)."""
        first = self.combos[int(rng.integers(len(self.combos)))]
        if rng.random() >= self.two_shapes:
            return Scene((first,))
        while True:
            second = self.combos[int(rng.integers(len(self.combos)))]
            if fits(first, second):
                return Scene((first, second))
            first = self.combos[int(rng.integers(len(self.combos)))]

    @staticmethod
    def phrases(scene: Scene, rng: np.random.Generator) -> tuple[Phrase, ...]:
        """What a caption says of each shape: everything (``ALL_STATED``), or each attribute
        with chance ``STATED``; the phrases in a random order."""
        out = []
        for attrs in scene.shapes:
            if rng.random() < ALL_STATED:
                out.append(Phrase.of(attrs))
            else:
                out.append(Phrase.of(attrs, [n for n in ATTRIBUTES if rng.random() < STATED]))
        order = rng.permutation(len(out))
        return tuple(out[k] for k in order)

    def caption(self, scene: Scene, rng: np.random.Generator) -> tuple[str, tuple[Phrase, ...]]:
        """A caption of ``scene`` with its phrases (or "" and no phrases, ``uncond_prob``)."""
        phrases = self.phrases(scene, rng)
        text = describe(phrases, PREFIXES[int(rng.integers(len(PREFIXES)))],
                        int(rng.integers(3)), int(rng.integers(len(NOUNS) + 1)))
        if rng.random() < self.uncond_prob:
            return "", ()
        return text, phrases

    def batch(self, index: int, size: int):
        """Batch ``index``: images uint8 [size, 64, 64, 3], captions, scenes, phrases."""
        rng = np.random.default_rng([self.seed, index])
        scenes = [self.scene(rng) for _ in range(size)]
        images = np.stack([draw_scene(s, rng) for s in scenes])
        described = [self.caption(s, rng) for s in scenes]
        return images, [c for c, _ in described], scenes, [p for _, p in described]

