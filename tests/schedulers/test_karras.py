"""Karras σs ("DPM++ 2M Karras") and DPM-Solver++'s final-step options, against diffusers.

Each option is proven as the other schedulers are (scheduler_parity.py): the same config to
both libraries, the same timesteps and σs, then every step on identical inputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from scheduler_parity import REFERENCE, SD15, run_parity  # noqa: E402

from explainer.schedulers import SCHEDULER_NAMES, VARIANTS, make_scheduler  # noqa: E402

TINY = json.loads((Path(__file__).parents[2] / "assets" / "tiny-shapes" / "scheduler"
                   / "scheduler_config.json").read_text())
CONFIGS = {"sd-v1-5": SD15, "tiny-shapes": TINY, "diffusers-defaults": {}}
KARRAS = ("euler", "lms", "dpm++2m")


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("name", KARRAS)
@pytest.mark.parametrize("n", (20, 50))
def test_karras_sigmas_parity(name, config, n):
    run_parity(name, n, config=CONFIGS[config], use_karras_sigmas=True)


@pytest.mark.parametrize("name", KARRAS)
def test_karras_sigmas_follow_the_rho_ramp(name):
    """σ_i^{1/ρ} falls linearly from σ_max^{1/ρ} to σ_min^{1/ρ} (ρ = 7), then the final σ."""
    scheduler = make_scheduler(f"{name}-karras", SD15)
    plain = make_scheduler(name, SD15)
    scheduler.set_timesteps(20)
    plain.set_timesteps(20)
    sigmas = scheduler.sigmas[:-1].astype(np.float64)                  # [20], then σ = 0
    steps = np.diff(sigmas ** (1 / 7))
    np.testing.assert_allclose(steps, steps[0], rtol=1e-4)             # float32 σs, ^(1/7)
    assert scheduler.sigmas[-1] == 0 and np.all(np.diff(sigmas) < 0)
    # denser near σ_min than the plain spacing: the last steps are smaller
    assert sigmas[-2] < plain.sigmas[-3]
    # the UNet is called at the timestep whose σ_t is σ_i: t is found by interpolating log σ
    # between training steps, this check interpolates σ (1 % apart near t = 0, where σ bends
    # most); DPM rounds t to an integer (up to half a step: 5 %)
    t_sigma = np.interp(scheduler.timesteps, np.arange(1000), np.sqrt(
        (1 - scheduler.alpha_bar) / scheduler.alpha_bar))
    np.testing.assert_allclose(t_sigma, sigmas, rtol=0.05 if name == "dpm++2m" else 0.01)


@pytest.mark.parametrize("final", ("zero", "sigma_min"))
@pytest.mark.parametrize("lower_order_final", (True, False))
@pytest.mark.parametrize("n", (7, 20))
@pytest.mark.parametrize("karras", (False, True))
def test_dpm_final_step_options_parity(final, lower_order_final, n, karras):
    run_parity("dpm++2m", n, final_sigmas_type=final, lower_order_final=lower_order_final,
               use_karras_sigmas=karras)


@pytest.mark.parametrize("n", (7, 20))
def test_euler_final_sigma_min_parity(n):
    run_parity("euler", n, final_sigmas_type="sigma_min")


def test_dpm_final_step_order_follows_the_options():
    """First order at the last step when it lands on σ = 0, or (lower_order_final) in a run
    under 15 steps; second order otherwise."""
    x = np.ones((1, 4, 2, 2), np.float32)
    for final, lower, n, order in [("zero", False, 20, 1.0), ("sigma_min", True, 7, 1.0),
                                   ("sigma_min", True, 20, 2.0), ("sigma_min", False, 7, 2.0)]:
        scheduler = make_scheduler("dpm++2m", SD15, final_sigmas_type=final,
                                   lower_order_final=lower)
        scheduler.set_timesteps(n)
        for t in scheduler.timesteps:
            out = scheduler.step(0.1 * x, t, x)
        assert out.coefficients["order"] == order, (final, lower, n)
        assert out.coefficients["sigma_t"] == (0.0 if final == "zero" else pytest.approx(
            np.sqrt(1 - scheduler.alpha_bar[0]), rel=1e-6))          # σ = √(1 − ᾱ_0)


def test_the_common_names_build_the_variants():
    assert set(VARIANTS) <= set(SCHEDULER_NAMES)
    scheduler = make_scheduler("dpm++2m-karras", SD15)
    assert scheduler.label == "dpm++2m-karras" and scheduler.use_karras_sigmas
    assert make_scheduler("dpm++2m", SD15).label == "dpm++2m"
    config = scheduler.get_config()
    assert config["use_karras_sigmas"] is True
    ours = make_scheduler("DPMSolverMultistepScheduler", config)    # our config, round trip
    ref = REFERENCE["dpm++2m"].from_config({**SD15, **config})         # diffusers reads it too
    ours.set_timesteps(20)
    ref.set_timesteps(20)
    np.testing.assert_array_equal(ours.timesteps, ref.timesteps.numpy())
    assert ref.config.use_karras_sigmas
    # an explicit option wins over the variant's
    assert not make_scheduler("euler-karras", SD15, use_karras_sigmas=False).use_karras_sigmas
