"""verdict and parse_caption: the scorer's one-line verdict and the captions it reads back."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.shapes import TEMPLATES, Attributes, all_attributes, caption, draw
from explainer.drawn.verdict import parse_caption, parse_phrases, verdict


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


def test_parse_phrases_reads_scene_captions_back():
    from explainer.drawn.scenes import Phrase, describe

    phrases = (Phrase(shape="circle", colour="red", position="left"), Phrase(shape="square", size="small"))
    for variant in range(3):
        assert parse_phrases(describe(phrases, variant=variant)) == phrases
    assert parse_phrases("something blue at the top") == (Phrase(colour="blue", position="top"),)
    assert parse_phrases("a picture of a large red shape") == (Phrase(colour="red", size="large"),)
    with pytest.raises(ValueError, match="one or two shapes"):
        parse_phrases("a circle and a square and a triangle")
    with pytest.raises(ValueError, match="more than one colour"):
        parse_phrases("a red blue circle and a square")


def test_verdict_of_open_and_two_shape_prompts_counts_what_they_state():
    from explainer.drawn.scenes import Scene, draw_scene

    circle, square = Attributes("circle", "red", "large", "left"), Attributes("square", "blue", "small", "right")
    image = draw_scene(Scene((circle, square)), rng=0)
    both = "a red circle on the left and a blue square on the right"
    assert verdict(image, both) == ("6/6 right (sees a large red circle on the left and a small "
                                    "blue square on the right)")
    swapped = verdict(image, "a blue circle on the left and a red square on the right")
    assert swapped.startswith("4/6 right, wrong: colour of shape 1, colour of shape 2 (")
    one = draw(circle, rng=0)
    assert verdict(one, "a circle") == "1/1 right (sees a large red circle on the left)"
    assert verdict(one, "something blue") == "0/1 right, wrong: colour (sees a large red circle on the left)"
    assert verdict(one, both).startswith("3/6 right, wrong: colour of shape 2, shape of shape 2, "
                                         "position of shape 2, 1 shape found for 2")
    assert verdict(np.zeros((64, 64, 3), np.uint8), "a circle") == "0/1 right (nothing drawn)"
