"""DPM-Solver++(2M): the multistep second-order solver of Lu, Zhou, Bao, Chen, Li & Zhu 2022
("DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic Models",
Algorithm 2). A port of diffusers' ``DPMSolverMultistepScheduler`` with its defaults:
algorithm_type "dpmsolver++", solver_order 2, solver_type "midpoint", lower_order_final.

It solves the diffusion ODE exactly in its linear part, in the log-SNR time λ, and
approximates the data prediction x̂_0 as linear in λ using the previous step's x̂_0.

| code name          | symbol        | meaning                                              |
|--------------------|---------------|------------------------------------------------------|
| ``sigmas[i]``      | σ̃_i           | k-diffusion noise level √((1−ᾱ)/ᾱ) at step i (base.py) |
| ``alpha_s``        | α_s           | 1/√(σ̃_i² + 1) = √ᾱ at the current step s = t_i        |
| ``sigma_s``        | σ_s           | σ̃_i·α_s = √(1−ᾱ) at the current step                 |
| ``alpha_t``        | α_t           | the same at the target step t = t_{i+1}               |
| ``sigma_t``        | σ_t           | ditto (σ_t = 0 after the last step)                   |
| ``lambda_s``, ``lambda_t`` | λ_s, λ_t | log(α/σ), half the log signal-to-noise ratio     |
| ``h``              | h_i           | λ_t − λ_s, the step in λ                              |
| ``r``              | r_i           | h_{i−1}/h_i, the previous step relative to this one   |
| ``eps``            | ε_θ(x_s, s)   | the model's noise prediction                          |
| ``pred_x0``        | x̂_0 (= x_θ)   | (x_s − σ_s·ε)/α_s, the data prediction                 |
| ``m0``, ``m1``     | x̂_0^(i), x̂_0^(i−1) | this step's and the previous step's x̂_0         |
| ``D0``, ``D1``     | D_0, D_1      | x̂_0 and its finite difference in λ                   |
| ``phi``            | φ             | α_t · (e^{−h} − 1)                                    |

The update (first order at the first and, with a final σ of 0, the last step; second order
in between):

    1st order (DDIM):   x_t = (σ_t/σ_s) · x_s − φ · x̂_0
    2nd order:          D_0 = m0,   D_1 = (m0 − m1) / r
                        x_t = (σ_t/σ_s) · x_s − φ · D_0 − ½ · φ · D_1

Karras σs, a final σ of σ_0 and ``lower_order_final`` are ported as options; others (3rd
order, SDE variants, ...) are refused by ``from_config`` with a ValueError.
"""

from __future__ import annotations

import numpy as np

from explainer.schedulers.base import (Scheduler, SchedulerConfig, StepOutput, _as_f32,
                                       _check_option, _per_sample, pred_x0_from, sigmas_from)
from explainer.schedulers.sigma_scheduler import FINAL_SIGMAS, sigma_grid, training_sigmas
from explainer.schedulers.timesteps import (karras_sigmas, sigmas_at, spaced_timesteps,
                                            timesteps_at)


