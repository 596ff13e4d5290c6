"""The edit measures of shapes/editing_eval.py, on drawn pictures whose answers are known."""

import numpy as np

from explainer.drawn.dataset import Attributes, draw
from explainer.shapes.editing_eval import (position_kept, refinement_pairs, refinement_rates,
                                           swap_pairs, swap_rates)


def _drawn(*attrs):
    return np.stack([draw(a, rng=k) for k, a in enumerate(attrs)])


def test_swap_pairs_change_only_the_shape_word():
    pairs = swap_pairs(60)
    assert len(set(pairs)) == 6 * 3 * 2          # every colour, every shape, both other shapes
    for source, target, shape in pairs:
        a, b = source.split(), target.split()
        assert a[:2] == b[:2] and a[2] != b[2] == shape            # same colour, a new shape


def test_swap_rates_count_what_was_kept_and_drawn():
    sources = _drawn(Attributes("circle", "red", "large", "left"),
                     Attributes("circle", "blue", "small", "top"),
                     Attributes("square", "green", "large", "bottom"))
    targets = _drawn(Attributes("square", "red", "large", "left"),     # kept, new shape
                     Attributes("square", "blue", "small", "right"),   # new shape, moved
                     Attributes("square", "green", "small", "bottom"))  # shrunk, not new
    rates = swap_rates(sources, targets, ["square", "square", "triangle"])
    assert rates["position"] == 2 / 3 and rates["size"] == 2 / 3
    assert rates["kept"] == 1 / 3 and rates["new"] == 2 / 3 and rates["pairs"] == 3
    empty = np.zeros_like(targets[:1])                                # nothing drawn: not kept
    assert swap_rates(sources[:1], empty, ["square"])["kept"] == 0.0


def test_refinement_pairs_add_one_size_word():
    pairs = refinement_pairs(36)
    assert {p[2] for p in pairs} == {"large", "small"}
    for source, target, size in pairs:
        words = target.split()
        assert words.pop(1) == size and words == source.split()


def test_refinement_rates_count_the_size_and_what_was_kept():
    sources = _drawn(Attributes("circle", "red", "small", "left"),
                     Attributes("triangle", "white", "small", "center"))
    targets = _drawn(Attributes("circle", "red", "large", "left"),     # the new size, all kept
                     Attributes("square", "white", "small", "top"))    # none of it
    rates = refinement_rates(sources, targets, ["large", "large"])
    assert rates == {"size": 0.5, "position": 0.5, "shape and colour": 0.5, "pairs": 2}


def test_position_kept_per_pair():
    sources = _drawn(Attributes("circle", "red", "small", "left"),
                     Attributes("circle", "red", "small", "left"))
    targets = _drawn(Attributes("square", "blue", "large", "left"),
                     Attributes("circle", "red", "small", "bottom"))
    assert position_kept(sources, targets).tolist() == [True, False]
    assert position_kept(sources[:1], np.zeros_like(targets[:1])).tolist() == [False]
