"""DDIM inversion: the update against diffusers' DDIMInverseScheduler, and a drawn shape taken
to x_T and back within the VAE's own round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explainer.drawn.dataset import Attributes, draw
from explainer.explore.ddim_inversion import ddim_invert, inversion_step, round_trip_error
from explainer.models.configs import SD15_SCHEDULER
from explainer.schedulers import make_scheduler


def test_inversion_step_matches_diffusers(rng):
    """The same path up as DDIMInverseScheduler (SD v1.5's schedule, ᾱ = 1 below t = 0), for
    any ε: here a fixed function of x and t stands in for the UNet."""
    from diffusers import DDIMInverseScheduler

    config = {k: v for k, v in SD15_SCHEDULER.items() if k != "skip_prk_steps"}
    theirs = DDIMInverseScheduler.from_config({**config, "clip_sample": False,
                                               "set_alpha_to_one": True})
    ours = make_scheduler("ddim", SD15_SCHEDULER)
    steps = 10
    theirs.set_timesteps(steps)
    ours.set_timesteps(steps)
    up = np.asarray(ours.timesteps)[::-1]
    assert np.array_equal(up, theirs.timesteps.numpy())              # 1, 101, ..., 901
    eps_of = lambda x, t: np.tanh(x + t / 1000.0).astype(np.float32)  # noqa: E731
    x_ours = x_theirs = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    for t in up:
        x_ours = inversion_step(x_ours, eps_of(x_ours, t), int(t), 1000 // steps, ours.alpha_bar)
        x_theirs = theirs.step(torch.from_numpy(eps_of(x_theirs, t)), int(t),
                               torch.from_numpy(x_theirs)).prev_sample.numpy()
    # float32 on both sides, 10 steps; ~1e-6 observed
    assert np.abs(x_ours - x_theirs).max() <= 1e-5
    assert np.abs(x_ours).max() > 0.1


def test_drawn_shape_goes_to_noise_and_back(tiny_pipe):
    images = np.stack([draw(Attributes("circle", "red", "large", "left"), rng=1),
                       draw(Attributes("triangle", "blue", "small", "top"), rng=2)])
    inv = ddim_invert(tiny_pipe, images, ["a large red circle", "a small blue triangle"],
                      num_steps=50, guidance_scale=2.0)
    assert inv.path.shape == (51, 2, 8, 8, 4) and np.all(np.diff(inv.timesteps) > 0)
    np.testing.assert_array_equal(inv.path[0], tiny_pipe.encode_image(images))
    # x_T is noise-like: far from z_0, its spread near the schedule's (not exactly: inversion)
    assert np.abs(inv.latents - inv.x0).mean() > 0.3
    rebuilt = inv.reconstruct(tiny_pipe).images
    error = np.abs(rebuilt.astype(np.float64) - images).mean(axis=(1, 2, 3))
    vae = round_trip_error(tiny_pipe, images)
    # the goal: within 2x the VAE's own round trip (about 1.0x measured)
    assert np.all(error <= 2 * vae), (error, vae)
    # a plain DDIM run from other noise makes another picture: the inversion is what keeps it
    other = tiny_pipe.text_to_image(inv.prompts, seed=[5, 6], scheduler="ddim", num_steps=50)
    assert np.abs(other.images.astype(np.float64) - images).mean() > 4 * error.mean()


def test_bad_inversions_are_refused(tiny_pipe):
    image = draw(Attributes("circle", "red", "large", "left"))
    with pytest.raises(ValueError, match="one prompt per image"):
        ddim_invert(tiny_pipe, np.stack([image, image]), ["a", "b", "c"])
    with pytest.raises(ValueError, match="num_steps"):
        ddim_invert(tiny_pipe, image, num_steps=0)
    assert ddim_invert(tiny_pipe, image, num_steps=2).path.shape == (3, 1, 8, 8, 4)
