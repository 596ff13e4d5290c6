"""A shared test helper: how far a small sample's accuracy may sit from a published figure."""

from __future__ import annotations

import math


def sampling_tolerance(p: float, n: int) -> float:
    """How far an n-image subset's accuracy may sit from the published figure p (measured on
    ~300 images that include this subset) by chance alone: 3 binomial standard errors of an
    n-image sample, plus one image for the rounding of a small sample."""
    return 3 * math.sqrt(p * (1 - p) / n) + 1 / n
