"""The denoising loop, written out: text-to-image, image-to-image and inpainting.

Every arrow of the pipeline is a public method a learner can call from a notebook cell:

    prompt ─tokenize─▶ Tokens ─encode_text─▶ context c            [B, 77, C]
    seed ─initial_noise─▶ x_T                                      [B, h, w, 4]
    for t in scheduler.timesteps:
        ─predict_noise─▶ ε_θ(x_t, c_∅), ε_θ(x_t, c)   (one UNet call, batch 2B)
        ─guide─────────▶ ε̃
        ─step──────────▶ x_{t-1}, x̂_0
    x_0 ─decode─▶ image                                            [B, H, W, 3] uint8

Each network call is compiled for the Keras backend in use and returns numpy; the loop is
plain Python over numpy arrays, and every step is recorded in a ``Trace``. The attention
hook's stages (an atlas, prompt-to-prompt) are in attention_run.py.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np

from explainer.diffusion.guidance import apply_guidance, check_guidance
from explainer.diffusion.inputs import (
    check_batch,
    check_capture,
    check_context,
    check_image,
    check_latents,
    check_mask,
    check_seeds,
    check_size,
    check_steps,
    check_strength,
)
from explainer.diffusion.attention_run import AttentionRun
from explainer.diffusion.run import Run, check_finite, doubled_batch, run_metadata
from explainer.diffusion.trace import Trace


@dataclass
class Result:
    """What a run returns: the pictures and everything computed on the way."""

    images: np.ndarray  # [B, H, W, 3] uint8
    trace: Trace


class Pipeline(AttentionRun):
    """Stable Diffusion as stages. Build it with ``explainer.load_pipeline``.

    ``config`` is the one resolved ``PipelineConfig`` the loader built (the preset's defaults
    and the folder's scheduler config); the pipeline reads nothing else. ``scheduler`` is the
    learner's: set it to change what ``step`` does and what runs use by default. A run given
    ``scheduler=`` uses that one for itself only (the trace records it).
    """

    def __init__(self, models, config=None, jit_compile: bool | dict | None = None, dtype="float32"):
        from explainer.models.configs import PipelineConfig
        from explainer.models.precision import compile_choice
        from explainer.schedulers import make_scheduler

        config = models.config if config is None else config
        if not isinstance(config, PipelineConfig):
            raise TypeError(f"config must be a PipelineConfig (explainer.PRESETS[...] or "
                            f"models.config), got {type(config).__name__}; load_pipeline builds it")
        self.models, self.config = models, config
        self.tokenizer, self.text_encoder = models.tokenizer, models.text_encoder
        self.unet, self.vae = models.unet, models.vae
        self.jit_compile = compile_choice(jit_compile)
        self.set_precision(dtype)
        self.scheduler = make_scheduler(config.scheduler.get("_class_name", "pndm"),
                                        config.scheduler)

    @property
    def preset(self) -> str | None:
        """The preset's name ("sd-v1-5", "tiny-shapes"), None for a folder loaded on its own."""
        return self.config.name

    @property
    def scheduler_config(self) -> dict:
        """The model's scheduler_config.json (a copy): ``make_scheduler(name, it)`` builds any
        method on this model's noise schedule."""
        return dict(self.config.scheduler)

    def set_precision(self, dtype="float32") -> None:
        """Compute the UNet in ``dtype`` ("float32", "bfloat16", "float16"; the text encoder and
        VAE stay float32), or pass a ``Precision`` to choose per network. See precision.py.
        A network loaded with ``low_memory=True`` keeps its stored type (asking otherwise
        raises, and nothing changes)."""
        from explainer.models.precision import NETWORKS, Precision, weight_dtype

        precision = Precision.for_pipeline(dtype)
        precision.apply(self.models)  # checks the stored types first
        stored = any(weight_dtype(getattr(self.models, n)) != "float32" for n in NETWORKS)
        self.precision = replace(precision, low_memory=stored)

    @property
    def latent_factor(self) -> int:
        """Image pixels per latent pixel (8 for SD v1.5)."""
        return self.vae.config.downscale

    @property
    def size_multiple(self) -> int:
        """Height and width must be multiples of this (64 for SD v1.5)."""
        return self.latent_factor * self.unet.config.downscale

    @property
    def default_size(self) -> int:
        """The UNet's sample size x the VAE factor, as diffusers (512 for SD v1.5)."""
        return self.unet.config.sample_size * self.latent_factor

    @property
    def default_guidance(self) -> float:
        """The guidance scale a run uses when none is given: the preset's (tiny-shapes: 2.0,
        measured best), else diffusers' 7.5."""
        return self.config.default_guidance

    # -- the stages ----------------------------------------------------------------------------

    def tokenize(self, prompts):
        """Prompt(s) -> list of ``Tokens`` (77 ids each)."""
        return self.tokenizer(prompts if isinstance(prompts, (list, tuple)) else [prompts])

    def encode_text(self, prompts) -> np.ndarray:
        """Prompt(s) or Tokens -> context ``[B, 77, C]``, the text encoder's last hidden state."""
        tokens = prompts if prompts and hasattr(prompts[0], "ids") else self.tokenize(prompts)
        ids = np.stack([t.array() for t in tokens])                          # [B, 77]
        encode = self.text_encoder.graph(jit_compile=self.jit_compile["text_encoder"])
        return np.asarray(encode(ids), np.float32)                           # [B, 77, C]

    def initial_noise(self, seed, batch: int | None = None, height: int | None = None,
                      width: int | None = None) -> np.ndarray:
        """Unit-variance x_T ``[B, h, w, 4]``, one numpy Generator per image.

        ``seed`` is an int (then images use seed, seed+1, ... for ``batch`` > 1) or a list. The
        same seed gives the same noise on every machine; image k of seeds [a, b] equals a
        single run with seed b.
        """
        seeds = check_seeds(seed, batch or 1)
        h, w = check_size(height, width, self.size_multiple, self.default_size)
        shape = (h // self.latent_factor, w // self.latent_factor, self.unet.config.in_channels)
        return np.stack([np.random.default_rng(s).standard_normal(shape, dtype=np.float32)
                         for s in seeds])

    def step_noise(self, seeds, index: int, shape) -> np.ndarray:
        """Fresh noise for stochastic schedulers at step ``index``: a pure function of
        (seed, index), so stage-by-stage runs and batches reproduce it exactly."""
        return np.stack([np.random.default_rng([s, index + 1]).standard_normal(
            shape[1:], dtype=np.float32) for s in seeds])

    def predict_noise(self, latents, t, uncond_context, context):
        """(ε_θ(x_t, c_∅), ε_θ(x_t, c)) from ONE UNet call on the batch doubled to 2B."""
        inputs = doubled_batch(latents, t, uncond_context, context)
        eps = np.asarray(self.unet.graph(jit_compile=self.jit_compile["unet"])(*inputs))
        eps_uncond, eps_text = np.split(eps, 2)                              # [B, h, w, 4] each
        return eps_uncond, eps_text

    def guide(self, eps_uncond, eps_text, scale: float, rescale: float = 0.0) -> np.ndarray:
        """ε̃ = ε_uncond + s·(ε_text − ε_uncond) (see guidance.py)."""
        return apply_guidance(eps_uncond, eps_text, scale, rescale)

    def step(self, eps, t, latents, noise=None):
        """One step of the pipeline's scheduler: x_t -> x_{t-1}, with x̂_0 and the
        coefficients used."""
        return self.scheduler.step(eps, t, latents, noise=noise)

    def decode(self, latents) -> np.ndarray:
        """Scaled latents ``[B, h, w, 4]`` -> uint8 images ``[B, H, W, 3]``."""
        decode = self.vae.graph("decode", self.jit_compile["vae"])
        images = np.asarray(decode(np.asarray(latents, np.float32)), np.float32)
        return np.round(np.clip(images / 2 + 0.5, 0.0, 1.0) * 255).astype(np.uint8)

    def encode_image(self, images) -> np.ndarray:
        """Images (uint8, or floats in [0, 1]) -> scaled latent means ``[B, H/8, W/8, 4]``.

        diffusers samples z ~ q(z|x); this uses the mean μ, so the same image always gives the
        same latents (the VAE's σ is tiny, so the difference is invisible).
        """
        return self._encode_pixels(check_image(images))

    def _encode_pixels(self, pixels) -> np.ndarray:
        """Checked pixels in [-1, 1] ``[B, H, W, 3]`` -> scaled latent means."""
        return np.asarray(self.vae.graph("encode", self.jit_compile["vae"])(pixels), np.float32)

    # -- the loop ------------------------------------------------------------------------------

    def denoise(self, latents, timesteps, context, uncond_context, guidance_scale, trace,
                seeds, guidance_rescale=0.0, blend=None, progress=False,
                capture_attention=False, scheduler=None, attention_hook=None) -> np.ndarray:
        """The loop every run shares: from x_t at ``timesteps[0]`` down to x_0, with
        ``scheduler`` (the pipeline's own when None).

        ``blend(i, latents) -> latents`` (inpainting) puts the known region back after a step.
        ``capture_attention``: True (maps per level) or an ``AttentionCapture`` (an atlas).
        ``attention_hook``: sees every UNet attention layer (attention_run.py says the rest).
        """
        scheduler = self.scheduler if scheduler is None else scheduler
        atlas_steps, recorder = self._atlas_recorder(capture_attention, len(timesteps))
        steps = timesteps
        if progress:
            from tqdm.auto import tqdm

            steps = tqdm(timesteps, desc="denoising")
        for i, t in enumerate(steps):
            x_in = scheduler.scale_model_input(latents, t)                     # x_t / √(σ²+1)
            attention = atlas = tape = None
            hooks = [h for h in (attention_hook, recorder if i in atlas_steps else None)
                     if h is not None]  # the caller's first: the atlas records what was used
            if hooks:
                eps_uncond, eps_text, atlas, tape = self._hooked_step(
                    x_in, t, uncond_context, context, hooks, i, len(timesteps),
                    capture_attention if i in atlas_steps else None)
            elif capture_attention is True:
                eps_uncond, eps_text, *attention = self.predict_noise_and_attention(
                    x_in, t, uncond_context, context)
            else:
                eps_uncond, eps_text = self.predict_noise(x_in, t, uncond_context, context)
            check_finite(eps_text, i, t, "the UNet's noise prediction with the prompt")
            check_finite(eps_uncond, i, t, "the UNet's noise prediction without the prompt")
            eps = self.guide(eps_uncond, eps_text, guidance_scale, guidance_rescale)
            noise = self.step_noise(seeds, i, latents.shape) if scheduler.stochastic else None
            out = scheduler.step(eps, t, latents, noise=noise)                 # x_{t-1}, x̂_0
            check_finite(out.prev_sample, i, t, "the scheduler step")
            trace.record(i, t, latents, eps_uncond, eps_text, eps, out, attention, atlas)
            latents = out.prev_sample if blend is None else blend(i, out.prev_sample)
            if hasattr(attention_hook, "after_step"):
                latents = attention_hook.after_step(i, len(timesteps), latents, tape)
        return latents

    def text_to_image(self, prompt, negative_prompt=None, seed=0, num_steps: int | None = None,
                      guidance_scale: float | None = None, guidance_rescale: float = 0.0,
                      scheduler=None, height=None, width=None, latents=None, keep=None,
                      progress: bool = False, capture_attention=False,
                      context=None, attention_hook=None) -> Result:
        """Prompt(s) -> images, with the Trace of every step.

        Defaults as diffusers' (50 steps, guidance 7.5, the folder's scheduler, the UNet's
        sample size), or the preset's own (tiny-shapes: 25 steps, guidance 2).
        ``scheduler``: a name ("euler", "dpm++2m-karras") or a scheduler, for this run only.
        ``capture_attention=True`` also records every step's cross-attention maps
        (attention_maps.py); an ``AttentionCapture``, an atlas (attention_capture.py).
        ``attention_hook``: an ``AttentionHook`` that reads or changes the UNet's attention
        (models/attention_hook.py; prompt-to-prompt is one).
        ``context``: a context ``[B, 77, C]`` to condition on instead of the encoded prompt
        (a mix of two prompts' contexts, an edited one); ``prompt`` then only labels the run.
        """
        run = self._prepare(prompt, negative_prompt, seed, num_steps, guidance_scale,
                            guidance_rescale, scheduler, height, width, latents, keep,
                            mode="text-to-image", capture_attention=capture_attention,
                            context=context)
        scheduler = run.scheduler
        scheduler.set_timesteps(run.num_steps)
        x_t = run.noise * scheduler.init_noise_sigma                           # x_T, scaled
        x_0 = self.denoise(x_t, scheduler.timesteps, run.context, run.uncond_context,
                           run.guidance_scale, run.trace, run.seeds, guidance_rescale,
                           progress=progress, capture_attention=capture_attention,
                           scheduler=scheduler, attention_hook=attention_hook)
        return self._finish(run.trace, x_0)

    def image_to_image(self, image, prompt, strength: float = 0.8, negative_prompt=None,
                       seed=0, num_steps: int | None = None, guidance_scale: float | None = None,
                       guidance_rescale: float = 0.0, scheduler=None, keep=None,
                       progress: bool = False, capture_attention: bool = False) -> Result:
        """Start from a noised version of ``image`` instead of pure noise (SDEdit).

        ``strength`` in (0, 1] is how far back into the noise the image is pushed: the run
        does the last ``int(num_steps · strength)`` of ``num_steps`` steps.
        """
        return self._from_image(image, None, prompt, strength, "image-to-image", negative_prompt,
                                seed, num_steps, guidance_scale, guidance_rescale, scheduler,
                                keep, progress, capture_attention)

    def inpaint(self, image, mask, prompt, strength: float = 1.0, negative_prompt=None, seed=0,
                num_steps: int | None = None, guidance_scale: float | None = None,
                guidance_rescale: float = 0.0, scheduler=None, keep=None,
                progress: bool = False, capture_attention: bool = False,
                paste_back: bool = True) -> Result:
        """Repaint where ``mask`` is white/1; the rest is blended back in at every step, so
        ordinary (4-channel) SD v1.5 weights inpaint, as diffusers does for them.

        The blend works on latents, so the kept region comes back through the VAE (its round
        trip's error, and the repainted region's colours bleed a little across the 8-pixel
        latent cells). ``paste_back=True`` then puts the input's own pixels back outside the
        mask, as diffusers' ``VaeImageProcessor.apply_overlay`` does: the kept pixels are the
        input's exactly. The decoded result before pasting is ``pipe.decode(trace.final_latents)``.
        """
        result = self._from_image(image, mask, prompt, strength, "inpaint", negative_prompt,
                                  seed, num_steps, guidance_scale, guidance_rescale, scheduler,
                                  keep, progress, capture_attention)
        if not paste_back:
            return result
        original = np.round((check_image(image) + 1.0) * 127.5).astype(np.uint8)  # [B, H, W, 3]
        repaint = check_mask(mask, original.shape) > 0                          # [B, H, W, 1]
        images = np.where(repaint, result.images, original)
        result.trace.images = images
        result.trace.metadata["paste_back"] = True
        return Result(images, result.trace)

    # -- helpers -------------------------------------------------------------------------------

    def _from_image(self, image, mask, prompt, strength, mode, negative_prompt, seed, num_steps,
                    guidance_scale, guidance_rescale, scheduler, keep, progress,
                    capture_attention) -> Result:
        """What image-to-image and inpainting share: x_t from the noised image, then the loop
        (inpainting blends the kept region back after every step)."""
        strength = check_strength(strength)
        pixels = check_image(image)
        h, w = check_size(pixels.shape[1], pixels.shape[2], self.size_multiple, self.default_size)
        repaint = check_mask(mask, pixels.shape) if mask is not None else None
        run = self._prepare(prompt, negative_prompt, seed, num_steps, guidance_scale,
                            guidance_rescale, scheduler, h, w, None, keep, mode=mode,
                            batch=pixels.shape[0], strength=strength,
                            capture_attention=capture_attention)
        scheduler = run.scheduler
        scheduler.set_timesteps(run.num_steps)
        from explainer.schedulers.timesteps import strength_start

        start = strength_start(run.num_steps, strength)
        timesteps = scheduler.timesteps[start:]
        if len(timesteps) == 0:
            raise ValueError(f"strength={strength} with num_steps={run.num_steps} runs no step; "
                             "raise strength or num_steps")
        scheduler.set_begin_index(start)
        x0_known = self._encode_pixels(pixels)                                  # [B, h, w, 4]
        run.trace.metadata["start_step"] = start
        if strength == 1.0 and mask is not None:
            x_t = run.noise * scheduler.init_noise_sigma
        else:
            x_t = scheduler.add_noise(x0_known, run.noise, timesteps[:1])
        blend = None
        if repaint is not None:
            m = repaint[:, :: self.latent_factor, :: self.latent_factor]      # [B, h, w, 1]

            def blend(i, x):  # known region <- the input image noised to the next timestep
                known = x0_known if i + 1 >= len(timesteps) else \
                    scheduler.add_noise(x0_known, run.noise, timesteps[i + 1: i + 2])
                return m * x + (1.0 - m) * known

        x_0 = self.denoise(x_t, timesteps, run.context, run.uncond_context, run.guidance_scale,
                           run.trace, run.seeds, guidance_rescale, blend, progress,
                           capture_attention, scheduler=scheduler)
        return self._finish(run.trace, x_0)

    def _run_scheduler(self, scheduler):
        """This run's scheduler: a copy of the pipeline's (None), one built by name on this
        model's schedule, or the scheduler object given (used as it is)."""
        from explainer.schedulers import make_scheduler

        if scheduler is None:
            return copy.deepcopy(self.scheduler)
        if hasattr(scheduler, "step") and hasattr(scheduler, "set_timesteps"):
            return scheduler
        return make_scheduler(scheduler, self.config.scheduler)

    def _prepare(self, prompt, negative_prompt, seed, num_steps, guidance_scale,
                 guidance_rescale, scheduler, height, width, latents, keep, mode, batch=None,
                 strength=None, capture_attention=False, context=None):
        """Check every input, then tokenize, encode and draw the noise (the cheap stages)."""
        num_steps = self.config.default_steps if num_steps is None else num_steps
        guidance_scale = self.config.default_guidance if guidance_scale is None else guidance_scale
        check_guidance(guidance_scale, guidance_rescale)
        check_capture(capture_attention, keep)
        h, w = check_size(height, width, self.size_multiple, self.default_size)
        chosen = self._run_scheduler(scheduler)
        num_steps = check_steps(num_steps, chosen.config.num_train_timesteps)
        shape = (h // self.latent_factor, w // self.latent_factor, self.unet.config.in_channels)
        noise = None if latents is None else check_latents(latents, shape)
        if context is not None:
            context = check_context(context, self.text_encoder.config.width)
        n = noise.shape[0] if noise is not None else batch
        if context is not None and n not in (None, len(context)):
            raise ValueError(f"context has {len(context)} rows but the batch is {n}; give one "
                             "context row per image")
        rows = "latents" if noise is not None or context is None else "context rows"
        n = len(context) if context is not None else n
        prompts, negatives, seeds = check_batch(prompt, negative_prompt, seed, n, rows)
        trace = Trace(keep=keep, metadata=run_metadata(
            self, mode, prompts, negatives, seeds, chosen, num_steps, guidance_scale,
            guidance_rescale, h, w, strength))
        if not isinstance(capture_attention, bool):  # an atlas: its size, checked before any step
            trace.metadata["atlas"] = self._atlas_plan(capture_attention, h, w, chosen,
                                                       num_steps, len(prompts), strength)
            trace.metadata["atlas"]["negative_tokens"] = [  # what the c_∅ branch's rows read
                {"pieces": list(t.pieces[: t.n_real]), "n_real": t.n_real}
                for t in self.tokenize(negatives)]
        trace.tokens = self.tokenize(prompts)
        trace.context = self.encode_text(trace.tokens) if context is None else context  # [B, 77, C]
        trace.uncond_context = self.encode_text(negatives)                      # [B, 77, C]
        trace.initial_noise = noise if noise is not None else \
            self.initial_noise(seeds, height=h, width=w)                        # [B, h, w, 4]
        return Run(trace, trace.context, trace.uncond_context, trace.initial_noise, seeds,
                   num_steps, guidance_scale, chosen)

    def _finish(self, trace: Trace, latents) -> Result:
        trace.final_latents = np.asarray(latents, np.float32)
        trace.images = self.decode(latents)
        return Result(trace.images, trace.materialize())
