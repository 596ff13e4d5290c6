"""resize: drawings to a model's size, keeping colours and where things are."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.diffusion.resize import resize
from explainer.shapes import Attributes, draw
from explainer.drawn.scorer import measure


def test_resize_keeps_rank_colours_and_layout():
    attrs = Attributes("square", "blue", "large", "right")
    image = draw(attrs)                                                  # [64, 64, 3]
    big = resize(image, 512)
    assert big.shape == (512, 512, 3) and big.dtype == np.uint8
    assert big[256, 376].tolist() == [0, 0, 255]                         # inside, 8x (47, 32)
    assert big[256, 100].tolist() == [0, 0, 0]                           # background
    assert measure(resize(big, 64)) == attrs                             # and back down
    batch = resize(np.stack([image, image]), (128, 64))
    assert batch.shape == (2, 128, 64, 3)


def test_resize_to_the_same_size_is_an_unchanged_copy():
    image = draw(Attributes("circle", "red", "small", "left"), rng=3)
    same = resize(image, 64)
    np.testing.assert_array_equal(same, image)
    assert same is not image


@pytest.mark.parametrize("images, size", [
    (np.zeros((64, 64, 3), np.float32), 64),
    (np.zeros((64, 64), np.uint8), 64),
    (np.zeros((64, 64, 3), np.uint8), 0),
    (np.zeros((64, 64, 3), np.uint8), 64.0),
])
def test_resize_refuses_what_it_cannot_resize(images, size):
    with pytest.raises(ValueError):
        resize(images, size)
