"""Bad input gets a clear error naming the value and the fix, before any heavy work."""

from __future__ import annotations

import numpy as np
import pytest

PROMPT = "a red circle"


@pytest.fixture(scope="module")
def pipe(small_folder):
    from explainer.diffusion.loading import load_pipeline

    pipe = load_pipeline(weights=small_folder)

    def forbidden(*args, **kwargs):
        raise AssertionError("the UNet ran before the input was checked")

    pipe.predict_noise = forbidden  # any heavy work before the error fails the test
    return pipe


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(height=30), ValueError, "height=30.*multiple of 4"),
    (dict(width=0), ValueError, "width=0"),
    (dict(height=-8), ValueError, "height=-8"),
    (dict(height=16.0), TypeError, "height"),
    (dict(num_steps=0), ValueError, "num_steps=0"),
    (dict(num_steps=1001), ValueError, "num_steps=1001.*1 to 1000"),
    (dict(guidance_scale=float("nan")), ValueError, "finite"),
    (dict(guidance_scale=float("inf")), ValueError, "finite"),
    (dict(scheduler="ddpm"), ValueError, "ddim"),
    (dict(seed=-1), TypeError, "seed"),
    (dict(seed=[1, 2, 3], negative_prompt=["a", "b"]), ValueError, "batch sizes disagree"),
    (dict(latents=np.zeros((1, 8, 8, 4), np.float32)), ValueError, "latents must have shape"),
])
def test_text_to_image_checks(pipe, kwargs, error, match):
    with pytest.raises(error, match=match):
        pipe.text_to_image(PROMPT, **kwargs)


@pytest.mark.parametrize("prompt", [None, b"bytes", 3, ["ok", None]])
def test_prompt_must_be_text(pipe, prompt):
    with pytest.raises(TypeError, match="must be text"):
        pipe.text_to_image(prompt)


IMAGE = np.zeros((32, 32, 3), np.uint8)


@pytest.mark.parametrize("image,strength,match", [
    (IMAGE, 0.0, r"strength=0.0 is outside \(0, 1\]"),
    (IMAGE, 1.5, "strength=1.5"),
    (IMAGE, float("nan"), "strength"),
    (np.zeros((32, 32), np.uint8), 0.5, r"\[H, W, 3\]"),
    (np.zeros((32, 32, 3), np.int64), 0.5, "dtype"),
    (np.full((32, 32, 3), 2.0, np.float32), 0.5, r"\[0, 1\]"),
    (np.zeros((30, 32, 3), np.uint8), 0.5, "height=30"),
])
def test_image_to_image_checks(pipe, image, strength, match):
    with pytest.raises((ValueError, TypeError), match=match):
        pipe.image_to_image(image, PROMPT, strength=strength)


@pytest.mark.parametrize("mask,match", [
    (np.zeros((16, 16), bool), "match"),
    (np.full((32, 32), 0.5), "0/1"),
    (np.zeros((2, 3, 32, 32), bool), "match"),
])
def test_mask_checks(pipe, mask, match):
    with pytest.raises(ValueError, match=match):
        pipe.inpaint(IMAGE, mask, PROMPT)


def test_nan_step_names_the_step(small_folder):
    from explainer.diffusion.loading import load_pipeline

    pipe = load_pipeline(weights=small_folder)
    real = pipe.predict_noise
    calls = []

    def poisoned(x, t, uncond, context):
        eps_uncond, eps_text = real(x, t, uncond, context)
        calls.append(t)
        if len(calls) == 3:
            eps_text = eps_text * np.nan
        if len(calls) == 5 + 2:                                    # second run, step 1
            eps_uncond = eps_uncond * np.inf
        return eps_uncond, eps_text

    pipe.predict_noise = poisoned
    with pytest.raises(FloatingPointError, match="step 2 .*noise prediction with the prompt"):
        pipe.text_to_image(PROMPT, num_steps=5, scheduler="ddim")
    calls[:] = [None] * 5                                          # both predictions are checked
    with pytest.raises(FloatingPointError, match="step 1 .*prediction without the prompt"):
        pipe.text_to_image(PROMPT, num_steps=5, scheduler="ddim")


def test_load_pipeline_errors(small_folder):
    from explainer.diffusion.loading import load_pipeline

    with pytest.raises(ValueError, match="unknown preset 'sd-v2'"):
        load_pipeline("sd-v2")
    with pytest.raises(ValueError, match="needs weights=DIR"):
        load_pipeline("sd-v1-5")
