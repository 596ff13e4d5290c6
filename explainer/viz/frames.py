"""Frames: a trace's per-step latents turned into RGB pictures, shared by the filmstrip, the
animation export and the step player.

A ``decode`` is any callable ``latents [B, h, w, 4] -> uint8 [B, H, W, 3]``: ``pipe.decode``
(exact, the VAE), a ``LatentPreview`` (a fast linear approximation), or
``channels_as_rgb`` (no model at all: channels 0-2 shown as colours). A Pipeline itself is
accepted too and means its ``decode``.

σ-space schedulers (Euler, LMS) carry x_t at variance σ_t² + 1, not 1; their x_t is shown as
the UNet sees it, x_t/√(σ_t² + 1), so every scheduler's filmstrip is on the same footing.
"""

from __future__ import annotations

import numpy as np

from explainer.diffusion.trace import STEP_TENSORS
from explainer.diffusion.inputs import as_images

LABELS = {  # row name -> paper symbol (figures) and a plain-ASCII label (frames in a GIF)
    "latents_in": ("x_t", "x_t"),
    "pred_x0": ("x̂_0", "pred x0"),
    "latents_out": ("x_{t-1}", "x_t-1"),
    "eps": ("ε̃", "eps"),
    "eps_uncond": ("ε_uncond", "eps uncond"),
    "eps_text": ("ε_text", "eps text"),
}
SIGMA_SPACE = ("EulerScheduler", "EulerAncestralScheduler", "LMSScheduler")


def as_decoder(decode):
    """A callable ``latents -> uint8 images``: ``decode`` itself, a Pipeline's ``.decode``, or
    ``channels_as_rgb`` for None."""
    if decode is None:
        return channels_as_rgb
    if not callable(decode) and callable(getattr(decode, "decode", None)):
        return decode.decode
    if not callable(decode):
        raise TypeError(f"decode must be a callable latents -> images (pipe.decode, a "
                        f"LatentPreview) or a Pipeline, got {type(decode).__name__}")
    return decode


def channels_as_rgb(latents, limit: float = 3.0) -> np.ndarray:
    """No decoder at hand: latent channels 0, 1, 2 as R, G, B, mapped from [−limit, limit]
    to [0, 255]. Not the picture, but it shows where the structure is. ``[B, h, w, 3]`` uint8."""
    z = np.asarray(latents, np.float32)
    if z.ndim != 4 or z.shape[-1] < 3:
        raise ValueError(f"latents of shape {z.shape}; expected [B, h, w, C] with C >= 3")
    rgb = (z[..., :3] / limit + 1.0) / 2.0                                  # [B, h, w, 3]
    return np.round(np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)


def check_rows(rows) -> tuple[str, ...]:
    rows = (rows,) if isinstance(rows, str) else tuple(rows)
    unknown = [r for r in rows if r not in STEP_TENSORS]
    if unknown or not rows:
        raise ValueError(f"rows={rows!r}: each row must be a per-step tensor name, one of "
                         f"{list(STEP_TENSORS)} (e.g. rows=('latents_in', 'pred_x0'))")
    return rows


def check_trace(trace, image: int = 0) -> int:
    """Raise if ``trace`` is not a Trace with steps; return ``image`` checked against its batch."""
    if not hasattr(trace, "steps") or not hasattr(trace, "stack"):
        raise TypeError(f"expected a Trace (result.trace or Trace.load(path)), got "
                        f"{type(trace).__name__}")
    if not trace.steps:
        raise ValueError("the trace has no steps; run pipe.text_to_image(...) and pass "
                         "result.trace")
    batch = _batch_size(trace)
    if isinstance(image, bool) or not isinstance(image, (int, np.integer)) \
            or not 0 <= image < batch:
        raise ValueError(f"image={image!r}, but the trace holds {batch} image(s): use 0.."
                         f"{batch - 1}")
    return int(image)


def step_indices(n_steps: int, every: int | None = None, limit: int = 8) -> list[int]:
    """Which steps to show: every ``every``-th (default: so that at most ``limit`` are shown),
    always ending with the last step."""
    if every is None:
        every = max(1, int(np.ceil(n_steps / limit)))
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every={every!r} must be a positive int (1 shows every step)")
    picked = list(range(0, n_steps, int(every)))
    if picked[-1] != n_steps - 1:
        picked.append(n_steps - 1)
    return picked


def step_latents(trace, i: int, name: str, image: int = 0) -> np.ndarray:
    """One step's tensor for one image, ``[1, h, w, 4]``, rescaled to unit variance for
    σ-space schedulers' x_t (see the module docstring)."""
    z = np.asarray(trace[f"steps.{i}.{name}"])[image : image + 1]           # [1, h, w, 4]
    if trace.metadata.get("scheduler") in SIGMA_SPACE and name in ("latents_in", "latents_out"):
        coefficients = trace.steps[i].coefficients
        sigma = coefficients.get("sigma_t" if name == "latents_in" else "sigma_next")
        if sigma is not None:
            z = z / np.sqrt(sigma * sigma + 1.0)                            # x_t / √(σ²+1)
    return z


def decoded_rows(trace, decode, rows, steps, image: int = 0) -> dict[str, np.ndarray]:
    """``{row: uint8 [len(steps), H, W, 3]}``: each row's latents at ``steps``, decoded in one
    call per row."""
    decoder = as_decoder(decode)
    out = {}
    for row in check_rows(rows):
        z = np.concatenate([step_latents(trace, i, row, image) for i in steps])  # [k, h, w, 4]
        out[row] = as_images(decoder(z), f"decode's output for {row}")      # [k, H, W, 3]
    return out


def _batch_size(trace) -> int:
    for step in trace.steps:
        for value in step.tensors().values():
            return int(value.shape[0])
    if trace.initial_noise is not None:
        return int(np.shape(trace.initial_noise)[0])
    return len(trace.tokens) or 1
