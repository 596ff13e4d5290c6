"""Schedulers: step-by-step parity with diffusers' schedulers, configs, validation, recombination.

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

import re
import warnings
from unittest import mock

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from diffusers.schedulers import (  # noqa: E402
    scheduling_euler_ancestral_discrete as euler_ancestral_module,
    scheduling_lms_discrete as lms_module,
)

from explainer.schedulers import (  # noqa: E402
    DIFFUSERS_CLASSES, SCHEDULERS, DDIMScheduler, EulerScheduler, PNDMScheduler,
    SchedulerConfig, StepOutput, make_scheduler, noise_schedule,
)

# SD v1.5's scheduler/scheduler_config.json, verbatim
SD15 = {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
        "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
        "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
        "trained_betas": None, "clip_sample": False}

REFERENCE = {
    "ddim": diffusers.DDIMScheduler,
    "pndm": diffusers.PNDMScheduler,
    "euler": diffusers.EulerDiscreteScheduler,
    "euler-ancestral": euler_ancestral_module.EulerAncestralDiscreteScheduler,
    "lms": lms_module.LMSDiscreteScheduler,
    "dpm++2m": diffusers.DPMSolverMultistepScheduler,
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


@pytest.fixture(autouse=True)
def _quiet_and_integrable(monkeypatch):
    if not hasattr(lms_module, "integrate"):                       # scipy not installed
        monkeypatch.setattr(lms_module, "integrate", _GaussLegendre(), raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                            # diffusers' deprecation notes
        yield


def _pair(name, config=SD15, eta=0.0, **extra):
    """(ours, diffusers') built from the same config dict."""
    config = {**config, **extra}
    ours = make_scheduler(name, config, **({"eta": eta} if name == "ddim" else {}))
    return ours, REFERENCE[name].from_config(config)


def _alpha_bar_at(reference, t) -> float:
    """ᾱ at a (possibly fractional) timestep, as the σ-space schedulers interpolate it."""
    alpha_bar = reference.alphas_cumprod.numpy().astype(np.float64)
    sigma = np.interp(float(t), np.arange(len(alpha_bar)), np.sqrt((1 - alpha_bar) / alpha_bar))
    return 1.0 / (1.0 + sigma * sigma)


def _stand_in_unet(x_in, t, reference, rng) -> np.ndarray:
    """ε for a fixed x_0*, as a perfect denoiser of one image would predict it, plus 0.2 of
    fresh noise as model error: keeps latents at realistic sizes (|x_0| ~ 4) over any run."""
    alpha_bar = _alpha_bar_at(reference, t)
    eps = (x_in - np.sqrt(alpha_bar) * X0_STAR) / np.sqrt(1 - alpha_bar)
    return (eps + 0.2 * rng.standard_normal(SHAPE)).astype(np.float32)


def _float32_tol(*values, magnify: float = 1.0) -> float:
    """1e-5, or 8 float32 ulps of the largest value touched (times ``magnify``) if more.

    8 ulps: a step mixes a few scalars that torch rounds 1 ulp away from IEEE (see the module
    doc). 1e-5 covers that up to |x| ≈ 16; σ-space latents reach √(σ_max²+1)·|ε| ≈ 60 early
    in a run, where one ulp is 3.8e-6 and 1e-5 would be under 3 ulps.
    """
    largest = max(float(np.abs(v).max()) for v in values)
    return max(1e-5, 8 * float(np.spacing(np.float32(largest))) * magnify)


def _run_parity(name, n, config=SD15, eta=0.0, teacher_forcing=True, start=0, **extra):
    """Run both loops on identical inputs; assert each step; return the worst difference.

    ``start`` > 0 runs as image-to-image does: x_T = add_noise(x_0*, noise, timesteps[start])
    and the loop over timesteps[start:], after set_begin_index(start) where diffusers has it.
    """
    ours, ref = _pair(name, config, eta=eta, **extra)
    ours.set_timesteps(n)
    ref.set_timesteps(n)
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
        assert np.abs(got - x_T).max() <= _float32_tol(x_T), "add_noise at the start step"
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
        assert diff <= growth * _float32_tol(x_in_ref), f"scale_model_input, step {i}: {diff}"
        eps = _stand_in_unet(x_in_ref, t, ref, rng)
        z = rng.standard_normal(SHAPE).astype(np.float32)           # fresh noise, both sides
        kwargs = {}
        if name == "ddim" and eta > 0:
            kwargs = dict(eta=eta, variance_noise=torch.from_numpy(z))
        out = ours.step(eps, t, x_ours, noise=z)
        # diffusers' Euler ancestral draws z inside step(): hand it the same z
        with mock.patch.object(euler_ancestral_module, "randn_tensor", _returns(z)):
            expected = ref.step(torch.from_numpy(eps), t_ref, x_ref, **kwargs)

        prev_ref = expected.prev_sample.numpy()
        magnify_x0, magnify_prev = _magnification(out.coefficients)
        tol = _float32_tol(prev_ref, x_ref.numpy(), eps, magnify=magnify_prev)
        if name == "euler-ancestral":
            tol += _sigma_up_rounding(out.coefficients) * float(np.abs(z).max())
        diff = float(np.abs(out.prev_sample - prev_ref).max())
        assert diff <= growth * tol, f"{name} {n} steps: prev_sample, step {i} (t={t}): {diff}"
        assert out.prev_sample.dtype == np.float32 and out.pred_x0.dtype == np.float32
        pred_x0_ref = getattr(expected, "pred_original_sample", None)   # PNDM, DPM: not returned
        if pred_x0_ref is not None:
            diff_x0 = float(np.abs(out.pred_x0 - pred_x0_ref.numpy()).max())
            tol_x0 = _float32_tol(x_ref.numpy(), eps, magnify=magnify_x0)  # x̂_0's inputs
            assert diff_x0 <= growth * tol_x0, f"{name} {n} steps: pred_x0, step {i}: {diff_x0}"
        worst = max(worst, diff)
        x_ours, x_ref = out.prev_sample, expected.prev_sample
    return worst


def _magnification(c) -> tuple[float, float]:
    """How much a DDIM-type step magnifies rounding at the scale of x_t and ε: x̂_0 =
    (x_t − √(1−ᾱ_t)·ε)/√ᾱ_t divides it by √ᾱ_t (≈ 0.068 at t = 999 for SD, 0.0064 with
    diffusers' default linear β), x_{t−Δ} = √ᾱ_{t−Δ}·x̂_0 + ... scales it back by √ᾱ_{t−Δ}.
    (σ-space steps, x̂_0 = x − σ·ε: 1.)"""
    if "alpha_bar_t" not in c:
        return 1.0, 1.0
    to_x0 = 1.0 / np.sqrt(c["alpha_bar_t"])
    return to_x0, max(1.0, to_x0 * np.sqrt(c["alpha_bar_prev"]))


def _returns(z):
    def randn_tensor(shape, **kwargs):
        assert tuple(shape) == z.shape
        return torch.from_numpy(z.copy())
    return randn_tensor


def _sigma_up_rounding(c) -> float:
    """How far σ_up may move when σ_i, σ_{i+1} move by an ulp (torch's sqrt, module doc):
    σ_up = √(σ_{i+1}²·(σ_i² − σ_{i+1}²))/σ_i subtracts nearly equal squares when steps are
    small (999 steps: 1 ulp of σ_i² is ~85 ulps of σ_i² − σ_{i+1}²); allow 2 ulps of it."""
    s, s_next = c["sigma_t"], c["sigma_next"]
    if s_next == 0:
        return 0.0
    return c["sigma_up"] * 2.0**-22 * s * s / (s * s - s_next * s_next)


def _allowed(name, spacing, n) -> bool:
    """diffusers' DPM "leading" with 999 steps gives t = 1000, outside 0..999: we refuse it."""
    return not (name == "dpm++2m" and spacing == "leading" and n == 999)


PARITY_CASES = [(name, spacing, n) for name in REFERENCE for spacing in SPACINGS
                for n in STEP_COUNTS if _allowed(name, spacing, n)]


@pytest.mark.parametrize("name, spacing, n", PARITY_CASES)
def test_step_parity_with_diffusers(name, spacing, n):
    _run_parity(name, n, timestep_spacing=spacing)


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("n", (1, 13, 50))
def test_ddim_with_noise_parity(spacing, n):
    _run_parity("ddim", n, eta=0.7, timestep_spacing=spacing)


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("n", (4, 13, 50))
def test_pndm_runge_kutta_warmup_parity(spacing, n):
    _run_parity("pndm", n, timestep_spacing=spacing, skip_prk_steps=False)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_free_running_loop_parity(name):
    _run_parity(name, 50, teacher_forcing=False)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_image_to_image_start_parity(name):
    """Starting part-way down (strength 0.6 of 20 steps), as image-to-image and inpaint do."""
    _run_parity(name, 20, start=8)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_each_schedulers_own_defaults_match_diffusers(name):
    """No folder config: diffusers' defaults for that class (DDIM: linear β, clip_sample)."""
    _run_parity(name, 13, config={})


@pytest.mark.parametrize("name, prediction_type", [
    ("ddim", "v_prediction"), ("ddim", "sample"), ("pndm", "v_prediction"),
    ("euler", "v_prediction"), ("euler", "sample"), ("euler-ancestral", "v_prediction"),
    ("lms", "v_prediction"), ("lms", "sample"), ("dpm++2m", "v_prediction"),
    ("dpm++2m", "sample")])
def test_other_prediction_types_parity(name, prediction_type):
    _run_parity(name, 7, prediction_type=prediction_type)


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


# -- configs -------------------------------------------------------------------------------


def test_from_config_on_sd15_folder_config():
    ours = PNDMScheduler.from_config(SD15)
    ref = diffusers.PNDMScheduler.from_config(SD15)
    assert ours.config == SchedulerConfig()                    # our defaults are SD v1.5's
    for key in ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "steps_offset",
                "timestep_spacing", "prediction_type", "set_alpha_to_one", "skip_prk_steps"):
        assert getattr(ours.config, key) == ref.config[key], key
    ours.set_timesteps(50)
    ref.set_timesteps(50)
    np.testing.assert_array_equal(ours.timesteps, ref.timesteps.numpy())
    assert len(ours.timesteps) == 51 and ours.timesteps[1] == ours.timesteps[2] == 961
    config = ours.get_config()
    assert config["_class_name"] == "PNDMScheduler"
    assert PNDMScheduler.from_config(config).config == ours.config   # round trip


