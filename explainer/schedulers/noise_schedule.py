"""The forward process's noise schedule: β_t, ᾱ_t and σ_t for t = 0..T-1 (base.py's table).

Built exactly as diffusers builds it, so every scheduler here sees diffusers' numbers.
"""

from __future__ import annotations

import math

import numpy as np


def noise_schedule(config) -> tuple[np.ndarray, np.ndarray]:
    """(β_t, ᾱ_t) for t = 0..T-1, float32 [T] each: the one place the schedule is computed.

    Built as diffusers builds it: β in float32 (torch.linspace, squared for "scaled_linear"),
    ᾱ as a cumulative product accumulated in float64 (as torch.cumprod does on CPU).
    """
    T = config.num_train_timesteps
    if config.beta_schedule == "linear":                     # DDPM (Ho et al. 2020)
        betas = _linspace_f32(config.beta_start, config.beta_end, T)               # β_t  [T]
    elif config.beta_schedule == "scaled_linear":            # LDM / SD: linear in √β
        betas = _linspace_f32(config.beta_start**0.5, config.beta_end**0.5, T) ** 2
    else:                                                    # cosine (Nichol & Dhariwal 2021)
        betas = _cosine_betas(T)
    alphas = np.float32(1.0) - betas                                               # 1 − β_t
    alpha_bar = np.cumprod(alphas, dtype=np.float64).astype(np.float32)           # ᾱ_t  [T]
    return betas, alpha_bar


def _linspace_f32(start: float, stop: float, num: int) -> np.ndarray:
    """torch.linspace(start, stop, num, dtype=float32), as torch's reference kernel computes
    it: float32 steps, the first half counted from ``start``, the second from ``stop``.
    (Its SIMD kernels may round a value's last bit differently; tests allow for that.)"""
    start32, stop32 = np.float32(start), np.float32(stop)
    step = (stop32 - start32) / np.float32(num - 1)
    i = np.arange(num)
    from_start = start32 + step * i.astype(np.float32)
    from_stop = stop32 - step * (num - 1 - i).astype(np.float32)
    return np.where(i < num // 2, from_start, from_stop).astype(np.float32)


def _cosine_betas(T: int, max_beta: float = 0.999) -> np.ndarray:
    """β_t = 1 − ᾱ(t+1)/ᾱ(t) for ᾱ(s) = cos²((s/T + 0.008)/1.008 · π/2), capped at 0.999."""
    def f(s):
        return math.cos((s / T + 0.008) / 1.008 * math.pi / 2) ** 2
    return np.array([min(1 - f(t + 1) / f(t), max_beta) for t in range(T)], dtype=np.float32)


def sigmas_from(alpha_bar: np.ndarray) -> np.ndarray:
    """σ_t = √((1 − ᾱ_t)/ᾱ_t), float32 [T]: the noise-to-signal ratio of x_t."""
    return np.sqrt((np.float32(1.0) - alpha_bar) / alpha_bar)
