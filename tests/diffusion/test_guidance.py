"""Classifier-free guidance as a pure function, against diffusers' formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explainer.diffusion.guidance import apply_guidance


def test_formula_and_purity(rng):
    u, c = rng.standard_normal((2, 2, 4, 4, 4)).astype(np.float32)
    u0, c0 = u.copy(), c.copy()
    out = apply_guidance(u, c, 7.5)
    np.testing.assert_allclose(out, u + 7.5 * (c - u), rtol=1e-6)
    np.testing.assert_array_equal(u, u0)
    np.testing.assert_array_equal(c, c0)
    # s = 1 gives the prompt's prediction, up to float32 rounding of u + (c - u)
    np.testing.assert_allclose(apply_guidance(u, c, 1.0), c, rtol=0, atol=1e-6)


def test_rescale_matches_diffusers(rng):
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import rescale_noise_cfg

    u, c = rng.standard_normal((2, 2, 8, 8, 4)).astype(np.float32)
    ours = apply_guidance(u, c, 9.0, rescale=0.7)
    guided = torch.from_numpy(u + 9.0 * (c - u))
    expected = rescale_noise_cfg(guided, torch.from_numpy(c), guidance_rescale=0.7).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-5)  # float32 std reductions
    # the rescaled prediction's std is pulled toward eps_text's
    assert abs(ours.std() - c.std()) < abs((u + 9.0 * (c - u)).std() - c.std())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nonfinite_scale_is_refused(rng, bad):
    u = np.zeros((1, 2, 2, 4), np.float32)
    with pytest.raises(ValueError, match="finite"):
        apply_guidance(u, u, bad)


def test_bad_types():
    u = np.zeros((1, 2, 2, 4), np.float32)
    with pytest.raises(TypeError, match="str"):
        apply_guidance(u, u, "7.5")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        apply_guidance(u, u, 7.5, rescale=2.0)
    with pytest.raises(ValueError, match="same shape"):
        apply_guidance(u, np.zeros((1, 2, 2, 3), np.float32), 7.5)


def test_rescale_of_a_constant_prediction_is_guarded():
    """ε̃ with no spread (std 0) is left as it is: no division by zero, no NaN."""
    u = np.zeros((2, 2, 2, 4), np.float32)
    c = np.ones((2, 2, 2, 4), np.float32)                          # ε̃ = s, constant per image
    out = apply_guidance(u, c, 3.0, rescale=0.7)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out, u + 3.0 * (c - u))