def test_make_scheduler_euler_from_sd15_matches_diffusers():
    ours = make_scheduler("euler", SD15)
    pndm_config = diffusers.PNDMScheduler.from_config(SD15).config   # the folder, loaded
    ref = diffusers.EulerDiscreteScheduler.from_config(pndm_config)
    # keys the folder gave are taken; the rest are Euler's own defaults (spacing "linspace"),
    # because diffusers remembers which of PNDM's values were defaults (_use_default_values)
    assert ours.config.timestep_spacing == ref.config.timestep_spacing == "linspace"
    assert ours.config.steps_offset == ref.config.steps_offset == 1
    assert isinstance(ours, EulerScheduler)
    assert type(make_scheduler("EulerDiscreteScheduler", SD15)) is EulerScheduler
    _run_parity("euler", 50, config=dict(pndm_config))


def test_use_default_values_key_is_honoured():
    """A diffusers config dict lists its defaulted keys: those are not carried over."""
    pndm_config = dict(diffusers.PNDMScheduler.from_config(SD15).config)
    assert "timestep_spacing" in pndm_config["_use_default_values"]
    ours = make_scheduler("dpm++2m", pndm_config)
    ref = diffusers.DPMSolverMultistepScheduler.from_config(pndm_config)
    assert ours.config.timestep_spacing == ref.config.timestep_spacing == "linspace"


