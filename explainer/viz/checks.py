"""Checks: turn what a plot is given into the array it draws, or say clearly what is wrong.

Plots take one image's worth of data. A batch of one (``[1, h, w, 4]``, ``[1, 77, C]``, as
the trace stores them) is accepted and squeezed; a larger batch is refused with the fix
(``x[k]``), so a plot never silently shows only the first image.
"""

from __future__ import annotations

import numpy as np


def as_array(x, name: str) -> np.ndarray:
    """``x`` as a float numpy array, or TypeError naming ``name`` and what was given."""
    if x is None or isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}: {x!r:.40}")
    array = np.asarray(x)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    return array.astype(np.float32) if array.dtype != np.float64 else array


def one_map(x, name: str) -> np.ndarray:
    """One latent-shaped map: ``[h, w, C]`` or a batch of one ``[1, h, w, C]`` -> ``[h, w, C]``."""
    array = as_array(x, name)
    if array.ndim == 4:
        array = _single(array, name, "[h, w, C]")
    if array.ndim != 3:
        raise ValueError(f"{name} has shape {array.shape}; expected one latent [h, w, C] "
                         "(e.g. [8, 8, 4]) or a batch of one [1, h, w, C]")
    return array


def one_context(x, name: str) -> np.ndarray:
    """One text context: ``[77, C]`` or a batch of one ``[1, 77, C]`` -> ``[77, C]``."""
    array = as_array(x, name)
    if array.ndim == 3:
        array = _single(array, name, "[77, C]")
    if array.ndim != 2:
        raise ValueError(f"{name} has shape {array.shape}; expected one context [77, C] or a "
                         "batch of one [1, 77, C] (e.g. trace.context)")
    return array


def one_tokens(tokens, name: str = "tokens"):
    """A ``Tokens`` (or a list holding exactly one, like ``trace.tokens``)."""
    if isinstance(tokens, (list, tuple)) and not hasattr(tokens, "ids"):
        if len(tokens) != 1:
            raise ValueError(f"{name} is a list of {len(tokens)} Tokens; pass one, e.g. "
                             f"{name}[0]")
        tokens = tokens[0]
    if not all(hasattr(tokens, a) for a in ("ids", "pieces", "n_real", "truncated")):
        raise TypeError(f"{name} must be a Tokens (from explainer.tokenize(prompt) or "
                        f"trace.tokens[0]), got {type(tokens).__name__}")
    return tokens


def as_images(x, name: str) -> np.ndarray:
    """Images as uint8 ``[B, H, W, 3]``: uint8 as is, floats in [0, 1] scaled by 255."""
    array = np.asarray(x)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"{name} has shape {array.shape}; expected RGB images [B, H, W, 3]")
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        return np.round(np.clip(array, 0.0, 1.0) * 255).astype(np.uint8)
    raise TypeError(f"{name} has dtype {array.dtype}; expected uint8 or floats in [0, 1]")


def _single(array: np.ndarray, name: str, one: str) -> np.ndarray:
    if array.shape[0] != 1:
        raise ValueError(f"{name} holds a batch of {array.shape[0]} (shape {array.shape}); "
                         f"plots show one at a time: pass {name}[k], shaped {one}")
    return array[0]
