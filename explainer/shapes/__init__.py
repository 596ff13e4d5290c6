"""tiny-shapes: the synthetic shapes data, its scorer, and the training of the tiny model."""

from explainer.shapes.dataset import (
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
from explainer.shapes.scorer import Score, accuracy, measure, score

__all__ = ["COLOURS", "HELD_OUT", "POSITIONS", "SHAPES", "SIZES", "TEMPLATES", "Attributes",
           "Score", "ShapesDataset", "accuracy", "all_attributes", "caption", "draw", "measure",
           "score"]
