"""The scene measures' arithmetic: variety and adherence of what a prompt leaves open."""

from __future__ import annotations

import pytest

from explainer.drawn.dataset import COLOURS, Attributes
from explainer.shapes.scene_eval import OpenResult, variety
from explainer.drawn.scenes import Phrase


def test_variety_is_the_normalised_entropy_of_the_open_values():
    assert variety(list(COLOURS) * 4, "colour") == pytest.approx(1.0)     # every colour, equally
    assert variety(["red"] * 24, "colour") == 0.0                         # one colour always
    assert 0.0 < variety(["red"] * 12 + ["blue"] * 12, "colour") < 1.0
    assert variety(["left", "right"], "position") == pytest.approx(0.4307, abs=1e-4)  # ln2/ln5


def test_open_result_scores_only_what_the_phrase_states():
    red_circles = [Attributes("circle", "red", size, position)
                   for size in ("small", "large") for position in ("left", "right", "top")]
    result = OpenResult(Phrase(shape="circle"), tuple(red_circles) + (None,))
    assert result.adherence == pytest.approx(6 / 7)                     # None: not one shape
    assert result.counts("colour") == {"red": 6}
    # open: colour (always red: 0), size (2 of 2 equally: 1), position (3 of 5 equally)
    assert result.variety == pytest.approx((0 + 1 + 0.6826) / 3, abs=1e-3)