class DPMSolverPP2MScheduler(Scheduler):
    """Lu et al.'s DPM-Solver++(2M) (diffusers' DPMSolverMultistepScheduler).

    Options as diffusers names them: ``use_karras_sigmas`` (Karras et al.'s σ ramp over the
    whole training range, timesteps rounded: "DPM++ 2M Karras"), ``final_sigmas_type``
    ("zero": the last step lands on σ = 0; "sigma_min": on σ_0), ``lower_order_final``
    (first order at the last step of runs under 15 steps; always with a final σ of 0).
    """

    name = "dpm++2m"
    diffusers_name = "DPMSolverMultistepScheduler"
    diffusers_defaults = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02,
                              beta_schedule="linear", prediction_type="epsilon",
                              timestep_spacing="linspace", steps_offset=0)
    only_supported = {
        "trained_betas": (None,), "solver_order": (2,), "thresholding": (False,),
        "algorithm_type": ("dpmsolver++", "deis"),      # diffusers maps "deis" to dpmsolver++
        "solver_type": ("midpoint", "logrho", "bh1", "bh2"),  # ... and these to midpoint
        "euler_at_final": (False,),
        "use_exponential_sigmas": (False, None), "use_beta_sigmas": (False, None),
        "use_lu_lambdas": (False, None), "use_flow_sigmas": (False, None),
        "lambda_min_clipped": (-float("inf"),), "variance_type": (None,),
        "rescale_betas_zero_snr": (False,), "use_dynamic_shifting": (False,)}
    solver_order = 2

    def __init__(self, config: SchedulerConfig | None = None, use_karras_sigmas: bool = False,
                 final_sigmas_type: str = "zero", lower_order_final: bool = True):
        super().__init__(config)
        name = type(self).__name__
        _check_option(name, "use_karras_sigmas", use_karras_sigmas, (False, None, True))
        _check_option(name, "final_sigmas_type", final_sigmas_type, FINAL_SIGMAS)
        _check_option(name, "lower_order_final", lower_order_final, (True, False))
        self.use_karras_sigmas = bool(use_karras_sigmas)
        self.final_sigmas_type = final_sigmas_type
        self.lower_order_final = lower_order_final
        self.sigmas = training_sigmas(self.alpha_bar)
        self._reset()

    @classmethod
    def options(cls):
        return ("use_karras_sigmas", "final_sigmas_type", "lower_order_final")

    def _schedule(self, num_steps: int):
        """diffusers' DPM timesteps (num_steps + 1 points, the last, t = 0, dropped) and σs;
        with Karras σs, the ramp spans every training σ and t is rounded (not for cosine β)."""
        train_sigmas = sigmas_from(self.alpha_bar)                         # σ_t  [T]
        if self.use_karras_sigmas:
            sigmas = karras_sigmas(train_sigmas[-1], train_sigmas[0], num_steps)
            timesteps = timesteps_at(sigmas, train_sigmas)
            if self.config.beta_schedule != "squaredcos_cap_v2":
                timesteps = timesteps.round()
        else:                                            # (lambda_min_clipped = −inf)
            timesteps = spaced_timesteps(self.config, num_steps, one_more=True)
            sigmas = sigmas_at(timesteps, train_sigmas)
        return (timesteps.astype(np.int64),
                sigma_grid(sigmas, self.alpha_bar, self.final_sigmas_type))  # [n + 1]

    def _reset(self) -> None:
        self.model_outputs: list[np.ndarray | None] = [None] * self.solver_order  # m1, m0
        self.lower_order_nums = 0              # steps taken so far, up to solver_order

    def step(self, eps, t, x_t, noise=None) -> StepOutput:
        """x_s -> x_t (``noise`` is ignored: DPM-Solver++ is deterministic)."""
        model_output, x_s, i = self._begin_step(eps, t, x_t)
        last_step = i == len(self.timesteps) - 1
        first_order_final = last_step and (self.final_sigmas_type == "zero" or (
            self.lower_order_final and len(self.timesteps) < 15))

        alpha_s, sigma_s = _alpha_sigma(self.sigmas[i])                    # α_s, σ_s
        pred_x0 = pred_x0_from(self.config.prediction_type, model_output, x_s,
                               alpha_s, sigma_s)                           # x̂_0 = (x − σε)/α
        self.model_outputs = self.model_outputs[1:] + [pred_x0]           # [m1, m0]

        alpha_t, sigma_t = _alpha_sigma(self.sigmas[i + 1])                # α_t, σ_t
        with np.errstate(divide="ignore"):                                 # σ_t = 0 at the end:
            lambda_t = _log(alpha_t) - _log(sigma_t)                       # λ_t = +inf, e^{−h} = 0
        lambda_s = _log(alpha_s) - _log(sigma_s)
        h = lambda_t - lambda_s                                            # h_i
        phi = alpha_t * (_exp(-h) - np.float32(1.0))                       # α_t (e^{−h} − 1)
        coefficients = dict(t=float(t), alpha_s=float(alpha_s), sigma_s=float(sigma_s),
                            alpha_t=float(alpha_t), sigma_t=float(sigma_t),
                            lambda_s=float(lambda_s), lambda_t=float(lambda_t), h=float(h))
        if self.lower_order_nums < 1 or first_order_final:                 # 1st order
            prev_sample = (sigma_t / sigma_s) * x_s - phi * pred_x0
            coefficients["order"] = 1.0
        else:                                                              # 2nd order (2M)
            m0, m1 = self.model_outputs[-1], self.model_outputs[-2]
            alpha_s1, sigma_s1 = _alpha_sigma(self.sigmas[i - 1])          # at t_{i−1}
            lambda_s1 = _log(alpha_s1) - _log(sigma_s1)
            h_0 = lambda_s - lambda_s1                                     # h_{i−1}
            r = h_0 / h                                                    # r_i
            D0, D1 = m0, (np.float32(1.0) / r) * (m0 - m1)
            prev_sample = ((sigma_t / sigma_s) * x_s - phi * D0
                           - np.float32(0.5) * phi * D1)
            coefficients.update(order=2.0, r=float(r))
        self.lower_order_nums = min(self.lower_order_nums + 1, self.solver_order)
        self._step_index += 1
        return StepOutput(prev_sample, pred_x0, coefficients)

    def add_noise(self, x0, noise, t) -> np.ndarray:
        """α_t · x_0 + σ_t · noise with (α, σ) from ``sigmas`` at t's step (diffusers' way)."""
        x0, noise = _as_f32(x0), _as_f32(noise)
        if self.timesteps is None:
            raise RuntimeError("call set_timesteps(num_steps) before add_noise()")
        indices = self._noise_indices(t)
        alpha, sigma = _alpha_sigma(_per_sample(self.sigmas[indices], x0.ndim))
        return alpha * x0 + sigma * noise


def _alpha_sigma(sigma):
    """k-diffusion σ̃ -> (α, σ) = (1/√(σ̃² + 1), σ̃·α): x = α·x_0 + σ·ε."""
    alpha = np.float32(1.0) / np.sqrt(sigma * sigma + np.float32(1.0))
    return alpha, sigma * alpha


def _log(x):
    """float32 log computed in float64 and rounded once: nearer torch's float32 log than
    numpy's own float32 log is (either may differ from torch's by an ulp)."""
    return np.log(np.asarray(x, np.float64)).astype(np.float32)


def _exp(x):
    return np.exp(np.asarray(x, np.float64)).astype(np.float32)
