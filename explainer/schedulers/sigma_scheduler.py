"""``SigmaScheduler``: the shared base of the σ-space methods (Euler, Euler ancestral, LMS).

Karras et al. (2022) write the forward process divided by √ᾱ_t:

    x_t/√ᾱ_t = x_0 + σ_t·ε,      σ_t = √((1 − ᾱ_t)/ᾱ_t)

so the sampler integrates an ODE in σ from σ_max down to 0. The symbols are base.py's table;
this base adds the σ grid (``sigmas``, one more entry than ``timesteps``: the final σ, 0 by
default), optionally Karras's spacing of it (timesteps.py), and the input scaling x_t/√(σ²+1).
"""

from __future__ import annotations

import numpy as np

from explainer.schedulers.base import (Scheduler, SchedulerConfig, _as_f32, _check_option,
                                       _per_sample, pred_x0_from, sigmas_from)
from explainer.schedulers.timesteps import (karras_sigmas, sigmas_at, spaced_timesteps,
                                            timesteps_at)

FINAL_SIGMAS = ("zero", "sigma_min")


class SigmaScheduler(Scheduler):
    """Base of the k-diffusion-style methods (Euler, Euler ancestral, LMS), which step in
    σ-space: they integrate x̃ = x_t·√(σ²+1) from σ_max down to σ = 0.

    As in diffusers, their timesteps are float32 ("linspace" spacing gives fractional t, e.g.
    832.5, which the UNet takes as is and σ is interpolated at), ``sigmas`` has one more entry
    than ``timesteps`` (the final σ), and the step index counts calls to ``step``. Before
    ``set_timesteps``, ``sigmas`` holds every training σ, descending, then 0 ([T + 1]).

    ``use_karras_sigmas=True`` spaces the run's σs by Karras et al.'s ρ = 7 ramp between the
    spacing's first and last σ and calls the UNet at the matching fractional timesteps.
    ``final_sigmas_type="sigma_min"`` ends the run at σ_0 instead of 0 (Euler only).
    """

    supports_karras = True
    final_sigmas = ("zero",)                # the final σ types this method takes

    def __init__(self, config: SchedulerConfig | None = None, use_karras_sigmas: bool = False,
                 final_sigmas_type: str = "zero"):
        super().__init__(config)
        name = type(self).__name__
        _check_option(name, "use_karras_sigmas", use_karras_sigmas,
                      (False, None, True) if self.supports_karras else (False, None))
        _check_option(name, "final_sigmas_type", final_sigmas_type, self.final_sigmas)
        self.use_karras_sigmas = bool(use_karras_sigmas)
        self.final_sigmas_type = final_sigmas_type
        self.sigmas = training_sigmas(self.alpha_bar)

    @classmethod
    def options(cls):
        return (("use_karras_sigmas",) if cls.supports_karras else ()) + (
            ("final_sigmas_type",) if len(cls.final_sigmas) > 1 else ())

    @property
    def init_noise_sigma(self) -> float:
        """x_T ~ N(0, σ_max² + 1) for "leading" (as diffusers), N(0, σ_max²) otherwise."""
        sigma_max = self.sigmas.max()
        if self.config.timestep_spacing in ("linspace", "trailing"):
            return float(sigma_max)
        return float(np.sqrt(sigma_max * sigma_max + np.float32(1.0)))

    def _schedule(self, num_steps: int):
        """The float32 timesteps and σs of diffusers' Euler, Euler ancestral and LMS."""
        timesteps = spaced_timesteps(self.config, num_steps, fractional=True).astype(np.float32)
        train_sigmas = sigmas_from(self.alpha_bar)                          # σ_t  [T]
        sigmas = sigmas_at(timesteps, train_sigmas)                         # σ(t_i)  [n]
        if self.use_karras_sigmas:                       # same ends, Karras's ramp between
            sigmas = karras_sigmas(sigmas[0], sigmas[-1], num_steps)
            timesteps = timesteps_at(sigmas, train_sigmas)
        return (timesteps.astype(np.float32),
                sigma_grid(sigmas, self.alpha_bar, self.final_sigmas_type))  # [n + 1]

    def scale_model_input(self, x_t, t) -> np.ndarray:
        """x_t / √(σ_t² + 1): the UNet was trained on inputs of unit variance."""
        if self.timesteps is None:
            raise RuntimeError(f"call {type(self).__name__}.set_timesteps(num_steps) first")
        self._init_step_index(t)
        sigma = self.sigmas[self._step_index]
        return _as_f32(x_t) / np.sqrt(sigma * sigma + np.float32(1.0))

    def add_noise(self, x0, noise, t) -> np.ndarray:
        """x_0 + σ_t · noise (σ-space forward process), t from ``timesteps``."""
        x0, noise = _as_f32(x0), _as_f32(noise)
        if self.timesteps is None:
            raise RuntimeError(f"call {type(self).__name__}.set_timesteps(num_steps) "
                               "before add_noise()")
        indices = self._noise_indices(t)
        sigma = _per_sample(self.sigmas[indices], x0.ndim)                  # [B, 1, ..., 1]
        return x0 + noise * sigma

    def _pred_x0(self, model_output, x, sigma) -> np.ndarray:
        """x̂_0 from the model output at x = x_0 + σ·ε: in base.py's α, σ form, x·α =
        α·x_0 + (σα)·ε with α = 1/√(σ²+1) (ε: x − σ·ε, up to float32 rounding)."""
        if self.config.prediction_type == "epsilon":                       # (x − σ·ε)/1
            return pred_x0_from("epsilon", model_output, x, np.float32(1.0), sigma)
        alpha = np.float32(1.0) / np.sqrt(sigma * sigma + np.float32(1.0))
        return pred_x0_from(self.config.prediction_type, model_output, x * alpha, alpha,
                            sigma * alpha)


def slope(x, pred_x0, sigma) -> np.ndarray:
    """d = (x − x̂_0)/σ, the probability-flow ODE's dx/dσ at noise level σ (= ε for ε-models):
    Euler steps along it, Euler ancestral to σ_down, LMS combines the last few."""
    return (x - pred_x0) / sigma


def training_sigmas(alpha_bar: np.ndarray) -> np.ndarray:
    """``sigmas`` before a run, for every method that keeps them: each training σ, descending,
    then 0, float32 [T + 1]."""
    return sigma_grid(sigmas_from(alpha_bar)[::-1], alpha_bar, "zero")


def sigma_grid(sigmas, alpha_bar: np.ndarray, final_sigmas_type: str) -> np.ndarray:
    """A run's σs followed by its final σ (0, or σ_0 for "sigma_min"), float32 [n + 1]."""
    final = sigmas_from(alpha_bar[:1])[0] if final_sigmas_type == "sigma_min" else 0.0
    return np.concatenate([sigmas, [final]]).astype(np.float32)