def test_class_name_map_and_names():
    assert set(SCHEDULERS) == {"ddim", "pndm", "euler", "euler-ancestral", "lms", "dpm++2m"}
    for name, cls in SCHEDULERS.items():
        assert DIFFUSERS_CLASSES[cls.diffusers_name] is cls
        assert REFERENCE[name].__name__ == cls.diffusers_name
        assert cls.name == name


def test_unknown_scheduler_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="ddim.*pndm.*euler.*dpm\\+\\+2m"):
        make_scheduler("ddpm")
    with pytest.raises(ValueError, match="unknown scheduler"):
        make_scheduler(None)


@pytest.mark.parametrize("name, key, value", [
    ("dpm++2m", "solver_order", 3), ("dpm++2m", "algorithm_type", "sde-dpmsolver++"),
    ("dpm++2m", "use_karras_sigmas", True), ("euler", "use_karras_sigmas", True),
    ("euler", "interpolation_type", "log_linear"), ("ddim", "thresholding", True),
    ("ddim", "trained_betas", [0.1] * 1000), ("lms", "use_karras_sigmas", True),
    ("euler-ancestral", "rescale_betas_zero_snr", True)])
def test_unported_config_values_are_refused(name, key, value):
    with pytest.raises(ValueError, match=re.escape(f"{key}={value!r}"[:30])):
        make_scheduler(name, {**SD15, key: value})


