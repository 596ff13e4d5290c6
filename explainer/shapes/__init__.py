"""tiny-shapes: training and evaluating the tiny model (train.py, evaluate.py, scene_eval.py,
grounding.py), at the top of the layers. The drawn data and its scorer are explainer/drawn/,
re-exported here."""

from explainer.drawn import (  # noqa: F401
    COLOURS, HELD_OUT, POSITIONS, SHAPES, SIZES, TEMPLATES, Attributes, Score, ShapesDataset,
    accuracy, all_attributes, caption, draw, measure, score,
)
from explainer.drawn import __all__  # noqa: F401
