"""PNDM / PLMS: pseudo numerical methods (Liu, Ren, Lin & Zhao 2022, "Pseudo Numerical
Methods for Diffusion Models on Manifolds", eq. 9 and 12, Algorithm 2). A port of diffusers'
``PNDMScheduler``, the scheduler SD v1.5 ships with (``skip_prk_steps=True``: PLMS only).

| code name         | symbol        | meaning                                                  |
|-------------------|---------------|----------------------------------------------------------|
| ``t``, ``t_prev`` | t, t−δ        | this timestep and the next one down, δ = T // num_steps  |
| ``alpha_bar_t``   | ᾱ_t           | signal kept at t (base.py)                                |
| ``alpha_bar_prev``| ᾱ_{t−δ}       | the same at t−δ; before t = 0 it is 1 or ᾱ_0              |
| ``eps``           | ε_θ(x_t, t)   | the model's noise prediction at this call                 |
| ``ets``           | e_t, e_{t−δ}..| the last four predictions, newest last                    |
| ``eps_prime``     | ε'            | their linear-multistep combination (the "gradient part")  |
| ``pred_x0``       | x̂_0           | (x_t − √(1−ᾱ_t)·ε') / √ᾱ_t, the x_0 this step aims at     |
| ``eps_denom``     | D             | the denominator of ε' in eq. 9 (below)                     |

The "transfer part" φ (eq. 9) moves x_t to t−δ along the DDIM path of a noise estimate ε':

    x_{t−δ} = √(ᾱ_{t−δ}/ᾱ_t) · x_t − (ᾱ_{t−δ} − ᾱ_t) · ε' / D
    D       = ᾱ_t·√(1−ᾱ_{t−δ}) + √(ᾱ_t·(1−ᾱ_t)·ᾱ_{t−δ})

(algebraically DDIM with η = 0). The "gradient part" (eq. 12) is the 4th-order
Adams-Bashforth combination of the last predictions, lower orders while history builds up:

    ε' = e_t                                 1st call: a first guess of x_{t−δ}
    ε' = (e_t + e_{t−δ}) / 2                 2nd call (ε at that guess): the 1st step redone
                                             from the same x_t, now 2nd order
    ε' = (3·e_t − e_{t−δ}) / 2               3rd call
    ε' = (23·e_t − 16·e_{t−δ} + 5·e_{t−2δ}) / 12
    ε' = (55·e_t − 59·e_{t−δ} + 37·e_{t−2δ} − 9·e_{t−3δ}) / 24

With ``skip_prk_steps=True`` (crowsonkb's PLMS, as SD uses) the first step is taken twice, so
``timesteps`` has num_steps + 1 entries (the second one repeated). With ``False`` the run
opens with three 4th-order Runge-Kutta steps (12 model calls at half steps) before PLMS.
"""

from __future__ import annotations

import numpy as np

from explainer.schedulers.base import (Scheduler, SchedulerConfig, StepOutput, _check_timestep,
                                       eps_from, pred_x0_from)
from explainer.schedulers.timesteps import spaced_timesteps


