"""What one run carries between its stages: the checked inputs, the encoded prompts, the
noise, the run's own scheduler, and the metadata its trace records."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explainer.diffusion.trace import Trace


@dataclass
class Run:
    """One run's inputs after checking and the cheap stages (tokenize, encode, noise)."""

    trace: Trace
    context: np.ndarray            # c     [B, 77, C]
    uncond_context: np.ndarray     # c_∅   [B, 77, C]
    noise: np.ndarray              # unit-variance x_T  [B, h, w, 4]
    seeds: list
    num_steps: int
    guidance_scale: float          # s
    scheduler: object              # this run's scheduler (the pipeline's stays as it is)


def run_metadata(pipe, mode, prompts, negatives, seeds, scheduler, num_steps, guidance,
                 rescale, h, w, strength) -> dict:
    """Everything that decides a run's numbers, for its trace (and its report)."""
    from explainer.models.backend import resolve_mode, versions

    return {"mode": mode, "preset": pipe.preset, "prompts": prompts,
            "negative_prompts": negatives, "seeds": seeds,
            "scheduler": type(scheduler).__name__, "scheduler_name": scheduler.label,
            "scheduler_config": scheduler.get_config(),
            "num_steps": num_steps, "guidance_scale": float(guidance),
            "guidance_rescale": float(rescale), "height": h, "width": w, "strength": strength,
            "weights": str(pipe.models.folder) if pipe.models.folder else None,
            "weights_shipped": bool(pipe.config.assets),
            "precision": pipe.precision.get_config(), "jit_compile": {network: resolve_mode(choice) for network, choice in
                            pipe.jit_compile.items()},                  # what ran: graph/xla/eager
            "word_maps": None if pipe.config.word_maps is None else  # AttentionMaps' default
            dict(zip(("level", "steps"), pipe.config.word_maps)),
            "versions": versions()}


def doubled_batch(latents, t, uncond_context, context):
    """The UNet's guidance batch: x_t twice, t for each, then c_∅ and c stacked."""
    x_in = np.concatenate([latents, latents]).astype(np.float32)             # [2B, h, w, 4]
    t_in = np.full((x_in.shape[0],), float(t), np.float32)                   # [2B]
    c_in = np.concatenate([uncond_context, context])                         # [2B, 77, C]
    return x_in, t_in, c_in


def check_finite(x, i, t, what: str) -> None:
    """A NaN or inf in a step's output stops the run, naming the step and the likely fixes."""
    if not np.all(np.isfinite(x)):
        raise FloatingPointError(
            f"step {i} (t={np.asarray(t).item():g}): {what} contains NaN or inf. Lower "
            "guidance_scale, check the weights folder, or try float32 if you chose a lower "
            "precision.")
