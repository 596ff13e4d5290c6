"""verdict and parse_caption: the scorer's one-line verdict and the captions it reads back."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.shapes import TEMPLATES, Attributes, all_attributes, caption, draw
from explainer.shapes.verdict import parse_caption, verdict


def test_parse_caption_reads_every_template_and_synonym_back():
    for attrs in all_attributes()[::7]:
        for template in range(len(TEMPLATES)):
            for variant in range(3):
                assert parse_caption(caption(attrs, template, variant)) == attrs
    assert parse_caption("A BIG Red circle, in the middle!") == \
        Attributes("circle", "red", "large", "center")


@pytest.mark.parametrize("text, unclear", [
    ("a red circle on the left", "size: none"),
    ("a large red circle on the left at the top", "position: ['left', 'top']"),
    ("a large red or blue circle on the left", "colour: ['red', 'blue']"),
    ("a photo of an astronaut", "shape: none"),
])
def test_parse_caption_names_what_is_missing_or_ambiguous(text, unclear):
    with pytest.raises(ValueError, match=unclear.replace("[", r"\[").replace("]", r"\]")):
        parse_caption(text)
    with pytest.raises(TypeError):
        parse_caption(None)


def test_verdict_counts_right_attributes_and_says_what_it_sees():
    asked = Attributes("circle", "red", "large", "left")
    image = draw(asked, rng=0)
    assert verdict(image, asked) == "4/4 right (sees a large red circle on the left)"
    assert verdict(image, "a big red circle at the left") == verdict(image, asked)
    wrong = verdict(image, "a small blue circle on the left")
    assert wrong == "2/4 right, wrong: colour, size (sees a large red circle on the left)"
    assert verdict(np.zeros((64, 64, 3), np.uint8), asked) == "0/4 right (nothing drawn)"


def test_verdict_refuses_pictures_the_scorer_cannot_measure():
    with pytest.raises(ValueError, match="64x64x3"):
        verdict(np.zeros((512, 512, 3), np.uint8), "a large red circle on the left")
    with pytest.raises(ValueError, match="64x64x3"):
        verdict(np.zeros((2, 64, 64, 3), np.uint8), "a large red circle on the left")
