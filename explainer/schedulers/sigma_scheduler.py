"""``SigmaScheduler``: the shared base of the σ-space methods (Euler, Euler ancestral, LMS).

Karras et al. (2022) write the forward process divided by √ᾱ_t:

    x_t/√ᾱ_t = x_0 + σ_t·ε,      σ_t = √((1 − ᾱ_t)/ᾱ_t)

so the sampler integrates an ODE in σ from σ_max down to 0. The symbols are base.py's table;
this base adds the σ grid (``sigmas``, one more entry than ``timesteps``: the final σ = 0),
the input scaling x_t/√(σ²+1), and the step index the methods count.
"""

from __future__ import annotations

import numpy as np

from explainer.schedulers.base import Scheduler, SchedulerConfig, _as_f32, _per_sample, sigmas_from


class SigmaScheduler(Scheduler):
    """Base of the k-diffusion-style methods (Euler, Euler ancestral, LMS), which step in
    σ-space: they integrate x̃ = x_t·√(σ²+1) from σ_max down to σ = 0.

    As in diffusers, their timesteps are float32 ("linspace" spacing gives fractional t, e.g.
    832.5, which the UNet takes as is and σ is interpolated at), ``sigmas`` has one more entry
    than ``timesteps`` (the final σ = 0), and the step index counts calls to ``step``.
    """

    def __init__(self, config: SchedulerConfig | None = None):
        super().__init__(config)
        sigmas = sigmas_from(self.alpha_bar)                                # σ_t  [T]
        self.sigmas = np.concatenate([sigmas[::-1], [0.0]]).astype(np.float32)  # σ_max ... 0
        self._step_index: int | None = None

    @property
    def init_noise_sigma(self) -> float:
        """x_T ~ N(0, σ_max² + 1) for "leading" (as diffusers), N(0, σ_max²) otherwise."""
        sigma_max = self.sigmas.max()
        if self.config.timestep_spacing in ("linspace", "trailing"):
            return float(sigma_max)
        return float(np.sqrt(sigma_max * sigma_max + np.float32(1.0)))

    def _spaced_timesteps(self, num_steps: int) -> np.ndarray:
        """The float32 timesteps of diffusers' Euler, Euler ancestral and LMS schedulers."""
        T, spacing = self.config.num_train_timesteps, self.config.timestep_spacing
        if spacing == "linspace":                                          # 999 ... 0, fractional
            return np.linspace(0, T - 1, num_steps, dtype=np.float32)[::-1].copy()
        if spacing == "leading":                                           # 981, 961, ... + offset
            step_ratio = T // num_steps
            timesteps = (np.arange(0, num_steps) * step_ratio).round()[::-1].astype(np.float32)
            return timesteps + np.float32(self.config.steps_offset)
        step_ratio = T / num_steps                                         # trailing: 999, ...
        return np.arange(T, 0, -step_ratio).round().astype(np.float32) - np.float32(1)

    def _reset(self) -> None:
        sigmas = sigmas_from(self.alpha_bar)                                # σ at t = 0..T-1
        sigmas = np.interp(self.timesteps, np.arange(0, len(sigmas)), sigmas)  # σ(t_i)  [n]
        self.sigmas = np.concatenate([sigmas, [0.0]]).astype(np.float32)  # [n + 1], σ_n = 0
        self._step_index = None

    def scale_model_input(self, x_t, t) -> np.ndarray:
        """x_t / √(σ_t² + 1): the UNet was trained on inputs of unit variance."""
        if self.timesteps is None:
            raise RuntimeError(f"call {type(self).__name__}.set_timesteps(num_steps) first")
        if self._step_index is None:
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
        """x̂_0 from the model output at noise level σ, whichever of ε, v or x_0 it predicts."""
        if self.config.prediction_type == "epsilon":
            return x - sigma * model_output                                # x − σ·ε
        if self.config.prediction_type == "v_prediction":                  # c_out·v + c_skip·x
            return (model_output * (-sigma / np.sqrt(sigma * sigma + np.float32(1.0)))
                    + x / (sigma * sigma + np.float32(1.0)))
        return model_output                                                # "sample"

    def _init_step_index(self, t) -> None:
        self._step_index = (self._index_for_timestep(t) if self._begin_index is None
                            else self._begin_index)

    def _index_for_timestep(self, t) -> int:
        """Where t is in ``timesteps`` (the 2nd match if it repeats, as diffusers)."""
        matches = np.nonzero(self.timesteps == np.asarray(t, dtype=self.timesteps.dtype))[0]
        if len(matches) == 0:
            raise ValueError(f"timestep {t} is not one of this scheduler's timesteps "
                             f"{self.timesteps.tolist()[:5]}...; loop over scheduler.timesteps")
        return int(matches[1] if len(matches) > 1 else matches[0])

    def _begin_step(self, eps, t, x_t):
        """Checks shared by the σ-space steps; returns (eps, x_t, i) for step index i."""
        eps, x_t = self._check_ready(eps, x_t)
        if self._step_index is None:
            self._init_step_index(t)
        self._check_in_order(t, self._step_index)
        return eps, x_t, self._step_index


# -- small helpers ---------------------------------------------------------------------------
