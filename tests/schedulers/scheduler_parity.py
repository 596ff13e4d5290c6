"""Shared by the scheduler tests: diffusers as the reference, a stand-in UNet, the parity loop.

How parity is checked. Both libraries get the same config, the same timesteps are asserted,
then every step gets the *same* inputs on both sides: the same x_t (diffusers' trajectory,
"teacher forcing"), the same ε (from a stand-in UNet, below) and the same fresh noise z. So a
step's difference is that step's own float32 rounding, not an accumulation of earlier ones. A
free-running loop (each library on its own trajectory) is checked too, with its own tolerance.

Why not bit-for-bit: diffusers computes its scalars (√ᾱ, σ, √(σ²+1), log, exp) with torch
kernels that round the last bit differently from IEEE numpy (torch 2.13's float32 sqrt is not
correctly rounded: about 1 input in 5 differs by 1 ulp), and its β table comes from a
torch.linspace whose rounding depends on the CPU's SIMD width. LMS adds one more: diffusers
integrates its Lagrange basis as evaluated in float32 (nearly equal σ's cancel), so its
weights c_j drift from the exact ones we compute, by up to 4e-6 at 999 steps. So the
tolerances below are a few float32 ulps of the values a step touches.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import torch
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler,
                       PNDMScheduler)
from diffusers.schedulers import (
    scheduling_euler_ancestral_discrete as euler_ancestral_module,
    scheduling_lms_discrete as lms_module,
)

from explainer.schedulers import make_scheduler

# SD v1.5's scheduler/scheduler_config.json, verbatim
SD15 = {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
        "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
        "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
        "trained_betas": None, "clip_sample": False}

REFERENCE = {
    "ddim": DDIMScheduler,
    "pndm": PNDMScheduler,
    "euler": EulerDiscreteScheduler,
    "euler-ancestral": euler_ancestral_module.EulerAncestralDiscreteScheduler,
    "lms": lms_module.LMSDiscreteScheduler,
    "dpm++2m": DPMSolverMultistepScheduler,
}
SPACINGS = ("leading", "linspace", "trailing")
STEP_COUNTS = (1, 7, 13, 50, 999)
SHAPE = (2, 4, 8, 8)
X0_STAR = np.random.default_rng(5).standard_normal(SHAPE).astype(np.float32)


class _GaussLegendre:
    """Stands in for ``scipy.integrate`` in diffusers' LMS when scipy is not installed.

    diffusers integrates each Lagrange basis polynomial (degree <= 3, evaluated by its own
    float32 torch code) with ``quad``'s 21-point Gauss-Kronrod rule; an 8-point Gauss-Legendre
    rule is exact for degree <= 15 too, so the reference's numbers do not change (checked
    against scipy 1.15: the same parity differences to the printed digit).
    """

    nodes, weights = np.polynomial.legendre.leggauss(8)

    def quad(self, f, a, b, epsrel=None):
        a, b = float(a), float(b)
        half, mid = (b - a) / 2, (a + b) / 2
        points = zip(half * self.nodes + mid, self.weights)
        return half * sum(w * float(f(float(x))) for x, w in points), 0.0   # f(python float)


def pair(name, config=SD15, eta=0.0, **extra):
    """(ours, diffusers') built from the same config dict."""
    config = {**config, **extra}
    ours = make_scheduler(name, config, **({"eta": eta} if name == "ddim" else {}))
    return ours, REFERENCE[name].from_config(config)


def alpha_bar_at(reference, t) -> float:
    """ᾱ at a (possibly fractional) timestep, as the σ-space schedulers interpolate it."""
    alpha_bar = reference.alphas_cumprod.numpy().astype(np.float64)
    sigma = np.interp(float(t), np.arange(len(alpha_bar)), np.sqrt((1 - alpha_bar) / alpha_bar))
    return 1.0 / (1.0 + sigma * sigma)


def stand_in_unet(x_in, t, reference, rng) -> np.ndarray:
    """ε for a fixed x_0*, as a perfect denoiser of one image would predict it, plus 0.2 of
    fresh noise as model error: keeps latents at realistic sizes (|x_0| ~ 4) over any run."""
    alpha_bar = alpha_bar_at(reference, t)
    eps = (x_in - np.sqrt(alpha_bar) * X0_STAR) / np.sqrt(1 - alpha_bar)
    return (eps + 0.2 * rng.standard_normal(SHAPE)).astype(np.float32)


def float32_tol(*values, magnify: float = 1.0) -> float:
    """1e-5, or 8 float32 ulps of the largest value touched (times ``magnify``) if more.

    8 ulps: a step mixes a few scalars that torch rounds 1 ulp away from IEEE (see the module
    doc). 1e-5 covers that up to |x| ≈ 16; σ-space latents reach √(σ_max²+1)·|ε| ≈ 60 early
    in a run, where one ulp is 3.8e-6 and 1e-5 would be under 3 ulps.
    """
    largest = max(float(np.abs(v).max()) for v in values)
    return max(1e-5, 8 * float(np.spacing(np.float32(largest))) * magnify)


def run_parity(name, n, config=SD15, eta=0.0, teacher_forcing=True, start=0, **extra):
    """Run both loops on identical inputs; assert each step; return the worst difference.

    ``start`` > 0 runs as image-to-image does: x_T = add_noise(x_0*, noise, timesteps[start])
    and the loop over timesteps[start:], after set_begin_index(start) where diffusers has it.
    """
    ours, ref = pair(name, config, eta=eta, **extra)
    ours.set_timesteps(n)
    ref.set_timesteps(n)
    if getattr(ours, "use_karras_sigmas", False) and ours.timesteps.dtype == np.float32:
        # fractional t found by interpolating log σ, from σs an ulp apart (torch's sqrt):
        # 2 ulps of t, and of 1 near t = 0 (where an ulp of σ moves t by more than its ulp)
        np.testing.assert_allclose(ours.timesteps, ref.timesteps.numpy(), rtol=2.5e-7,
                                   atol=2.5e-7)
    else:
        np.testing.assert_array_equal(ours.timesteps, ref.timesteps.numpy())
    assert ours.timesteps.dtype == ref.timesteps.numpy().dtype
    # 2.5e-7 relative = 2 float32 ulps: σ = √((1−ᾱ)/ᾱ) via torch's sqrt (see module doc)
    assert ours.init_noise_sigma == pytest.approx(float(ref.init_noise_sigma), rel=2.5e-7)
    if name in ("euler", "euler-ancestral", "lms", "dpm++2m"):
        np.testing.assert_allclose(ours.sigmas, ref.sigmas.numpy(), rtol=2.5e-7, atol=0)

    rng = np.random.default_rng(0)
    x_T = rng.standard_normal(SHAPE).astype(np.float32) * np.float32(ref.init_noise_sigma)
    if start:
        ours.set_begin_index(start)
        if hasattr(ref, "set_begin_index"):                        # not DDIM, PNDM
            ref.set_begin_index(start)
        noise, t_start = x_T / np.float32(ref.init_noise_sigma), ours.timesteps[start:start + 1]
        x_T = ref.add_noise(torch.from_numpy(X0_STAR), torch.from_numpy(noise),
                            torch.from_numpy(t_start)).numpy()
        got = ours.add_noise(X0_STAR, noise, t_start)
        assert np.abs(got - x_T).max() <= float32_tol(x_T), "add_noise at the start step"
    x_ours, x_ref = x_T, torch.from_numpy(x_T.copy())
    worst = 0.0
    for i, (t, t_ref) in enumerate(zip(ours.timesteps[start:], ref.timesteps[start:])):
        if teacher_forcing:
            x_ours = x_ref.numpy().copy()
        # Free-running, each library is on its own trajectory and ε here does not react to
        # x_t, so a DDIM-type step scales earlier differences by √(ᾱ_{t−Δ}/ᾱ_t): up to
        # √(ᾱ_0/ᾱ_T) ≈ 14 over a whole run. Teacher-forced, every step starts equal.
        growth = 1.0 if teacher_forcing else 14.0
        x_in = ours.scale_model_input(x_ours, t)
        x_in_ref = ref.scale_model_input(x_ref, t_ref).numpy()
        diff = float(np.abs(x_in - x_in_ref).max())
        assert diff <= growth * float32_tol(x_in_ref), f"scale_model_input, step {i}: {diff}"
        eps = stand_in_unet(x_in_ref, t, ref, rng)
        z = rng.standard_normal(SHAPE).astype(np.float32)           # fresh noise, both sides
        kwargs = {}
        if name == "ddim" and eta > 0:
            kwargs = dict(eta=eta, variance_noise=torch.from_numpy(z))
        out = ours.step(eps, t, x_ours, noise=z)
        # diffusers' Euler ancestral draws z inside step(): hand it the same z
        with mock.patch.object(euler_ancestral_module, "randn_tensor", returns(z)):
            expected = ref.step(torch.from_numpy(eps), t_ref, x_ref, **kwargs)

        prev_ref = expected.prev_sample.numpy()
        magnify_x0, magnify_prev = magnification(out.coefficients)
        tol = float32_tol(prev_ref, x_ref.numpy(), eps, magnify=magnify_prev)
        if name == "euler-ancestral":
            tol += sigma_up_rounding(out.coefficients) * float(np.abs(z).max())
        diff = float(np.abs(out.prev_sample - prev_ref).max())
        assert diff <= growth * tol, f"{name} {n} steps: prev_sample, step {i} (t={t}): {diff}"
        assert out.prev_sample.dtype == np.float32 and out.pred_x0.dtype == np.float32
        pred_x0_ref = getattr(expected, "pred_original_sample", None)   # PNDM, DPM: not returned
        if pred_x0_ref is not None:
            diff_x0 = float(np.abs(out.pred_x0 - pred_x0_ref.numpy()).max())
            tol_x0 = float32_tol(x_ref.numpy(), eps, magnify=magnify_x0)  # x̂_0's inputs
            assert diff_x0 <= growth * tol_x0, f"{name} {n} steps: pred_x0, step {i}: {diff_x0}"
        worst = max(worst, diff)
        x_ours, x_ref = out.prev_sample, expected.prev_sample
    return worst


def magnification(c) -> tuple[float, float]:
    """How much a DDIM-type step magnifies rounding at the scale of x_t and ε: x̂_0 =
    (x_t − √(1−ᾱ_t)·ε)/√ᾱ_t divides it by √ᾱ_t (≈ 0.068 at t = 999 for SD, 0.0064 with
    diffusers' default linear β), x_{t−Δ} = √ᾱ_{t−Δ}·x̂_0 + ... scales it back by √ᾱ_{t−Δ}.
    (σ-space steps, x̂_0 = x − σ·ε: 1.)"""
    if "alpha_bar_t" not in c:
        return 1.0, 1.0
    to_x0 = 1.0 / np.sqrt(c["alpha_bar_t"])
    return to_x0, max(1.0, to_x0 * np.sqrt(c["alpha_bar_prev"]))


def returns(z):
    def randn_tensor(shape, **kwargs):
        assert tuple(shape) == z.shape
        return torch.from_numpy(z.copy())
    return randn_tensor


def sigma_up_rounding(c) -> float:
    """How far σ_up may move when σ_i, σ_{i+1} move by an ulp (torch's sqrt, module doc):
    σ_up = √(σ_{i+1}²·(σ_i² − σ_{i+1}²))/σ_i subtracts nearly equal squares when steps are
    small (999 steps: 1 ulp of σ_i² is ~85 ulps of σ_i² − σ_{i+1}²); allow 2 ulps of it."""
    s, s_next = c["sigma_t"], c["sigma_next"]
    if s_next == 0:
        return 0.0
    return c["sigma_up"] * 2.0**-22 * s * s / (s * s - s_next * s_next)


