"""The attention hook in a run: one UNet call through a hook, and the atlas's plan.

``Pipeline`` inherits these (``AttentionRun``); they are the pipeline's stages that involve
an ``AttentionHook`` (models/attention_hook.py) or an ``AttentionCapture``
(attention_capture.py): the atlas recorder and a caller's hook such as prompt-to-prompt.

In ``denoise``, a caller's ``attention_hook`` sees every UNet attention layer at every step
(before the atlas recorder, so the atlas holds the attention the network used); if it has
``inputs(i, n)``, that gives step i of n's arrays; if it has ``after_step(i, n, latents,
tape)``, that may change x_{t-1} after the scheduler's step (prompt-to-prompt's local blending).
"""

from __future__ import annotations

import numpy as np

from explainer.diffusion.inputs import check_size, check_steps
from explainer.diffusion.run import doubled_batch


class AttentionRun:
    """The hooked stages of ``Pipeline`` (a mixin: it uses the pipeline's networks)."""

    def predict_noise_and_attention(self, latents, t, uncond_context, context):
        """As ``predict_noise``, plus the prompt's cross-attention maps (attention_maps.py):
        ``(eps_uncond, eps_text, total [B, 77, h, w], {"RxR": [B, 77, h, w], ...})``."""
        inputs = doubled_batch(latents, t, uncond_context, context)
        eps, maps = self.unet.graph("call_with_attention", self.jit_compile["unet"])(*inputs)
        eps_uncond, eps_text = np.split(np.asarray(eps), 2)                  # [B, h, w, 4] each
        b, h, w = latents.shape[:3]
        levels = {f"{-(-h // 2 ** k)}x{-(-w // 2 ** k)}":                    # the level's own grid
                  np.asarray(m)[b:].transpose(0, 3, 1, 2)                    # prompt half [B, 77, h, w]
                  for k, m in zip(self.unet.attention_resolutions, maps)}
        return eps_uncond, eps_text, sum(levels.values()), levels

    def _atlas_recorder(self, capture_attention, num_steps: int):
        """(the steps an atlas records, its recorder hook); (empty, None) without an atlas."""
        if isinstance(capture_attention, bool):
            return set(), None
        from explainer.diffusion.attention_capture import CaptureHook

        return (set(capture_attention.step_indices(num_steps)),
                CaptureHook(capture_attention, self.unet.config))

    def predict_noise_with_hook(self, latents, t, uncond_context, context, hook,
                                hook_inputs=None):
        """As ``predict_noise``, with every UNet attention layer's A passed through ``hook``
        (an ``AttentionHook``, models/attention_hook.py): ``(eps_uncond, eps_text, tape)``,
        the tape holding what the hook recorded. The guidance batch is [c_∅ rows; c rows]."""
        inputs = doubled_batch(latents, t, uncond_context, context)
        call = self.unet.graph("call_with_hook", self.jit_compile["unet"], hook=hook)
        eps, tape = call(*inputs, hook_inputs or {})
        eps_uncond, eps_text = np.split(np.asarray(eps), 2)                  # [B, h, w, 4] each
        return eps_uncond, eps_text, tape

    def _hooked_step(self, x_in, t, uncond_context, context, hooks, i, n, capture):
        """One UNet call through ``hooks`` (a caller's hook and/or the atlas recorder):
        eps for both halves, this step's atlas (None if ``capture`` is None) and the tape."""
        from explainer.diffusion.attention_capture import atlas_from_tape
        from explainer.models.attention_hook import HookChain

        hook = hooks[0] if len(hooks) == 1 else HookChain(*hooks)
        per_hook = [h.inputs(i, n) if hasattr(h, "inputs") else {} for h in hooks]
        inputs = per_hook[0] if len(hooks) == 1 else hook.chain_inputs(per_hook)
        eps_uncond, eps_text, tape = self.predict_noise_with_hook(x_in, t, uncond_context,
                                                                  context, hook, inputs)
        atlas = None if capture is None else atlas_from_tape(
            tape, capture, x_in.shape[0], x_in.shape[1:3], self.unet.config)
        return eps_uncond, eps_text, atlas, tape

    def describe_capture(self, capture, num_steps: int | None = None, height=None, width=None,
                         batch: int = 1, scheduler=None) -> str:
        """What an ``AttentionCapture`` of a text-to-image run would record and its size, read
        before the run (the scheduler's UNet calls counted: PNDM makes num_steps + 1)."""
        h, w = check_size(height, width, self.size_multiple, self.default_size)
        chosen = self._run_scheduler(scheduler)
        num_steps = check_steps(self.config.default_steps if num_steps is None else num_steps,
                                chosen.config.num_train_timesteps)
        chosen.set_timesteps(num_steps)
        return capture.describe(self.unet.config, h, w, len(chosen.timesteps), batch,
                                self.latent_factor)

    def _atlas_plan(self, capture, h, w, scheduler, num_steps, batch, strength) -> dict:
        """What an atlas will hold and its bytes, refused (MemoryError) if it cannot fit."""
        from explainer.schedulers.timesteps import strength_start

        scheduler.set_timesteps(num_steps)  # the UNet calls: PNDM makes num_steps + 1
        run_steps = len(scheduler.timesteps) - (
            0 if strength is None else strength_start(num_steps, strength))
        nbytes = capture.nbytes(self.unet.config, h, w, run_steps, batch, self.latent_factor)
        capture.check_fits(nbytes)
        return {"layers": [s.name for s in capture.sites(self.unet.config)],
                "steps": capture.step_indices(run_steps), "tokens": capture.token_positions(),
                "heads": capture.heads, "branches": list(capture.branches), "nbytes": nbytes}
