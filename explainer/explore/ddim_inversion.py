"""DDIM inversion: run the deterministic sampler backwards, from a picture to the noise x_T
that would make it again, so that picture can be edited (prompt-to-prompt from its x_T).

DDIM's step is deterministic (η = 0), so it can be run the other way (Song et al. 2021, §4.3;
Mokady et al. 2023 use it before their null-text optimisation). Going up from x_{t−Δ} to x_t,
the noise prediction at x_{t−Δ} stands in for the one at x_t (the assumption that makes
inversion approximate: ε changes little between neighbouring steps):

    ε        = ε̃_θ(x_{t−Δ}, t, c)                           (guided with scale s)
    x̂_0      = (x_{t−Δ} − √(1−ᾱ_{t−Δ}) ε) / √ᾱ_{t−Δ}          (ᾱ = 1 before the first step)
    x_t      = √ᾱ_t x̂_0 + √(1−ᾱ_t) ε

as diffusers' ``DDIMInverseScheduler`` and its inversion pipelines do. Then
``text_to_image(prompt, latents=x_T, scheduler="ddim", guidance_scale=s)`` with the same
steps goes back down, and reconstructs the picture as closely as the assumption allows: the
error is reported next to the VAE's own round trip (encode, decode), which no latent-space
method can beat. Guidance s > 1 amplifies the assumption's error (each step's ε̃ moves the
latents further), which is why null-text inversion exists; s = 1 is the default here.

| code name   | symbol      | shape                  |
|-------------|-------------|------------------------|
| ``x0``      | z_0         | [B, h, w, 4], the VAE's scaled latents of the picture |
| ``path``    | x_t, t up   | [steps + 1, B, h, w, 4], z_0 first, x_T last |
| ``latents`` | x_T         | [B, h, w, 4]           |
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Inversion:
    """A picture taken back to x_T: the path up, and how to go back down."""

    prompts: list[str]
    x0: np.ndarray                  # [B, h, w, 4]
    path: np.ndarray                # [steps + 1, B, h, w, 4]
    timesteps: np.ndarray           # [steps], ascending: the UNet's t on the way up
    num_steps: int
    guidance_scale: float

    @property
    def latents(self) -> np.ndarray:
        """x_T, to pass as ``latents=`` (with ``scheduler="ddim"`` and ``num_steps``)."""
        return self.path[-1]

    def reconstruct(self, pipe, prompts=None, **run):
        """Back down from x_T with DDIM, the same steps and guidance (``prompts``: the
        inversion's by default; a changed prompt is a plain edit, without prompt-to-prompt)."""
        prompts = self.prompts if prompts is None else prompts
        return pipe.text_to_image(prompts, latents=self.latents, scheduler="ddim",
                                  num_steps=self.num_steps, guidance_scale=self.guidance_scale,
                                  **run)


def ddim_invert(pipe, images, prompts="", num_steps: int = 50,
                guidance_scale: float = 1.0) -> Inversion:
    """Invert ``images`` (uint8 ``[B, H, W, 3]`` or one ``[H, W, 3]``; floats in [0, 1]) under
    ``prompts`` (one per image, or one for all; "" by default) with ``num_steps`` DDIM steps."""
    from explainer.diffusion.guidance import check_guidance
    from explainer.diffusion.inputs import check_steps
    from explainer.schedulers import make_scheduler

    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    prompts = [prompts] * len(images) if isinstance(prompts, str) else list(prompts)
    if len(prompts) != len(images):
        raise ValueError(f"{len(prompts)} prompts for {len(images)} images; give one prompt "
                         "per image, or one string for all")
    check_guidance(guidance_scale, 0.0)
    scheduler = make_scheduler("ddim", pipe.config.scheduler)
    num_steps = check_steps(num_steps, scheduler.config.num_train_timesteps)
    x = pipe.encode_image(images)                                          # z_0 [B, h, w, 4]
    context = pipe.encode_text(prompts)                                    # [B, 77, C]
    uncond = pipe.encode_text([""] * len(prompts))
    scheduler.set_timesteps(num_steps)
    up = np.asarray(scheduler.timesteps)[::-1]                             # ascending
    delta = scheduler.config.num_train_timesteps // num_steps
    alpha_bar = scheduler.alpha_bar
    path = [x]
    for t in up:
        eps_uncond, eps_text = pipe.predict_noise(x, int(t), uncond, context)
        eps = pipe.guide(eps_uncond, eps_text, guidance_scale)             # ε̃ [B, h, w, 4]
        x = inversion_step(x, eps, int(t), delta, alpha_bar)               # x_t
        path.append(x)
    return Inversion(prompts, path[0], np.stack(path), up.copy(), num_steps,
                     float(guidance_scale))


def inversion_step(x, eps, t: int, delta: int, alpha_bar) -> np.ndarray:
    """x_{t−Δ} -> x_t with the noise prediction ``eps`` (the module's update; ᾱ = 1 below
    t = 0, as diffusers' ``DDIMInverseScheduler`` with ``set_alpha_to_one=True``)."""
    t_from = t - delta
    a_from = np.float32(1.0) if t_from < 0 else alpha_bar[t_from]           # ᾱ_{t−Δ}
    a_to = alpha_bar[t]                                                    # ᾱ_t
    pred_x0 = (x - np.sqrt(1 - a_from) * eps) / np.sqrt(a_from)            # x̂_0
    return (np.sqrt(a_to) * pred_x0 + np.sqrt(1 - a_to) * eps).astype(np.float32)


def round_trip_error(pipe, images) -> np.ndarray:
    """The VAE's own error on ``images``: |decode(encode(x)) − x|, mean per image, in 0..255."""
    images = np.asarray(images)
    back = pipe.decode(pipe.encode_image(images))
    return np.abs(back.astype(np.float64) - images).mean(axis=(1, 2, 3))
