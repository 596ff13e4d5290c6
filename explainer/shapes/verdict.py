"""The scorer's verdict as one printable line, and the attributes a caption asks for.

Lessons print what the scorer (``scorer.py``) measured on each generated picture:

    verdict(image, "a large red circle on the left")
    -> "4/4 right (sees a large red circle on the left)"
    -> "2/4 right, wrong: colour, size (sees a small blue circle on the left)"
    -> "0/4 right (nothing drawn)"

``parse_caption`` reads a caption's four attributes back, from any template and synonyms of
``dataset.py`` ("big", "in the middle", ...), so a lesson's prompt is all it needs.
"""

from __future__ import annotations

import re

import numpy as np

from explainer.shapes.dataset import (COLOURS, IMAGE_SIZE, POSITION_PHRASES, SHAPES, SIZE_WORDS,
                                      Attributes, caption)
from explainer.shapes.scorer import score

ATTRIBUTES = ("colour", "size", "shape", "position")


def parse_caption(text: str) -> Attributes:
    """The ``Attributes`` a tiny-shapes caption asks for: exactly one shape, colour, size
    word and position phrase must appear in it (any template, any synonym)."""
    if not isinstance(text, str):
        raise TypeError(f"expected a caption string, got {type(text).__name__}")
    words = set(re.findall(r"[a-z]+", text.lower()))
    phrase = " ".join(re.findall(r"[a-z]+", text.lower()))
    found = {
        "shape": [s for s in SHAPES if s in words],
        "colour": [c for c in COLOURS if c in words],
        "size": [s for s, synonyms in SIZE_WORDS.items() if words & set(synonyms)],
        "position": [p for p, phrases in POSITION_PHRASES.items()
                     if any(re.search(rf"\b{x}\b", phrase) for x in phrases)],
    }
    unclear = {k: v for k, v in found.items() if len(v) != 1}
    if unclear:
        said = ", ".join(f"{k}: {v or 'none'}" for k, v in unclear.items())
        raise ValueError(f"{text!r} is not a tiny-shapes caption ({said}); write one like "
                         "'a large red circle on the left', or pass Attributes(...)")
    return Attributes(**{k: v[0] for k, v in found.items()})


def verdict(image, asked) -> str:
    """One line: how many of the four attributes ``asked`` for (``Attributes`` or a caption)
    the 64x64 uint8 ``image`` shows, which are wrong, and what the scorer sees."""
    attrs = asked if isinstance(asked, Attributes) else parse_caption(asked)
    image = np.asarray(image)
    if image.shape != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise ValueError(f"the scorer measures one {IMAGE_SIZE}x{IMAGE_SIZE}x3 tiny-shapes "
                         f"picture, got shape {image.shape}")
    result = score(image, attrs)
    if result.measured is None:
        return "0/4 right (nothing drawn)"
    wrong = [name for name in ATTRIBUTES if not getattr(result, name)]
    listed = f", wrong: {', '.join(wrong)}" if wrong else ""
    return f"{4 - len(wrong)}/4 right{listed} (sees {caption(result.measured)})"
