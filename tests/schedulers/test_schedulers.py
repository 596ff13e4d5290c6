"""Schedulers: step-by-step parity with diffusers' schedulers, and the steps' own numbers.

How parity is checked is scheduler_parity.py's doc.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from scheduler_parity import (  # noqa: E402
    REFERENCE, SD15, SHAPE, SPACINGS, STEP_COUNTS, X0_STAR, float32_tol, pair, run_parity,
    stand_in_unet,
)

from explainer.schedulers import (  # noqa: E402
    SCHEDULERS, DDIMScheduler, SchedulerConfig, StepOutput, make_scheduler, noise_schedule,
)


def _allowed(name, spacing, n) -> bool:
    """diffusers' DPM "leading" with 999 steps gives t = 1000, outside 0..999: we refuse it."""
    return not (name == "dpm++2m" and spacing == "leading" and n == 999)


PARITY_CASES = [(name, spacing, n) for name in REFERENCE for spacing in SPACINGS
                for n in STEP_COUNTS if _allowed(name, spacing, n)]


@pytest.mark.parametrize("name, spacing, n", PARITY_CASES)
def test_step_parity_with_diffusers(name, spacing, n):
    run_parity(name, n, timestep_spacing=spacing)


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("n", (1, 13, 50))
def test_ddim_with_noise_parity(spacing, n):
    run_parity("ddim", n, eta=0.7, timestep_spacing=spacing)


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("n", (4, 13, 50))
def test_pndm_runge_kutta_warmup_parity(spacing, n):
    run_parity("pndm", n, timestep_spacing=spacing, skip_prk_steps=False)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_free_running_loop_parity(name):
    run_parity(name, 50, teacher_forcing=False)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_image_to_image_start_parity(name):
    """Starting part-way down (strength 0.6 of 20 steps), as image-to-image and inpaint do."""
    run_parity(name, 20, start=8)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_each_schedulers_own_defaults_match_diffusers(name):
    """No folder config: diffusers' defaults for that class (DDIM: linear β, clip_sample)."""
    run_parity(name, 13, config={})


@pytest.mark.parametrize("name, prediction_type", [
    ("ddim", "v_prediction"), ("ddim", "sample"), ("pndm", "v_prediction"),
    ("euler", "v_prediction"), ("euler", "sample"), ("euler-ancestral", "v_prediction"),
    ("lms", "v_prediction"), ("lms", "sample"), ("dpm++2m", "v_prediction"),
    ("dpm++2m", "sample")])
def test_other_prediction_types_parity(name, prediction_type):
    run_parity(name, 7, prediction_type=prediction_type)


@pytest.mark.parametrize("name, prediction_type", [("pndm", "sample"),
                                                   ("euler-ancestral", "sample")])
def test_unsupported_prediction_type_is_refused(name, prediction_type):
    with pytest.raises(ValueError, match=prediction_type):
        make_scheduler(name, {**SD15, "prediction_type": prediction_type})


@pytest.mark.parametrize("schedule, beta_start, beta_end", [
    ("scaled_linear", 0.00085, 0.012), ("scaled_linear", 0.0001, 0.02), ("linear", 0.0001, 0.02),
    ("linear", 0.00085, 0.012), ("squaredcos_cap_v2", 0.0001, 0.02)])
def test_noise_schedule_matches_diffusers(schedule, beta_start, beta_end):
    config = SchedulerConfig(beta_schedule=schedule, beta_start=beta_start, beta_end=beta_end)
    betas, alpha_bar = noise_schedule(config)
    ref = diffusers.DDIMScheduler(beta_schedule=schedule, beta_start=beta_start, beta_end=beta_end)
    assert betas.dtype == alpha_bar.dtype == np.float32 and betas.shape == (1000,)
    # torch.linspace's SIMD kernels round some entries 1 ulp away from its reference kernel
    # (which ours follows); squared for "scaled_linear", that is up to 3 ulps of β (5e-7).
    # ᾱ multiplies 1000 factors 1 − β (in float64, as torch does): a few ulps as well.
    np.testing.assert_allclose(betas, ref.betas.numpy(), rtol=5e-7, atol=0)
    np.testing.assert_allclose(alpha_bar, ref.alphas_cumprod.numpy(), rtol=5e-7, atol=0)


