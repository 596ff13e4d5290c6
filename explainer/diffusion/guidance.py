"""Classifier-free guidance: push the noise prediction away from "no prompt", toward the prompt.

Ho & Salimans (2022). At every step the UNet predicts the noise twice, once without the
prompt (the empty or negative prompt) and once with it, and the two are extrapolated:

| code name    | symbol          | meaning                                   |
|--------------|-----------------|-------------------------------------------|
| ``eps_uncond``| ε_θ(x_t, ∅)    | noise predicted for the empty/negative prompt |
| ``eps_text`` | ε_θ(x_t, c)     | noise predicted for the prompt            |
| ``scale``    | s (or w)        | guidance scale; 1 = no guidance           |
| returns      | ε̃              | ε_θ(x_t, ∅) + s · (ε_θ(x_t, c) − ε_θ(x_t, ∅)) |

Guidance rescale (Lin et al. 2023, arXiv 2305.08891, eq. 15-16), optional: large scales blow
up the prediction's standard deviation; ``rescale`` = φ pulls it back toward eps_text's:

    ε_rescaled = ε̃ · std(ε_text) / std(ε̃)        (std over each image's pixels and channels)
    ε = φ · ε_rescaled + (1 − φ) · ε̃
"""

from __future__ import annotations

import math

import numpy as np


def apply_guidance(eps_uncond: np.ndarray, eps_text: np.ndarray, scale: float,
                   rescale: float = 0.0) -> np.ndarray:
    """ε̃ = ε_uncond + s·(ε_text − ε_uncond), optionally rescaled. Pure: inputs are not changed.

    Args:
        eps_uncond, eps_text: [B, h, w, 4] noise predictions without and with the prompt.
        scale: the guidance scale s (finite).
        rescale: φ in [0, 1] of guidance rescale; 0 (default) is plain guidance.
    """
    check_guidance(scale, rescale)
    if np.shape(eps_uncond) != np.shape(eps_text):
        raise ValueError(f"eps_uncond {np.shape(eps_uncond)} and eps_text {np.shape(eps_text)} "
                         "must have the same shape")
    guided = eps_uncond + scale * (eps_text - eps_uncond)                 # [B, h, w, 4]
    if rescale == 0.0:
        return guided
    axes = tuple(range(1, np.ndim(guided)))
    std_text = np.std(eps_text, axis=axes, keepdims=True)                # [B, 1, 1, 1]
    std_guided = np.std(guided, axis=axes, keepdims=True)
    # a constant ε̃ (std 0) has no spread to rescale: it is left as it is, not divided by 0
    ratio = np.divide(std_text, std_guided, out=np.ones_like(std_guided), where=std_guided > 0)
    rescaled = guided * ratio
    return rescale * rescaled + (1.0 - rescale) * guided


def check_guidance(scale, rescale: float = 0.0) -> None:
    """Raise a clear error for a guidance scale that is not a finite number."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating, np.integer)):
        raise TypeError(f"guidance_scale must be a number, got {type(scale).__name__}: {scale!r}")
    if not math.isfinite(float(scale)):
        raise ValueError(f"guidance_scale must be finite, got {scale}; typical values are 1-15 "
                         "(1 = no guidance, 7.5 = SD's default)")
    if not 0.0 <= float(rescale) <= 1.0:
        raise ValueError(f"guidance_rescale must be in [0, 1], got {rescale}; 0.7 is the "
                         "paper's suggestion, 0 turns it off")
