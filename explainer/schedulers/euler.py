"""Euler: the first-order ODE solver of Karras, Aittala, Aila & Laine 2022 ("Elucidating the
Design Space of Diffusion-Based Generative Models", Algorithm 1 without the 2nd-order
correction and with S_churn = 0). A port of diffusers' ``EulerDiscreteScheduler`` (linear σ
interpolation; Karras σs and a final σ of σ_0 as options, see sigma_scheduler.py).

It works in σ-space, x = x_0 + σ·ε (x = x_t / √ᾱ_t, see base.py), where the probability-flow
ODE is dx/dσ = (x − x̂_0(x, σ)) / σ = ε, and takes one Euler step per timestep.

| code name     | symbol          | meaning                                                |
|---------------|-----------------|--------------------------------------------------------|
| ``sigma_t``   | σ_i             | noise level at this step (``sigmas[i]``)                |
| ``sigma_next``| σ_{i+1}         | noise level of the next step (0 after the last)         |
| ``x_t``       | x_i             | latents at σ_i, std ≈ √(σ_i² + 1)                       |
| ``eps``       | ε_θ(x_i/√(σ_i²+1), t_i) | the model's noise prediction on the scaled input |
| ``pred_x0``   | x̂_0             | x_i − σ_i·ε                                             |
| ``derivative``| d_i             | (x_i − x̂_0) / σ_i, the ODE's slope dx/dσ                |
| ``dt``        | σ_{i+1} − σ_i   | the step in σ (negative)                                 |

The update:

    x̂_0      = x_i − σ_i · ε
    d_i      = (x_i − x̂_0) / σ_i
    x_{i+1}  = x_i + (σ_{i+1} − σ_i) · d_i

The UNet sees ``scale_model_input(x_i) = x_i / √(σ_i² + 1)``, and x_T starts at
N(0, I) · ``init_noise_sigma``.
"""

from __future__ import annotations

from explainer.schedulers.base import StepOutput
from explainer.schedulers.sigma_scheduler import SigmaScheduler, slope


class EulerScheduler(SigmaScheduler):
    """Karras et al.'s deterministic Euler sampler (diffusers' EulerDiscreteScheduler)."""

    name = "euler"
    diffusers_name = "EulerDiscreteScheduler"
    diffusers_defaults = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02,
                              beta_schedule="linear", prediction_type="epsilon",
                              timestep_spacing="linspace", steps_offset=0)
    only_supported = {"trained_betas": (None,), "interpolation_type": ("linear",),
                      "use_exponential_sigmas": (False, None), "use_beta_sigmas": (False, None),
                      "sigma_min": (None,), "sigma_max": (None,), "timestep_type": ("discrete",),
                      "rescale_betas_zero_snr": (False,)}
    final_sigmas = ("zero", "sigma_min")

    def step(self, eps, t, x_t, noise=None) -> StepOutput:
        """x_i -> x_{i+1} (``noise`` is ignored: with S_churn = 0 Euler is deterministic)."""
        model_output, x_t, i = self._begin_step(eps, t, x_t)
        sigma = self.sigmas[i]                                             # σ_i
        sigma_hat = sigma                                                  # σ̂ = σ(1 + γ), γ = 0
        pred_x0 = self._pred_x0(model_output, x_t, sigma_hat)              # x̂_0 = x − σ·ε
        derivative = slope(x_t, pred_x0, sigma_hat)                        # d = dx/dσ  [B, ...]
        dt = self.sigmas[i + 1] - sigma_hat                                # σ_{i+1} − σ_i
        prev_sample = x_t + derivative * dt                                # x_{i+1}
        self._step_index += 1
        coefficients = dict(t=float(t), sigma_t=float(sigma), sigma_next=float(self.sigmas[i + 1]),
                            dt=float(dt))
        return StepOutput(prev_sample, pred_x0, coefficients)
