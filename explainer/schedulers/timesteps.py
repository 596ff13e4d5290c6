"""Which timesteps and noise levels a run visits: the one place they are picked.

A sampler takes n ≪ T steps, so it must choose n of the T training timesteps (and, for the
σ-space methods, the noise level σ at each). The symbols are base.py's table; this file adds:

| code name      | symbol       | meaning                                                      |
|----------------|--------------|--------------------------------------------------------------|
| ``n``          | n            | ``num_steps``, how many steps the run takes                  |
| ``spacing``    | -            | "leading", "linspace" or "trailing" (Lin et al. 2024, Table 2)|
| ``rho``        | ρ            | Karras et al.'s curvature of the σ ramp (7)                   |
| ``sigma_max``  | σ_max        | the noise level the run starts from                           |
| ``sigma_min``  | σ_min        | the last noise level before σ = 0                             |

The three spacings, for T = 1000 and n = 10 (``steps_offset`` = 1, as SD's folder sets):

    leading    901, 801, ..., 101, 1     k·(T // n) + offset, from the top down
    linspace   999, 888, ..., 111, 0     n points evenly over [0, T − 1] (rounded or not)
    trailing   999, 899, ..., 199, 99    T − k·T/n − 1: always starts at the noisiest t

Karras et al. (2022, eq. 5) space σ instead of t, denser near σ_min where detail is drawn:

    σ_i = (σ_max^{1/ρ} + i/(n−1) · (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ,      i = 0..n−1

and the UNet is then called at the (fractional) timestep whose σ_t is σ_i (``timesteps_at``).
"""

from __future__ import annotations

import numpy as np

KARRAS_RHO = 7.0                               # ρ, "the value used in the paper"


def spaced_timesteps(config, num_steps: int, *, fractional: bool = False,
                     one_more: bool = False) -> np.ndarray:
    """``num_steps`` timesteps out of T, descending, float64 (callers pick their dtype).

    ``fractional``: "linspace" keeps its unrounded points (diffusers' σ-space methods call
    the UNet at t = 832.5). ``one_more``: DPM-Solver's rule, n + 1 points of "linspace" and
    "leading" with the last one (t ≈ 0) dropped. Exactly diffusers' arithmetic for each.
    """
    T, spacing = config.num_train_timesteps, config.timestep_spacing
    n = num_steps + 1 if one_more else num_steps
    if spacing == "trailing":                                               # 999, ...
        return np.arange(T, 0, -T / num_steps).round() - 1
    if spacing == "linspace":                                               # 999 ... 0
        points = np.linspace(0, T - 1, n)
        timesteps = (points if fractional else points.round())[::-1]
    else:                                                                   # "leading"
        if T // n == 0:
            raise ValueError(f"'leading' spacing needs {n} <= num_train_timesteps={T} points; "
                             "use fewer steps or 'linspace'")
        timesteps = (np.arange(0, n) * (T // n)).round()[::-1] + config.steps_offset
    return timesteps[:-1] if one_more else timesteps


def sigmas_at(timesteps: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """σ at each (possibly fractional) timestep: linear interpolation of σ_t [T], float64."""
    return np.interp(timesteps, np.arange(0, len(sigmas)), sigmas)


def karras_sigmas(sigma_max: float, sigma_min: float, num_steps: int,
                  rho: float = KARRAS_RHO) -> np.ndarray:
    """Karras et al.'s n noise levels from σ_max down to σ_min (eq. 5), float64 [n]."""
    ramp = np.linspace(0, 1, num_steps)
    min_inv_rho = float(sigma_min) ** (1 / rho)                # in float64, whatever comes in
    max_inv_rho = float(sigma_max) ** (1 / rho)
    return (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho


def timesteps_at(sigmas: np.ndarray, train_sigmas: np.ndarray) -> np.ndarray:
    """The fractional timestep whose σ_t is each σ: the inverse of ``sigmas_at``, interpolated
    in log σ between the two training timesteps around it (diffusers' ``_sigma_to_t``)."""
    log_train = np.log(train_sigmas)                                        # log σ_t  [T]
    log_sigma = np.log(np.maximum(np.asarray(sigmas, np.float64), 1e-10))   # [n]
    above = (log_sigma[None, :] - log_train[:, None]) >= 0                  # [T, n]
    low = np.cumsum(above, axis=0).argmax(axis=0).clip(max=len(log_train) - 2)
    w = np.clip((log_train[low] - log_sigma) / (log_train[low] - log_train[low + 1]), 0, 1)
    return (1 - w) * low + w * (low + 1)


def strength_start(num_steps: int, strength: float) -> int:
    """How many of ``num_steps`` timesteps image-to-image skips at ``strength`` (as diffusers):
    it runs the last ⌊num_steps·strength⌋ of them, from index ``num_steps − that`` on."""
    return num_steps - min(int(num_steps * strength), num_steps)
