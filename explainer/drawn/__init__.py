"""Drawn shapes: pictures drawn by code, so every mask and attribute is known.

The data the tiny-shapes model is trained on and measured with, low in the layers (it knows
nothing of models), so viz, the lessons and the exercises can use it:

    dataset.py        one shape: attributes, captions, ``draw``
    scenes.py         one or two shapes per picture, captions that leave attributes open
    scorer.py         what a picture of one shape shows (its measured attributes)
    scene_scorer.py   the shapes in a picture of a scene, matched to the words
    verdict.py        a caption or prompt read back against a picture, in words

Training and evaluation, which run the model, are explainer/shapes/ at the top.
"""

from explainer.drawn.dataset import (
    COLOURS,
    HELD_OUT,
    POSITIONS,
    SHAPES,
    SIZES,
    TEMPLATES,
    Attributes,
    ShapesDataset,
    all_attributes,
    caption,
    draw,
)
from explainer.drawn.scorer import Score, accuracy, measure, score

__all__ = ["COLOURS", "HELD_OUT", "POSITIONS", "SHAPES", "SIZES", "TEMPLATES", "Attributes",
           "Score", "ShapesDataset", "accuracy", "all_attributes", "caption", "draw", "measure",
           "score"]