def test_irrelevant_and_unknown_keys_are_ignored():
    config = {**SD15, "clip_sample": True, "some_future_key": 3, "use_karras_sigmas": False,
              "solver_order": 3}                               # solver_order: not Euler's key
    ours = make_scheduler("euler", config)
    assert ours.config.timestep_spacing == "linspace"


def test_bad_config_values_name_the_key():
    with pytest.raises(ValueError, match="timestep_spacing='middle'"):
        SchedulerConfig(timestep_spacing="middle")
    with pytest.raises(ValueError, match="beta_schedule='cosine'"):
        make_scheduler("ddim", {"beta_schedule": "cosine"})


# -- validation and state --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
@pytest.mark.parametrize("num_steps, error", [(0, ValueError), (-3, ValueError),
                                               (1001, ValueError), (2.5, TypeError),
                                               (True, TypeError), ("50", TypeError)])
def test_set_timesteps_validates_num_steps(name, num_steps, error):
    with pytest.raises(error, match=str(num_steps) if error is ValueError else "integer"):
        make_scheduler(name, SD15).set_timesteps(num_steps)


@pytest.mark.parametrize("name, config, n, match", [
    ("ddim", {"timestep_spacing": "leading"}, 1000, "timestep 1000"),     # offset 1 -> t=1000
    ("dpm++2m", {"timestep_spacing": "leading"}, 999, "timestep 1000"),
    ("euler", {"timestep_spacing": "trailing"}, 61, "timestep -1"),       # np.arange rounding
    ("pndm", {"skip_prk_steps": False}, 3, "num_steps >= 4"),
])
def test_timesteps_outside_the_trained_range_are_refused(name, config, n, match):
    with pytest.raises(ValueError, match=match):
        make_scheduler(name, {**SD15, **config}).set_timesteps(n)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_step_before_set_timesteps_says_what_to_do(name):
    scheduler = make_scheduler(name, SD15)
    x = np.zeros(SHAPE, np.float32)
    with pytest.raises(RuntimeError, match="set_timesteps"):
        scheduler.step(x, 981, x, noise=x)


