"""Euler ancestral: an Euler step down to a lower noise level, then fresh noise back up
(Karras et al. 2022's σ-space formulation, ancestral sampling as in k-diffusion's
``sample_euler_ancestral``). A port of diffusers' ``EulerAncestralDiscreteScheduler``.

Each step goes from σ_i to σ_{i+1} in two moves: a deterministic Euler step to σ_down < σ_{i+1},
then noise of std σ_up, chosen so the total variance lands on σ_{i+1}² (σ_down² + σ_up² = σ_{i+1}²)
as the DDPM ancestral step would.

| code name     | symbol          | meaning                                                   |
|---------------|-----------------|-----------------------------------------------------------|
| ``sigma_t``   | σ_i             | noise level at this step (``sigmas[i]``)                   |
| ``sigma_next``| σ_{i+1}         | noise level of the next step (0 after the last)            |
| ``sigma_up``  | σ_up            | std of the fresh noise added                               |
| ``sigma_down``| σ_down          | where the deterministic part of the step lands            |
| ``eps``       | ε_θ(x_i/√(σ_i²+1), t_i) | the model's noise prediction                     |
| ``pred_x0``   | x̂_0             | x_i − σ_i·ε                                                |
| ``derivative``| d_i             | (x_i − x̂_0) / σ_i                                          |
| ``dt``        | σ_down − σ_i    | the deterministic step in σ                                |
| ``noise``     | z ~ N(0, I)     | passed in by the caller, one fresh draw per step          |

The update:

    σ_up     = √(σ_{i+1}² · (σ_i² − σ_{i+1}²) / σ_i²)
    σ_down   = √(σ_{i+1}² − σ_up²)
    x̂_0      = x_i − σ_i · ε
    x_{i+1}  = x_i + (σ_down − σ_i) · (x_i − x̂_0)/σ_i + σ_up · z
"""

from __future__ import annotations

import numpy as np

from explainer.schedulers.base import StepOutput, _as_f32
from explainer.schedulers.sigma_scheduler import SigmaScheduler, slope


class EulerAncestralScheduler(SigmaScheduler):
    """Euler ancestral sampling; ``step`` needs ``noise`` (z ~ N(0, I), shaped like x_t)."""

    name = "euler-ancestral"
    diffusers_name = "EulerAncestralDiscreteScheduler"
    diffusers_defaults = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02,
                              beta_schedule="linear", prediction_type="epsilon",
                              timestep_spacing="linspace", steps_offset=0)
    only_supported = {"trained_betas": (None,), "rescale_betas_zero_snr": (False,)}
    prediction_types = ("epsilon", "v_prediction")
    supports_karras = False                          # (diffusers' class has no such key)
    stochastic = True

    def step(self, eps, t, x_t, noise=None) -> StepOutput:
        """x_i -> x_{i+1}, adding σ_up · ``noise``."""
        model_output, x_t, i = self._begin_step(eps, t, x_t)
        if noise is None:
            raise ValueError("Euler ancestral adds fresh noise each step: pass noise=z, a "
                             "standard normal array shaped like x_t")
        noise = _as_f32(noise)
        if noise.shape != x_t.shape:
            raise ValueError(f"noise has shape {noise.shape}, x_t has {x_t.shape}; "
                             "they must match")
        sigma = self.sigmas[i]                                             # σ_i
        pred_x0 = self._pred_x0(model_output, x_t, sigma)                  # x̂_0 = x − σ·ε
        sigma_from, sigma_to = self.sigmas[i], self.sigmas[i + 1]          # σ_i, σ_{i+1}
        sigma_up = np.sqrt(sigma_to * sigma_to * (sigma_from * sigma_from - sigma_to * sigma_to)
                           / (sigma_from * sigma_from))
        sigma_down = np.sqrt(sigma_to * sigma_to - sigma_up * sigma_up)
        derivative = slope(x_t, pred_x0, sigma)                            # d = dx/dσ  [B, ...]
        dt = sigma_down - sigma                                            # σ_down − σ_i
        prev_sample = x_t + derivative * dt                                # Euler to σ_down
        prev_sample = prev_sample + noise * sigma_up                       # + σ_up · z
        self._step_index += 1
        coefficients = dict(t=float(t), sigma_t=float(sigma), sigma_next=float(sigma_to),
                            sigma_up=float(sigma_up), sigma_down=float(sigma_down), dt=float(dt))
        return StepOutput(prev_sample, pred_x0, coefficients)
