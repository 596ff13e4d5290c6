"""The scorer's verdict as one printable line, and the attributes a caption asks for.

Lessons print what the scorer (``scorer.py``) measured on each generated picture:

    verdict(image, "a large red circle on the left")
    -> "4/4 right (sees a large red circle on the left)"
    -> "2/4 right, wrong: colour, size (sees a small blue circle on the left)"
    -> "0/4 right (nothing drawn)"

A prompt that leaves attributes open, or names two shapes, is judged by the scene scorer
(``scene_scorer.py``) on what it states, and the verdict says what was drawn for the rest:

    verdict(image, "a circle")
    -> "1/1 right (sees a small blue circle at the top)"
    verdict(image, "a red circle on the left and a blue square on the right")
    -> "5/6 right, wrong: shape of shape 2 (sees a large red circle on the left and a small
       blue circle on the right)"

``parse_caption`` reads a caption's four attributes back, from any template and synonyms of
``dataset.py`` ("big", "in the middle", ...), so a lesson's prompt is all it needs;
``parse_phrases`` reads a scene caption's phrases (``scenes.describe``'s words) back.
"""

from __future__ import annotations

import re

import numpy as np

from explainer.drawn.dataset import (COLOURS, IMAGE_SIZE, POSITION_PHRASES, SHAPES, SIZE_WORDS,
                                      Attributes, caption)
from explainer.drawn.scene_scorer import score_scene
from explainer.drawn.scenes import Phrase
from explainer.drawn.scorer import score

ATTRIBUTES = ("colour", "size", "shape", "position")


def _named(text: str) -> dict[str, list[str]]:
    """Every value of each attribute that ``text`` names (any synonym of ``dataset.py``)."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    phrase = " ".join(re.findall(r"[a-z]+", text.lower()))
    return {
        "shape": [s for s in SHAPES if s in words],
        "colour": [c for c in COLOURS if c in words],
        "size": [s for s, synonyms in SIZE_WORDS.items() if words & set(synonyms)],
        "position": [p for p, phrases in POSITION_PHRASES.items()
                     if any(re.search(rf"\b{x}\b", phrase) for x in phrases)],
    }


def parse_caption(text: str) -> Attributes:
    """The ``Attributes`` a tiny-shapes caption asks for: exactly one shape, colour, size
    word and position phrase must appear in it (any template, any synonym)."""
    if not isinstance(text, str):
        raise TypeError(f"expected a caption string, got {type(text).__name__}")
    found = _named(text)
    unclear = {k: v for k, v in found.items() if len(v) != 1}
    if unclear:
        said = ", ".join(f"{k}: {v or 'none'}" for k, v in unclear.items())
        raise ValueError(f"{text!r} is not a tiny-shapes caption ({said}); write one like "
                         "'a large red circle on the left', or pass Attributes(...)")
    return Attributes(**{k: v[0] for k, v in found.items()})


def parse_phrases(text: str) -> tuple[Phrase, ...]:
    """The phrases of a scene caption, one per shape, split at "and": what each states (any
    synonym of ``dataset.py``); an attribute a phrase does not name is left open (None)."""
    if not isinstance(text, str):
        raise TypeError(f"expected a caption string, got {type(text).__name__}")
    parts = [p for p in re.split(r"\band\b", text.lower()) if p.strip()]
    if not 1 <= len(parts) <= 2:
        raise ValueError(f"{text!r}: a tiny-shapes scene has one or two shapes, joined by "
                         "'and'")
    phrases = []
    for part in parts:
        found = _named(part)
        unclear = {k: v for k, v in found.items() if len(v) > 1}
        if unclear:
            said = ", ".join(f"{k}: {v}" for k, v in unclear.items())
            raise ValueError(f"{part.strip()!r} names more than one {said}; describe each shape "
                             "in its own phrase, joined by 'and'")
        phrases.append(Phrase(**{k: v[0] if v else None for k, v in found.items()}))
    return tuple(phrases)


def verdict(image, asked) -> str:
    """One line: how many of the attributes ``asked`` for (``Attributes`` or a caption) the
    64x64 uint8 ``image`` shows, which are wrong, and what the scorer sees. A caption that
    leaves attributes open or names two shapes is judged on what it states."""
    image = np.asarray(image)
    if image.shape != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise ValueError(f"the scorer measures one {IMAGE_SIZE}x{IMAGE_SIZE}x3 tiny-shapes "
                         f"picture, got shape {image.shape}")
    if isinstance(asked, Attributes):
        attrs = asked
    else:
        phrases = parse_phrases(asked)
        if len(phrases) > 1 or len(phrases[0].stated) < len(ATTRIBUTES):
            return scene_verdict(image, phrases)
        attrs = parse_caption(asked)
    result = score(image, attrs)
    if result.measured is None:
        return "0/4 right (nothing drawn)"
    wrong = [name for name in ATTRIBUTES if not getattr(result, name)]
    listed = f", wrong: {', '.join(wrong)}" if wrong else ""
    return f"{4 - len(wrong)}/4 right{listed} (sees {caption(result.measured)})"


def scene_verdict(image, phrases) -> str:
    """``verdict`` for scene phrases: the stated attributes right, and every shape found."""
    result = score_scene(np.asarray(image), phrases)
    if not result.found:
        return f"0/{sum(len(p.stated) for p in phrases)} right (nothing drawn)"
    wrong, right, total = [], 0, 0
    for k, checks in enumerate(result.right):
        for name in ATTRIBUTES:
            if name in checks:
                total += 1
                right += bool(checks[name])
                if not checks[name]:
                    wrong.append(name if len(phrases) == 1 else f"{name} of shape {k + 1}")
    listed = f", wrong: {', '.join(wrong)}" if wrong else ""
    n = len(result.found)
    count = "" if result.count else f", {n} shape{'s' if n > 1 else ''} found for {len(phrases)}"
    seen = " and ".join(caption(a) for a in result.found)
    return f"{right}/{total} right{listed}{count} (sees {seen})"
