"""Exercises for lessons 03, 04, 05 and 10: the formulas of one step, checked on random arrays
against the package's own implementation (which is itself checked against diffusers)."""

from __future__ import annotations

import numpy as np

from explainer.exercises.feedback import Attempt, Feedback, compare, right, unanswered, wrong


def _arrays(seed: int, n: int, shape=(2, 8, 8, 4)):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(n)]


def _alpha_bar():
    from explainer.schedulers.base import SchedulerConfig
    from explainer.schedulers.noise_schedule import noise_schedule

    return noise_schedule(SchedulerConfig())[1]                           # ᾱ_t [1000], SD's


def check_pred_x0(function) -> Feedback:
    """03.1: ``function(x_t, eps, alpha_bar_t)`` -> x̂₀, the clean latent the noise implies."""
    ex = "03.1 · from ε to x̂₀"
    x_t, eps = _arrays(3, 2)
    for t in (999, 500, 20):
        a = float(_alpha_bar()[t])
        got, failed = Attempt(ex, function)(x_t, eps, a)
        if failed:
            return failed
        want = (x_t - np.sqrt(1 - a) * eps) / np.sqrt(a)
        undivided = x_t - np.sqrt(1 - a) * eps
        if t == 999 and np.allclose(np.asarray(got), undivided, rtol=1e-4, atol=1e-5):
            return wrong(ex, "you removed the noise but did not divide by √ᾱ_t: x_t holds √ᾱ_t·x_0, "
                         "not x_0")
        failed = compare(ex, got, want, f"x̂₀ at t = {t} (ᾱ_t = {a:.3g})")
        if failed:
            return failed
    a = float(_alpha_bar()[999])
    return right(ex, f"x̂₀ = (x_t − √(1−ᾱ_t)·ε)/√ᾱ_t. At t = 999, √ᾱ_t = {np.sqrt(a):.3f}: any error "
                 f"in ε is multiplied by {np.sqrt(1 - a) / np.sqrt(a):.0f} in x̂₀, why the first x̂₀ "
                 "is a rough sketch.")


def check_guidance(function) -> Feedback:
    """04.1: ``function(eps_uncond, eps_text, s)`` -> ε̃, classifier-free guidance."""
    from explainer.diffusion.guidance import apply_guidance

    ex = "04.1 · the guidance mix"
    eps_uncond, eps_text = _arrays(4, 2)
    for s in (7.5, 1.0, 0.0, 2.0):
        got, failed = Attempt(ex, function)(eps_uncond, eps_text, s)
        if failed:
            return failed
        got = np.asarray(got)
        if s == 7.5 and got.shape == eps_text.shape:
            swapped = eps_text + s * (eps_uncond - eps_text)
            if np.allclose(got, swapped, atol=1e-4):
                return wrong(ex, "the two predictions are swapped: guidance starts from the "
                             "unconditional one and moves s times the difference towards the text")
            if np.allclose(got, s * eps_text, atol=1e-4):
                return wrong(ex, "scaling ε_text alone is not guidance: the push is along the "
                             "difference ε_text − ε_uncond")
        failed = compare(ex, got, apply_guidance(eps_uncond, eps_text, s), f"ε̃ at s = {s}")
        if failed:
            return failed
    return right(ex, "ε̃ = ε_uncond + s·(ε_text − ε_uncond): s = 0 ignores the prompt, s = 1 is "
                 "the plain conditional prediction, s > 1 extrapolates past it.")


def check_guidance_scales(text_only, prompt_ignored) -> Feedback:
    """04.2: the scale s at which ε̃ is exactly ε_text, and the one at which it is ε_uncond."""
    ex = "04.2 · two special scales"
    if (waiting := unanswered(ex, text_only, prompt_ignored)):
        return waiting
    if text_only == 1 and prompt_ignored == 0:
        return right(ex, "s = 1 gives ε_text (no guidance: what the model learned), s = 0 gives "
                     "ε_uncond (the prompt is ignored). Every useful scale is beyond 1.")
    return wrong(ex, "put s into ε̃ = ε_uncond + s·(ε_text − ε_uncond) and ask which s leaves "
                 "only ε_text, and which only ε_uncond")


def check_alpha_bar(function) -> Feedback:
    """05.1: ``function(beta_start, beta_end, T)`` -> ᾱ_t [T] of the scaled-linear schedule."""
    ex = "05.1 · the scaled-linear schedule"
    got, failed = Attempt(ex, function)(0.00085, 0.012, 1000)
    if failed:
        return failed
    want = _alpha_bar()
    got_arr = np.asarray(got, np.float64)
    if got_arr.shape == want.shape:
        linear = np.cumprod(1 - np.linspace(0.00085, 0.012, 1000))
        if np.allclose(got_arr, linear, rtol=1e-4):
            return wrong(ex, "that is the *linear* schedule; SD's is scaled-linear: β_t goes "
                         "linearly in √β, then squared")
        if np.allclose(got_arr, 1 - np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000) ** 2, rtol=1e-4):
            return wrong(ex, "those are the α_t = 1 − β_t; ᾱ_t is their running product")
    failed = compare(ex, got, want, "ᾱ_t", rtol=1e-4, atol=1e-7)
    if failed:
        return failed
    return right(ex, f"β_t = (linspace(√β_start, √β_end, T))², ᾱ_t = Π(1 − β_s): ᾱ_0 = "
                 f"{want[0]:.4f}, ᾱ_999 = {want[-1]:.4f}. At t = 999 only √ᾱ = "
                 f"{np.sqrt(want[-1]):.3f} of the signal is left.")


