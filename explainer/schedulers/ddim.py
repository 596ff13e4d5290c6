"""DDIM: denoising diffusion implicit models (Song, Meng & Ermon 2021, "Denoising Diffusion
Implicit Models", eq. 12). A port of diffusers' ``DDIMScheduler``.

| code name        | symbol        | meaning                                                    |
|------------------|---------------|------------------------------------------------------------|
| ``t``, ``t_prev``| t, t−Δ        | this timestep and the next one down, Δ = T // num_steps    |
| ``alpha_bar_t``  | ᾱ_t           | signal kept at t (base.py)                                  |
| ``alpha_bar_prev``| ᾱ_{t−Δ}      | the same at t−Δ; below t = 0: 1 or ᾱ_0 (set_alpha_to_one)  |
| ``eps``          | ε_θ(x_t, t)   | the model's noise prediction                                |
| ``pred_x0``      | x̂_0           | the clean latents it implies                                |
| ``eta``          | η             | 0: deterministic DDIM; 1: as noisy as DDPM                   |
| ``sigma_t``      | σ_t(η)        | std of the fresh noise added by this step                   |
| ``noise``        | z ~ N(0, I)   | that fresh noise, passed in (only when η > 0)               |

The update, x_t -> x_{t−Δ}:

    x̂_0      = (x_t − √(1−ᾱ_t) · ε) / √ᾱ_t                       "predicted x_0"
    σ_t(η)   = η · √((1−ᾱ_{t−Δ}) / (1−ᾱ_t)) · √(1 − ᾱ_t/ᾱ_{t−Δ})
    x_{t−Δ}  = √ᾱ_{t−Δ} · x̂_0 + √(1 − ᾱ_{t−Δ} − σ_t²) · ε + σ_t · z
               (signal at t−Δ)   ("direction pointing to x_t")  (random noise)

As in diffusers, t−Δ is always t − T // num_steps, also for "linspace" and "trailing"
spacings whose timesteps are not exactly Δ apart.
"""

from __future__ import annotations

import numbers

import numpy as np

from explainer.schedulers.base import (Scheduler, SchedulerConfig, StepOutput, _as_f32,
                                       _check_timestep, eps_from, pred_x0_from)
from explainer.schedulers.timesteps import spaced_timesteps


class DDIMScheduler(Scheduler):
    """Song et al.'s DDIM; ``eta`` > 0 adds noise each step (pass ``noise`` to ``step``)."""

    name = "ddim"
    diffusers_name = "DDIMScheduler"
    diffusers_defaults = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02,
                              beta_schedule="linear", clip_sample=True, set_alpha_to_one=True,
                              steps_offset=0, prediction_type="epsilon", clip_sample_range=1.0,
                              timestep_spacing="leading")
    only_supported = {"trained_betas": (None,), "thresholding": (False,),
                      "rescale_betas_zero_snr": (False,)}

    def __init__(self, config: SchedulerConfig | None = None, eta: float = 0.0):
        super().__init__(config)
        if not isinstance(eta, numbers.Real) or isinstance(eta, bool) or not 0.0 <= eta:
            raise ValueError(f"eta={eta!r} must be a number >= 0 (0: DDIM, 1: DDPM-like noise)")
        self.eta = float(eta)

    @classmethod
    def options(cls):
        return ("eta",)

    @property
    def stochastic(self) -> bool:
        return self.eta > 0

    def _schedule(self, num_steps: int):
        return spaced_timesteps(self.config, num_steps).astype(np.int64), None

    def step(self, eps, t, x_t, noise=None) -> StepOutput:
        """x_t -> x_{t−Δ}. ``eps`` is the model output (ε, or v / x_0 per prediction_type);
        ``noise`` (z, shaped like x_t) is required when eta > 0 and ignored otherwise."""
        model_output, x_t = self._check_ready(eps, x_t)
        t = _check_timestep(t, self.config.num_train_timesteps)
        t_prev = t - self.config.num_train_timesteps // self.num_steps
        alpha_bar_t = self.alpha_bar[t]                                     # ᾱ_t
        alpha_bar_prev = self.alpha_bar[t_prev] if t_prev >= 0 else self.final_alpha_bar
        beta_bar_t = np.float32(1.0) - alpha_bar_t                          # 1 − ᾱ_t

        alpha, sigma = np.sqrt(alpha_bar_t), np.sqrt(beta_bar_t)           # x_t = α·x_0 + σ·ε
        kind = self.config.prediction_type
        pred_x0 = pred_x0_from(kind, model_output, x_t, alpha, sigma)       # x̂_0  [B, ...]
        eps = eps_from(kind, model_output, x_t, alpha, sigma)               # ε    [B, ...]
        if self.config.clip_sample:
            r = self.config.clip_sample_range
            pred_x0 = np.clip(pred_x0, -r, r)

        variance = ((np.float32(1.0) - alpha_bar_prev) / beta_bar_t
                    * (np.float32(1.0) - alpha_bar_t / alpha_bar_prev))    # σ_t(1)²
        sigma_t = self.eta * np.sqrt(variance)                              # σ_t(η)
        direction = np.sqrt(np.float32(1.0) - alpha_bar_prev - sigma_t * sigma_t) * eps
        prev_sample = np.sqrt(alpha_bar_prev) * pred_x0 + direction         # x_{t−Δ}  [B, ...]
        if self.eta > 0:
            if noise is None:
                raise ValueError(f"DDIM with eta={self.eta} adds fresh noise each step: pass "
                                 "noise=z, a standard normal array shaped like x_t")
            noise = _as_f32(noise)
            if noise.shape != x_t.shape:
                raise ValueError(f"noise has shape {noise.shape}, x_t has {x_t.shape}; "
                                 "they must match")
            prev_sample = prev_sample + sigma_t * noise                     # + σ_t · z
        coefficients = dict(t=float(t), t_prev=float(t_prev), alpha_bar_t=float(alpha_bar_t),
                            alpha_bar_prev=float(alpha_bar_prev), eta=self.eta,
                            sigma_t=float(sigma_t))
        return StepOutput(prev_sample, pred_x0, coefficients)

