"""Checks on what a learner passes in, run before any heavy work.

Each function either returns the value in the form the pipeline uses, or raises an error that
names the value received and says how to fix it. The first group checks the pipeline's
arguments; the second (``as_array``, ``one_map``, ``one_context``, ``one_tokens``,
``as_images``) the arrays that analyses and plots take. Plots take one image's worth of data:
a batch of one (``[1, h, w, 4]``, ``[1, 77, C]``, as the trace stores them) is accepted and
squeezed; a larger batch is refused with the fix (``x[k]``), so a plot never silently shows
only the first image.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from explainer.tokenizer import check_prompts

MAX_SEED = 2**63 - 1


def check_size(height, width, multiple: int, default: int) -> tuple[int, int]:
    """(height, width) in pixels, defaulting to the model's own size; multiples of ``multiple``."""
    out = []
    for name, value in (("height", height), ("width", width)):
        value = default if value is None else value
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise TypeError(f"{name} must be an int number of pixels, got {value!r}")
        if value <= 0 or value % multiple:
            lower = max(multiple, value // multiple * multiple)
            raise ValueError(
                f"{name}={value} does not fit this model: it must be a positive multiple of "
                f"{multiple} (the VAE's factor x the UNet's downsampling). Try {lower} or "
                f"{lower + multiple}.")
        out.append(int(value))
    return out[0], out[1]


def check_steps(num_steps, limit: int) -> int:
    if isinstance(num_steps, bool) or not isinstance(num_steps, Integral):
        raise TypeError(f"num_steps must be an int, got {num_steps!r}")
    if not 1 <= num_steps <= limit:
        raise ValueError(f"num_steps={num_steps} is out of range: use 1 to {limit} "
                         "(the scheduler's training steps); 20-50 is typical")
    return int(num_steps)


def check_capture(capture_attention, keep) -> None:
    """``capture_attention`` must be a bool (the summed maps) or an ``AttentionCapture`` (an
    atlas, attention_capture.py), and agree with ``keep=``."""
    from explainer.diffusion.attention_capture import AttentionCapture

    atlas = isinstance(capture_attention, AttentionCapture)
    if not atlas and not isinstance(capture_attention, bool):
        raise TypeError(f"capture_attention must be True, False or an AttentionCapture "
                        f"(a selection of layers, steps and tokens), got {capture_attention!r}")
    if keep is None or isinstance(keep, str):
        return  # keep=None keeps everything; a bare string is caught by the Trace
    names = {"cross_attention", "cross_attention_levels"} & set(keep)
    if atlas and "atlas" not in keep:
        raise ValueError(f"capture_attention=AttentionCapture(...) but keep={tuple(keep)} drops "
                         "the atlas; add 'atlas' to keep (or keep=None)")
    if capture_attention is True and not names:
        raise ValueError(f"capture_attention=True but keep={tuple(keep)} drops the maps; add "
                         "'cross_attention' (and/or 'cross_attention_levels') to keep")
    if names and capture_attention is not True:
        raise ValueError(f"keep= names {sorted(names)} but capture_attention is not True, so "
                         "there is nothing to keep; pass capture_attention=True")
    if "atlas" in keep and not atlas:
        raise ValueError("keep= names 'atlas' but capture_attention is not an AttentionCapture; "
                         "pass capture_attention=AttentionCapture() (every layer, step, token)")


def check_strength(strength) -> float:
    if isinstance(strength, bool) or not isinstance(strength, Real) or not math.isfinite(strength):
        raise TypeError(f"strength must be a number in (0, 1], got {strength!r}")
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength={strength} is outside (0, 1]: 1 repaints from pure noise, "
                         "0.3 keeps most of the input image")
    return float(strength)


def check_seeds(seed, batch: int = 1) -> list[int]:
    """Seeds as a list of ints: a list as given, or one int -> seed, seed+1, ... (``batch``)."""
    seeds = list(seed) if isinstance(seed, (list, tuple, np.ndarray)) else \
        ([seed + k for k in range(batch)] if isinstance(seed, Integral) else [seed])
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, Integral) or not 0 <= s <= MAX_SEED:
            raise TypeError(f"seed must be a non-negative int (or a list of them), got {s!r}")
    return [int(s) for s in seeds]


