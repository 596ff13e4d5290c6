"""LMS: a linear multistep (Adams-Bashforth) solver of the probability-flow ODE in σ-space,
as in k-diffusion's ``sample_lms`` (Crowson), on Karras et al. 2022's ODE dx/dσ = (x − x̂_0)/σ.
A port of diffusers' ``LMSDiscreteScheduler`` (order 4).

Where Euler uses only the current slope d_i, LMS fits a polynomial through the last p slopes
(at σ_i, σ_{i−1}, ..., σ_{i−p+1}) and integrates it from σ_i to σ_{i+1}. The integral of each
Lagrange basis polynomial is a weight c_j, computed here exactly by polynomial integration
(diffusers integrates numerically with scipy's ``quad``, to the same value up to rounding).

| code name      | symbol         | meaning                                                    |
|----------------|----------------|------------------------------------------------------------|
| ``sigma_t``    | σ_i            | noise level at this step (``sigmas[i]``)                    |
| ``sigma_next`` | σ_{i+1}        | noise level of the next step (0 after the last)             |
| ``eps``        | ε_θ(x_i/√(σ_i²+1), t_i) | the model's noise prediction                      |
| ``pred_x0``    | x̂_0            | x_i − σ_i·ε                                                 |
| ``derivatives``| d_i, d_{i−1}.. | the last p slopes (x − x̂_0)/σ, newest last                   |
| ``order``      | p              | min(i + 1, 4): how many slopes this step uses               |
| ``c_j``        | c_j            | ∫_{σ_i}^{σ_{i+1}} L_j(σ) dσ, the weight of d_{i−j}           |

with the Lagrange basis over the nodes σ_{i−k}, k = 0..p−1:

    L_j(σ)   = Π_{k≠j} (σ − σ_{i−k}) / (σ_{i−j} − σ_{i−k})

The update:

    x̂_0      = x_i − σ_i · ε
    d_i      = (x_i − x̂_0) / σ_i
    x_{i+1}  = x_i + Σ_{j<p} c_j · d_{i−j}                       (p = 1 is the Euler step)
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import Polynomial

from explainer.schedulers.base import StepOutput
from explainer.schedulers.sigma_scheduler import SigmaScheduler, slope


class LMSScheduler(SigmaScheduler):
    """k-diffusion's linear multistep sampler, order 4 (diffusers' LMSDiscreteScheduler)."""

    name = "lms"
    diffusers_name = "LMSDiscreteScheduler"
    diffusers_defaults = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02,
                              beta_schedule="linear", prediction_type="epsilon",
                              timestep_spacing="linspace", steps_offset=0)
    only_supported = {"trained_betas": (None,), "use_exponential_sigmas": (False, None),
                      "use_beta_sigmas": (False, None)}
    max_order = 4

    def _reset(self) -> None:
        super()._reset()
        self.derivatives: list[np.ndarray] = []    # d_{i−p+1}, ..., d_i (newest last)

    def lms_coefficient(self, order: int, i: int, j: int) -> float:
        """c_j = ∫_{σ_i}^{σ_{i+1}} L_j(σ) dσ, exactly (L_j has degree order − 1)."""
        nodes = self.sigmas[i - np.arange(order)].astype(np.float64)      # σ_{i−k}, k < order
        basis = Polynomial([1.0])                                          # L_j(σ) = Π_{k≠j}
        for k in range(order):
            if k != j:                                        # (σ − σ_{i−k}) / (σ_{i−j} − σ_{i−k})
                basis = basis * Polynomial([-nodes[k], 1.0]) / (nodes[j] - nodes[k])
        antiderivative = basis.integ()
        return float(antiderivative(self.sigmas[i + 1]) - antiderivative(self.sigmas[i]))

    def step(self, eps, t, x_t, noise=None) -> StepOutput:
        """x_i -> x_{i+1} (``noise`` is ignored: LMS is deterministic)."""
        model_output, x_t, i = self._begin_step(eps, t, x_t)
        sigma = self.sigmas[i]                                             # σ_i
        pred_x0 = self._pred_x0(model_output, x_t, sigma)                  # x̂_0 = x − σ·ε
        derivative = slope(x_t, pred_x0, sigma)                            # d_i  [B, ...]
        self.derivatives = (self.derivatives + [derivative])[-self.max_order:]
        order = min(i + 1, self.max_order)                                 # p
        c = [self.lms_coefficient(order, i, j) for j in range(order)]      # c_0 .. c_{p−1}
        update = np.float32(c[0]) * self.derivatives[-1]                   # Σ_j c_j · d_{i−j}
        for j in range(1, min(order, len(self.derivatives))):              # (fewer d's when a run
            update = update + np.float32(c[j]) * self.derivatives[-1 - j]  # starts mid-way)
        prev_sample = x_t + update                                         # x_{i+1}
        self._step_index += 1
        coefficients = dict(t=float(t), sigma_t=float(sigma), sigma_next=float(self.sigmas[i + 1]),
                            order=float(order), **{f"c_{j}": c[j] for j in range(order)})
        return StepOutput(prev_sample, pred_x0, coefficients)
