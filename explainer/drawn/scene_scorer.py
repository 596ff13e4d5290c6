"""Did a scene follow its caption? Find the shapes, match each to its phrase, and score.

A scene's image may hold one or two shapes (``scenes.py``). The scorer

1. finds the shapes: connected regions of the foreground (brightest channel > ``FOREGROUND``,
   8-neighbours), dropping specks under ``MIN_AREA`` pixels;
2. measures each one alone with the one-shape scorer (``scorer.measure``): shape, colour,
   size and position, including what the caption left open;
3. matches shapes to phrases: the assignment under which the most stated attributes agree
   (ties: the phrase order of the caption), and scores each phrase's stated attributes on its
   shape. A phrase with no shape (too few found) gets nothing right.

A **binding swap** is SD's best-known failure: two phrases state colour and shape ("a red
circle and a blue square"), both shapes and both colours are drawn, but each colour sits on
the other shape (a blue circle and a red square). It is counted on its own.

It must be (and is, see tests/shapes/test_scenes.py) >= 99 % right on drawn scenes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from explainer.drawn.dataset import Attributes
from explainer.drawn.scenes import ATTRIBUTES, Phrase, dilated
from explainer.drawn.scorer import FOREGROUND, measure

MIN_AREA = 12            # px: a region smaller than this is a speck, not a shape


@dataclass(frozen=True)
class SceneScore:
    """How an image follows a caption's phrases.

    ``right[k]`` maps each attribute phrase ``k`` states to whether its shape shows it;
    ``measured[k]`` is what was measured on the shape matched to phrase ``k`` (None: no
    shape left for it), ``matched[k]`` that shape's index in ``found`` (and in
    ``regions(image)``); ``found`` is every shape found, in reading order."""

    phrases: tuple[Phrase, ...]
    right: tuple[dict, ...]
    measured: tuple[Attributes | None, ...]
    found: tuple[Attributes, ...]
    matched: tuple[int | None, ...]

    @property
    def count(self) -> bool:
        """As many shapes as phrases."""
        return len(self.found) == len(self.phrases)

    def phrase_right(self, k: int) -> bool:
        """Every attribute phrase ``k`` states is right."""
        return self.measured[k] is not None and all(self.right[k].values())

    @property
    def all(self) -> bool:
        """The right number of shapes, each with every stated attribute."""
        return self.count and all(self.phrase_right(k) for k in range(len(self.phrases)))

    @property
    def binding_swap(self) -> bool:
        """Two phrases stating distinct colours and distinct shapes, drawn with the colours
        on each other's shapes."""
        if len(self.phrases) != 2 or not self.count:
            return False
        p, q = self.phrases
        if None in (p.colour, p.shape, q.colour, q.shape):
            return False
        if p.colour == q.colour or p.shape == q.shape:
            return False
        drawn = {(a.colour, a.shape) for a in self.found}
        return drawn == {(p.colour, q.shape), (q.colour, p.shape)}


def regions(image: np.ndarray) -> list[np.ndarray]:
    """The foreground's connected regions (8-neighbours) of at least ``MIN_AREA`` pixels, as
    boolean masks [64, 64], in reading order of their centroids (top to bottom, left to right)."""
    fg = np.asarray(image).max(axis=-1) > FOREGROUND                       # [64, 64]
    n = fg.size
    labels = np.where(fg, np.arange(n).reshape(fg.shape), n)               # own index, or n
    while True:  # each pixel takes the smallest label among its foreground neighbours
        padded = np.pad(labels, 1, constant_values=n)
        h, w = fg.shape
        neighbours = [padded[1 + dy: 1 + dy + h, 1 + dx: 1 + dx + w]
                      for dy, dx in itertools.product((-1, 0, 1), repeat=2)]
        smallest = np.where(fg, np.min(neighbours, axis=0), n)
        if np.array_equal(smallest, labels):
            break
        labels = smallest
    masks = [labels == k for k in np.unique(labels[fg])]
    masks = [m for m in masks if m.sum() >= MIN_AREA]
    centroid = lambda m: tuple(np.round(np.argwhere(m).mean(axis=0) / 8))  # (row, col) cells
    return sorted(masks, key=centroid)


def measure_scene(image: np.ndarray) -> list[Attributes]:
    """What each shape in ``image`` shows, one per ``regions(image)`` (reading order); empty
    if nothing is drawn."""
    image = np.asarray(image)
    found = []
    for mask in regions(image):
        grown = dilated(mask, 1)      # keep the anti-aliased rim (below FOREGROUND) with it
        found.append(measure(np.where(grown[..., None], image, 0).astype(np.uint8)))
    return found             # a region has >= MIN_AREA foreground pixels: never measured None


def score_scene(image: np.ndarray, phrases) -> SceneScore:
    """Compare the shapes in ``image`` with what each of ``phrases`` asks for."""
    phrases = tuple(phrases)
    found = measure_scene(image)
    best, best_agree = None, -1
    slots = list(range(len(found))) + [None] * len(phrases)       # None: no shape for a phrase
    for assignment in dict.fromkeys(itertools.permutations(slots, len(phrases))):
        agree = sum(getattr(found[j], name) == getattr(p, name)
                    for p, j in zip(phrases, assignment) if j is not None for name in p.stated)
        agree += sum(j is not None for j in assignment) * 0.5     # prefer using every shape
        if agree > best_agree:
            best, best_agree = assignment, agree
    measured = tuple(found[j] if j is not None else None for j in best)
    right = tuple({name: m is not None and getattr(m, name) == getattr(p, name)
                   for name in p.stated} for p, m in zip(phrases, measured))
    return SceneScore(phrases, right, measured, tuple(found), tuple(best))


def scene_accuracy(images, phrases_per_image) -> dict[str, float]:
    """Fractions over a batch: each attribute among phrases that state it, phrases wholly
    right, images wholly right (``all``), the right count, and binding swaps (among images
    whose two phrases both state colour and shape)."""
    scores = [score_scene(im, ps) for im, ps in zip(images, phrases_per_image)]
    out = {}
    for name in ATTRIBUTES:
        hits = [r[name] for s in scores for r in s.right if name in r]
        out[name] = float(np.mean(hits)) if hits else float("nan")
    out["phrase"] = float(np.mean([s.phrase_right(k) for s in scores
                                   for k in range(len(s.phrases))]))
    out["all"] = float(np.mean([s.all for s in scores]))
    out["count"] = float(np.mean([s.count for s in scores]))
    bindable = [s for s in scores if len(s.phrases) == 2 and all(
        p.colour and p.shape for p in s.phrases)]
    out["binding_swap"] = float(np.mean([s.binding_swap for s in bindable])) if bindable \
        else float("nan")
    return out