@pytest.mark.parametrize("name", ["euler", "euler-ancestral", "lms", "dpm++2m"])
def test_index_counting_steps_must_follow_the_timesteps(name):
    """σ-space and DPM steps count calls: a repeated or skipped t is refused, not misread."""
    scheduler = make_scheduler(name, SD15)
    x = np.zeros(SHAPE, np.float32)
    with pytest.raises(RuntimeError, match="set_timesteps"):
        scheduler.scale_model_input(x, 981) if name != "dpm++2m" else scheduler.step(x, 981, x)
    scheduler.set_timesteps(5)
    t0, t1 = scheduler.timesteps[:2]
    scheduler.step(x, t0, x, noise=x)
    with pytest.raises(ValueError, match=f"expects t={t1}"):
        scheduler.step(x, t0, x, noise=x)                          # the same t again
    for t in scheduler.timesteps[1:]:
        scheduler.step(x, t, x, noise=x)
    with pytest.raises(RuntimeError, match="all 5 steps are done"):
        scheduler.step(x, t0, x, noise=x)


@pytest.mark.parametrize("name", ["ddim", "euler-ancestral"])
def test_stochastic_steps_need_noise(name):
    scheduler = make_scheduler(name, SD15, **({"eta": 1.0} if name == "ddim" else {}))
    assert scheduler.stochastic
    scheduler.set_timesteps(5)
    x = np.zeros(SHAPE, np.float32)
    with pytest.raises(ValueError, match="noise"):
        scheduler.step(x, scheduler.timesteps[0], x)


def test_only_stochastic_schedulers_say_so():
    flags = {name: make_scheduler(name, SD15).stochastic for name in SCHEDULERS}
    assert flags == {name: name == "euler-ancestral" for name in SCHEDULERS}


def test_set_timesteps_restarts_the_run():
    """Multistep history is per run: a second run with the same inputs gives the same outputs."""
    for name in ("pndm", "lms", "dpm++2m"):
        scheduler = make_scheduler(name, SD15)
        runs = []
        for _ in range(2):
            scheduler.set_timesteps(6)
            rng = np.random.default_rng(1)
            x = rng.standard_normal(SHAPE).astype(np.float32)
            for t in scheduler.timesteps:
                x = scheduler.step(rng.standard_normal(SHAPE).astype(np.float32), t, x).prev_sample
            runs.append(x)
        np.testing.assert_array_equal(runs[0], runs[1])


def test_shape_mismatch_is_refused():
    scheduler = make_scheduler("ddim", SD15)
    scheduler.set_timesteps(5)
    with pytest.raises(ValueError, match="shape"):
        scheduler.step(np.zeros((1, 4, 8, 8)), 801, np.zeros(SHAPE))


# -- add_noise and the step's own numbers ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_add_noise_parity(name):
    ours, ref = _pair(name)
    ours.set_timesteps(20)
    ref.set_timesteps(20)
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal(SHAPE).astype(np.float32)
    noise = rng.standard_normal(SHAPE).astype(np.float32)
    for t in (ours.timesteps[[0, 7]], ours.timesteps[[3]]):          # per sample, and shared
        got = ours.add_noise(x0, noise, t)
        want = ref.add_noise(torch.from_numpy(x0), torch.from_numpy(noise), torch.from_numpy(t))
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=_float32_tol(want.numpy()))


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
                                   atol=_float32_tol(out.pred_x0))
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
        np.testing.assert_allclose(recombined, out.prev_sample, rtol=0, atol=_float32_tol(x))
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
            eps = _stand_in_unet(scheduler.scale_model_input(x, t), t, ref, rng)
            z = rng.standard_normal(SHAPE).astype(np.float32)
            x = scheduler.step(eps, t, x, noise=z if scheduler.stochastic else None).prev_sample
        # the stand-in UNet's 0.2 noise leaves x_0 within a few tenths of x_0*
        assert np.abs(x - X0_STAR).mean() < 0.5, name
