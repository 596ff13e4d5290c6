"""Classifier-free guidance, pictured: the two noise predictions, their difference, the mix.

At one step the UNet predicts ε twice: without the prompt (ε_uncond) and with it (ε_text).
The two are nearly the same map; what the prompt adds is their small difference, and
guidance multiplies it by s:

    ε̃ = ε_uncond + s · (ε_text − ε_uncond)          (explainer.diffusion.guidance.apply_guidance)
"""

from __future__ import annotations

import numpy as np

from explainer.diffusion.guidance import apply_guidance
from explainer.diffusion.inputs import one_map
from explainer.viz.figure import new_figure, show_map


def _eps_pair(eps_uncond, eps_text) -> tuple[np.ndarray, np.ndarray]:
    u = one_map(eps_uncond, "eps_uncond")                                   # [h, w, C]
    t = one_map(eps_text, "eps_text")                                       # [h, w, C]
    if u.shape != t.shape:
        raise ValueError(f"eps_uncond {u.shape} and eps_text {t.shape} must have the same "
                         "shape: take both from the same step (step.eps_uncond, step.eps_text)")
    return u, t


def _channels(channel, count: int) -> list[int]:
    if channel is None:
        return list(range(count))
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) \
            or not 0 <= channel < count:
        raise ValueError(f"channel={channel!r}; use an int from 0 to {count - 1}, or None for all")
    return [int(channel)]


def guidance_parts(eps_uncond, eps_text, scale: float, channel: int | None = None,
                   rescale: float = 0.0, size: float = 1.9):
    """Panels ε_uncond, ε_text, ε_text − ε_uncond and the guided ε̃, one row per channel.

    Args:
        eps_uncond, eps_text: one image's predictions at one step, ``[h, w, C]`` or
            ``[1, h, w, C]`` (``step.eps_uncond``, ``step.eps_text``).
        scale: the guidance scale s.
        channel: one channel (one row), or None for all.
        rescale: guidance rescale φ, passed to ``apply_guidance``.

    ε_uncond and ε_text share one colour range (they look alike: that is the point); the
    difference and ε̃ each have their own, shown by their colorbars.
    """
    u, t = _eps_pair(eps_uncond, eps_text)
    guided = apply_guidance(u[None], t[None], scale, rescale)[0]            # ε̃  [h, w, C]
    diff = t - u                                                            # [h, w, C]
    rows = _channels(channel, u.shape[-1])
    fig, axes = new_figure(len(rows), 4, width=4 * size + 2.6, height=len(rows) * size + 0.6,
                           layout="constrained")
    names = ("ε_uncond", "ε_text", "ε_text − ε_uncond", f"guided ε̃ (s = {scale:g})")
    for r, c in enumerate(rows):
        shared = float(max(np.abs(u[..., c]).max(), np.abs(t[..., c]).max()))
        for k, (name, part) in enumerate(zip(names, (u, t, diff, guided))):
            values = part[..., c]                                           # [h, w]
            title = f"{name}\nch {c} · std {np.std(values):.3f}"
            show_map(fig, axes[r, k], values, title, diverging=True,
                     limit=shared if k < 2 else None)
    fig.suptitle(f"classifier-free guidance: ε̃ = ε_uncond + {scale:g}·(ε_text − ε_uncond)",
                 fontsize=10)
    return fig


def guidance_mix(eps_uncond, eps_text, scales=(1.0, 3.0, 7.5), channel: int = 0,
                 rescale: float = 0.0, size: float = 2.0):
    """The guided ε̃ at several scales side by side (one channel), on one shared colour scale.

    s = 0 is ε_uncond, s = 1 is ε_text; larger s extrapolates past ε_text, and ε̃'s spread
    (the std in each title) grows with it.
    """
    u, t = _eps_pair(eps_uncond, eps_text)
    scales = [scales] if np.isscalar(scales) else list(scales)
    if not scales:
        raise ValueError("scales is empty; give one or more guidance scales, e.g. (1, 3, 7.5)")
    if channel is None:
        raise ValueError(f"guidance_mix shows one channel; pass channel=0..{u.shape[-1] - 1} "
                         "(guidance_parts shows them all)")
    c = _channels(channel, u.shape[-1])[0]
    mixes = [apply_guidance(u[None], t[None], s, rescale)[0][..., c] for s in scales]  # [h, w]
    limit = float(max(np.abs(m).max() for m in mixes)) or 1.0
    fig, axes = new_figure(1, len(scales), width=size * len(scales) + 1.0, height=size + 0.7,
                           layout="constrained")
    for ax, s, mix in zip(axes[0], scales, mixes):
        image = show_map(fig, ax, mix, f"s = {s:g}\nstd {np.std(mix):.3f}", diverging=True,
                         limit=limit, colorbar=False)
    fig.colorbar(image, ax=list(axes[0]), fraction=0.04, pad=0.02)
    fig.suptitle(f"guided ε̃ at several scales (channel {c})", fontsize=10)
    return fig