def check_batch(prompt, negative_prompt, seed, latents_batch: int | None = None,
                rows: str = "latents"):
    """Prompts, negative prompts and seeds as lists of one common batch size B.

    Each may be given once (shared by every image; one seed s becomes s, s+1, ...) or once
    per image; ``latents_batch`` (the rows of given latents, images or contexts, named
    ``rows`` in the message) fixes B when given.
    """
    prompts = check_prompts(prompt)
    negatives = [""] if negative_prompt is None else check_prompts(negative_prompt)
    seeds = check_seeds(seed)
    sizes = {"prompts": len(prompts), "negative prompts": len(negatives), "seeds": len(seeds)}
    if latents_batch is not None:
        sizes[rows] = latents_batch
    batch = latents_batch or max(sizes.values())
    if any(n not in (1, batch) for n in sizes.values()) or (latents_batch and batch != latents_batch):
        shown = ", ".join(f"{v} {k}" for k, v in sizes.items())
        raise ValueError(f"batch sizes disagree ({shown}); give one of each per image, or a "
                         "single value to share")
    if len(seeds) == 1:
        seeds = [seeds[0] + k for k in range(batch)]
    return prompts * (batch // len(prompts)), negatives * (batch // len(negatives)), seeds


def check_latents(latents, shape: tuple[int, int, int]) -> np.ndarray:
    """Initial unit-variance noise [B, h, w, 4] given by the caller."""
    array = np.asarray(latents)
    if array.ndim != 4 or tuple(array.shape[1:]) != tuple(shape):
        raise ValueError(f"latents must have shape [B, {shape[0]}, {shape[1]}, {shape[2]}] "
                         f"(channels last) for this size, got {tuple(array.shape)}")
    if not np.issubdtype(array.dtype, np.floating) or not np.all(np.isfinite(array)):
        raise ValueError("latents must be finite floats (unit-variance noise)")
    return array.astype(np.float32)


def check_context(context, width: int, tokens: int = 77) -> np.ndarray:
    """A context given by the caller instead of an encoded prompt: float32 [B, 77, C]."""
    array = np.asarray(context)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or tuple(array.shape[1:]) != (tokens, width):
        raise ValueError(f"context must have shape [B, {tokens}, {width}] (what "
                         f"pipe.encode_text returns for this model), got {tuple(np.shape(context))}")
    if not np.issubdtype(array.dtype, np.floating) or not np.all(np.isfinite(array)):
        raise ValueError("context must be finite floats, e.g. a mix of pipe.encode_text outputs")
    return array.astype(np.float32)


def check_image(image, height: int | None = None, width: int | None = None) -> np.ndarray:
    """An image batch as float32 [B, H, W, 3] in [-1, 1].

    Accepts uint8 in [0, 255] or floats in [0, 1], rank 3 (one image) or 4 (a batch).
    """
    array = np.asarray(image)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"image must be [H, W, 3] or [B, H, W, 3] RGB, got shape "
                         f"{tuple(np.shape(image))}")
    if array.dtype == np.uint8:
        out = array.astype(np.float32) / 127.5 - 1.0
    elif np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or array.min() < 0.0 or array.max() > 1.0:
            raise ValueError(f"a float image must lie in [0, 1], got [{array.min()}, "
                             f"{array.max()}]; pass uint8 for 0-255 values")
        out = array.astype(np.float32) * 2.0 - 1.0
    else:
        raise TypeError(f"image dtype must be uint8 or float, got {array.dtype}")
    if height is not None and out.shape[1:3] != (height, width):
        raise ValueError(f"image is {out.shape[2]}x{out.shape[1]} (WxH) but height/width ask "
                         f"for {width}x{height}; resize it or leave height/width unset")
    return out


def check_mask(mask, image_shape: tuple[int, ...]) -> np.ndarray:
    """A repaint mask as float32 [B, H, W, 1] of 0/1 (1 = repaint, white)."""
    array = np.asarray(mask)
    b, h, w = image_shape[0], image_shape[1], image_shape[2]
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (h, w) or array.shape[0] not in (1, b):
        raise ValueError(f"mask must be [H, W] (or [B, H, W]) matching the image's {h}x{w} "
                         f"pixels, got shape {tuple(np.shape(mask))}")
    if array.dtype == np.bool_:
        out = array.astype(np.float32)
    elif array.dtype == np.uint8 and set(np.unique(array)) <= {0, 255}:
        out = (array == 255).astype(np.float32)
    elif np.issubdtype(array.dtype, np.number) and set(np.unique(array).tolist()) <= {0, 1}:
        out = array.astype(np.float32)
    else:
        raise ValueError("mask must be boolean or hold only 0/1 (or 0/255 for uint8): white/1 "
                         "marks the pixels to repaint")
    return np.broadcast_to(out, (b, h, w))[..., None].copy()


# -- arrays that analyses and plots take -----------------------------------------------------

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