# -- add_noise and the step's own numbers ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_add_noise_parity(name):
    ours, ref = pair(name)
    ours.set_timesteps(20)
    ref.set_timesteps(20)
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal(SHAPE).astype(np.float32)
    noise = rng.standard_normal(SHAPE).astype(np.float32)
    for t in (ours.timesteps[[0, 7]], ours.timesteps[[3]]):          # per sample, and shared
        got = ours.add_noise(x0, noise, t)
        want = ref.add_noise(torch.from_numpy(x0), torch.from_numpy(noise), torch.from_numpy(t))
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=float32_tol(want.numpy()))


@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_ddim_output_recombines_to_prev_sample(eta):
    """x_{t−Δ} = √ᾱ_{t−Δ}·x̂_0 + √(1 − ᾱ_{t−Δ} − σ_t²)·ε + σ_t·z, from StepOutput alone."""
    scheduler = DDIMScheduler(SchedulerConfig(), eta=eta)
    scheduler.set_timesteps(10)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    for t in scheduler.timesteps:
        eps, z = rng.standard_normal((2,) + SHAPE).astype(np.float32)
        out = scheduler.step(eps, t, x, noise=z)
        assert isinstance(out, StepOutput)
        c = out.coefficients
        assert c["t_prev"] == c["t"] - 100 and c["eta"] == eta
        if eta == 0:
            assert c["sigma_t"] == 0
        recombined = (np.sqrt(c["alpha_bar_prev"]) * out.pred_x0
                      + np.sqrt(1 - c["alpha_bar_prev"] - c["sigma_t"] ** 2) * eps
                      + c["sigma_t"] * z)
        # float64 recombination of float32 results: a few ulps of the values (|x̂_0| ≲ 20)
        np.testing.assert_allclose(recombined, out.prev_sample, rtol=0,
                                   atol=float32_tol(out.pred_x0))
        x = out.prev_sample


@pytest.mark.parametrize("name", ["euler", "euler-ancestral"])
def test_euler_outputs_recombine_to_prev_sample(name):
    """x_{i+1} = x_i + dt·(x_i − x̂_0)/σ_i (+ σ_up·z), from StepOutput alone."""
    scheduler = make_scheduler(name, SD15)
    scheduler.set_timesteps(10)
    rng = np.random.default_rng(4)
    x = rng.standard_normal(SHAPE).astype(np.float32) * np.float32(scheduler.init_noise_sigma)
    for t in scheduler.timesteps:
        eps, z = rng.standard_normal((2,) + SHAPE).astype(np.float32)
        out = scheduler.step(eps, t, x, noise=z)
        c = out.coefficients
        recombined = x + c["dt"] * (x - out.pred_x0) / c["sigma_t"] + c.get("sigma_up", 0.0) * z
        np.testing.assert_allclose(recombined, out.prev_sample, rtol=0, atol=float32_tol(x))
        x = out.prev_sample


def test_lms_coefficients_are_exact_integrals():
    """c_j integrates the Lagrange basis exactly: Σ_j c_j = σ_{i+1} − σ_i (the basis sums to 1)
    and Σ_j c_j·σ_{i−j} = (σ_{i+1}² − σ_i²)/2 (it reproduces σ itself)."""
    scheduler = make_scheduler("lms", SD15)
    scheduler.set_timesteps(20)
    s = scheduler.sigmas.astype(np.float64)
    for i in (3, 10, 19):
        c = [scheduler.lms_coefficient(4, i, j) for j in range(4)]
        assert sum(c) == pytest.approx(s[i + 1] - s[i], rel=1e-12)
        assert sum(cj * s[i - j] for j, cj in enumerate(c)) == pytest.approx(
            (s[i + 1] ** 2 - s[i] ** 2) / 2, rel=1e-10)


def test_scheduler_loop_reads_like_the_docs():
    """The loop in explainer.schedulers' docstring runs for every scheduler and ends near x_0*."""
    for name, cls in SCHEDULERS.items():
        scheduler = cls.from_config(SD15)
        scheduler.set_timesteps(30)
        ref = REFERENCE[name].from_config(SD15)
        rng = np.random.default_rng(6)
        x = rng.standard_normal(SHAPE).astype(np.float32) * np.float32(scheduler.init_noise_sigma)
        for t in scheduler.timesteps:
            eps = stand_in_unet(scheduler.scale_model_input(x, t), t, ref, rng)
            z = rng.standard_normal(SHAPE).astype(np.float32)
            x = scheduler.step(eps, t, x, noise=z if scheduler.stochastic else None).prev_sample
        # the stand-in UNet's 0.2 noise leaves x_0 within a few tenths of x_0*
        assert np.abs(x - X0_STAR).mean() < 0.5, name