def check_ddim_step(function) -> Feedback:
    """05.2: ``function(eps, x_t, alpha_bar_t, alpha_bar_prev)`` -> x_{t−Δ}, DDIM with η = 0."""
    ex = "05.2 · one DDIM step"
    eps, x_t = _arrays(5, 2)
    ab = _alpha_bar()
    for t, prev in ((999, 959), (500, 460), (39, 0)):
        a, b = float(ab[t]), float(ab[prev])
        got, failed = Attempt(ex, function)(eps, x_t, a, b)
        if failed:
            return failed
        x0 = (x_t - np.sqrt(1 - a) * eps) / np.sqrt(a)
        want = np.sqrt(b) * x0 + np.sqrt(1 - b) * eps
        failed = compare(ex, got, want, f"x_(t−Δ) from t = {t} to {prev}")
        if failed:
            return failed
    return right(ex, "x_{t−Δ} = √ᾱ_{t−Δ}·x̂₀ + √(1−ᾱ_{t−Δ})·ε: predict the clean latent, then "
                 "noise it again to the next, lower level, with the *same* ε. No fresh noise: "
                 "the same x_T always gives the same picture.")


def check_noising(function) -> Feedback:
    """10.1: ``function(x0, eps, alpha_bar_t)`` -> x_t, the forward process q(x_t | x_0)."""
    ex = "10.1 · noising in one jump"
    x0, eps = _arrays(6, 2)
    for t in (250, 0, 999):
        a = float(_alpha_bar()[t])
        got, failed = Attempt(ex, function)(x0, eps, a)
        if failed:
            return failed
        if t == 250 and np.allclose(np.asarray(got), a * x0 + (1 - a) * eps, atol=1e-4):
            return wrong(ex, "the weights are the square roots: √ᾱ_t and √(1−ᾱ_t), so the "
                         "variance stays 1")
        failed = compare(ex, got, np.sqrt(a) * x0 + np.sqrt(1 - a) * eps, f"x_t at t = {t}")
        if failed:
            return failed
    return right(ex, "x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε, any t in one jump: training never runs the "
                 "t steps one by one.")


def check_min_snr(function) -> Feedback:
    """10.2: ``function(alpha_bar_t, gamma)`` -> Min-SNR-γ weights min(SNR, γ)/SNR."""
    ex = "10.2 · Min-SNR weights"
    ab = _alpha_bar()
    got, failed = Attempt(ex, function)(ab, 5.0)
    if failed:
        return failed
    snr = ab / (1 - ab)
    want = np.minimum(snr, 5.0) / snr
    if np.asarray(got).shape == want.shape and np.allclose(np.asarray(got), np.minimum(snr, 5.0)):
        return wrong(ex, "divide by SNR_t: the weight multiplies the ε loss, and min(SNR, γ) alone "
                     "would weight the noisy steps almost to zero")
    failed = compare(ex, got, want, "w_t")
    if failed:
        return failed
    cut = int(np.argmax(snr < 5.0))
    return right(ex, f"w_t = 1 wherever SNR_t ≤ 5 (t ≥ {cut}) and smaller for the clean steps "
                 f"(w_0 = {want[0]:.2g}): the low-noise steps, which only polish details, stop "
                 "dominating the gradient.")


def check_half_noise(answer) -> Feedback:
    """03.2: the timestep at which x_t's variance is half signal, half noise (SD's schedule)."""
    ex = "03.2 · where signal and noise are equal"
    if (waiting := unanswered(ex, answer)):
        return waiting
    ab = _alpha_bar()
    want = int(np.argmin(np.abs(ab - 0.5)))
    if isinstance(answer, (int, np.integer)) and abs(int(answer) - want) <= 1:
        return right(ex, f"t = {want}: ᾱ_t = {ab[want]:.3f}, so √ᾱ_t·x_0 and √(1−ᾱ_t)·ε carry equal "
                     f"variance. Half of the 1000 levels are noisier than that, and the first step "
                     "of a run starts at t = 999, far past it.")
    return wrong(ex, f"{answer!r} is not it: find the t where ᾱ_t is closest to 0.5 "
                 "(pipe.scheduler.alpha_bar holds ᾱ_t for t = 0 … 999)")