class PNDMScheduler(Scheduler):
    """Liu et al.'s PNDM: PLMS steps, after optional Runge-Kutta warm-up steps."""

    name = "pndm"
    diffusers_name = "PNDMScheduler"
    diffusers_defaults = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02,
                              beta_schedule="linear", skip_prk_steps=False,
                              set_alpha_to_one=False, prediction_type="epsilon",
                              timestep_spacing="leading", steps_offset=0)
    prediction_types = ("epsilon", "v_prediction")
    pndm_order = 4                                   # PLMS uses up to 4 past predictions

    def __init__(self, config: SchedulerConfig | None = None):
        super().__init__(config)
        self._reset()

    def _schedule(self, num_steps: int):
        T = self.config.num_train_timesteps
        ts = spaced_timesteps(self.config, num_steps)[::-1].astype(np.int64)  # ascending here
        if self.config.skip_prk_steps:                          # t_0, t_1, t_1, t_2, ...
            prk = np.array([], dtype=np.int64)                  # (the 2nd timestep twice)
            plms = np.concatenate([ts[:-1], ts[-2:-1], ts[-1:]])[::-1]
        else:
            if num_steps < self.pndm_order:
                raise ValueError(f"PNDM's Runge-Kutta warm-up needs num_steps >= 4, got "
                                 f"{num_steps}; use more steps or skip_prk_steps=True")
            half = T // num_steps // 2                  # each RK step visits t, t−δ/2, t−δ
            prk = ts[-self.pndm_order:].repeat(2) + np.tile([0, half], self.pndm_order)
            prk = prk[:-1].repeat(2)[1:-1][::-1]
            plms = ts[:-3][::-1]
        return np.concatenate([prk, plms]).astype(np.int64), None

    def _reset(self) -> None:
        self.counter = 0                       # calls to step() so far in this run
        self.ets: list[np.ndarray] = []        # e_{t}, newest last (at most 4 kept)
        self.cur_sample = None                 # x_t that a multi-call step restarts from
        self.eps_sum = 0                       # RK: running weighted sum of stage predictions
        self.num_prk_steps = 0 if self.config.skip_prk_steps else 4 * (self.pndm_order - 1)

    def step(self, eps, t, x_t, noise=None) -> StepOutput:
        """One model call's step (``noise`` is ignored: PNDM is deterministic)."""
        eps, x_t = self._check_ready(eps, x_t)
        t = _check_timestep(t, self.config.num_train_timesteps)
        if self.counter < self.num_prk_steps:
            return self._step_prk(eps, t, x_t)
        return self._step_plms(eps, t, x_t)

    def _step_plms(self, eps, t, x_t) -> StepOutput:
        delta = self.config.num_train_timesteps // self.num_steps          # δ
        t_prev = t - delta
        if self.counter != 1:
            self.ets = self.ets[-3:] + [eps]                               # e_t appended
        else:                                                  # 2nd call: redo the 1st step
            t, t_prev = t + delta, t
        e = self.ets
        if len(e) == 1 and self.counter == 0:
            eps_prime, order = eps, 1
            self.cur_sample = x_t
        elif len(e) == 1 and self.counter == 1:
            eps_prime, order = (eps + e[-1]) / 2, 2
            x_t, self.cur_sample = self.cur_sample, None
        elif len(e) == 2:
            eps_prime, order = (3 * e[-1] - e[-2]) / 2, 2
        elif len(e) == 3:
            eps_prime, order = (23 * e[-1] - 16 * e[-2] + 5 * e[-3]) / 12, 3
        else:
            eps_prime, order = (1 / 24) * (55 * e[-1] - 59 * e[-2] + 37 * e[-3] - 9 * e[-4]), 4
        self.counter += 1
        return self._transfer(x_t, t, t_prev, eps_prime, order=float(order))

    def _step_prk(self, eps, t, x_t) -> StepOutput:
        """Runge-Kutta stage ``counter % 4`` of the step from t0 = timesteps[counter//4*4]."""
        half = self.config.num_train_timesteps // self.num_steps // 2
        t_prev = t - (0 if self.counter % 2 else half)
        t0 = int(self.timesteps[self.counter // 4 * 4])
        stage = self.counter % 4
        eps_prime = eps                                  # stages 0-2 probe with their own ε
        if stage == 0:
            self.eps_sum = self.eps_sum + (1 / 6) * eps                    # k1 / 6
            self.ets.append(eps)
            self.cur_sample = x_t
        elif stage in (1, 2):
            self.eps_sum = self.eps_sum + (1 / 3) * eps                    # k2 / 3, k3 / 3
        else:
            eps_prime = self.eps_sum + (1 / 6) * eps                       # ε' = Σ weight·k
            self.eps_sum = 0
        x_start = self.cur_sample if self.cur_sample is not None else x_t
        self.counter += 1
        return self._transfer(x_start, t0, t_prev, eps_prime, rk_stage=float(stage))

    def _transfer(self, x_t, t, t_prev, eps_prime, **extra) -> StepOutput:
        """φ(x_t, ε', t -> t−δ) of eq. 9, and the x̂_0 it implies."""
        alpha_bar_t = self.alpha_bar[t]                                    # ᾱ_t
        alpha_bar_prev = self.alpha_bar[t_prev] if t_prev >= 0 else self.final_alpha_bar
        beta_bar_t = np.float32(1.0) - alpha_bar_t                         # 1 − ᾱ_t
        beta_bar_prev = np.float32(1.0) - alpha_bar_prev                   # 1 − ᾱ_{t−δ}
        alpha, sigma = np.sqrt(alpha_bar_t), np.sqrt(beta_bar_t)          # x_t = α·x_0 + σ·ε
        eps_prime = eps_from(self.config.prediction_type, eps_prime, x_t, alpha, sigma)  # v -> ε
        x_coeff = np.sqrt(alpha_bar_prev / alpha_bar_t)                    # √(ᾱ_{t−δ}/ᾱ_t)
        eps_denom = (alpha_bar_t * np.sqrt(beta_bar_prev)                  # D
                     + np.sqrt(alpha_bar_t * beta_bar_t * alpha_bar_prev))
        prev_sample = x_coeff * x_t - (alpha_bar_prev - alpha_bar_t) * eps_prime / eps_denom
        pred_x0 = pred_x0_from("epsilon", eps_prime, x_t, alpha, sigma)      # x̂_0
        coefficients = dict(t=float(t), t_prev=float(t_prev), alpha_bar_t=float(alpha_bar_t),
                            alpha_bar_prev=float(alpha_bar_prev), **extra)
        return StepOutput(prev_sample, pred_x0, coefficients)
