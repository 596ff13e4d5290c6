"""Steps as pictures: a filmstrip of a whole run, and one step in detail (the step player's
picture).

Columns are steps; rows are per-step tensors decoded to RGB, by default x_t (what the step
started from, mostly noise early on) over x̂_0 (the clean picture the model predicts at that
step, recognisable long before x_t is).
"""

from __future__ import annotations

import numpy as np

from explainer.viz.frames import (LABELS, as_decoder, check_rows, check_trace, decoded_rows,
                                  step_indices, step_latents)
from explainer.viz.figure import new_figure, show_map


def step_title(trace, i: int) -> str:
    """``"step i · t=…"`` (fractional timesteps of σ-space schedulers keep one decimal)."""
    t = float(trace.steps[i].timestep)
    return f"step {i} · t={t:g}" if t == int(t) else f"step {i} · t={t:.1f}"


def filmstrip(trace, decode, every: int | None = None, rows=("latents_in", "pred_x0"),
              image: int = 0, size: float = 1.4):
    """A grid of decoded latents: one column per shown step, one row per tensor name.

    Args:
        trace: a Trace (``result.trace``) whose ``rows`` were kept.
        decode: ``latents [B, h, w, 4] -> uint8 [B, H, W, 3]``: ``pipe.decode`` (exact), a
            ``LatentPreview`` (fast), a Pipeline, or None (channels 0-2 as colours).
        every: show every ``every``-th step (default: at most 8 columns); the last step is
            always shown.
        rows: per-step tensor names, top to bottom.
        image: which image of the trace's batch.
    """
    image = check_trace(trace, image)
    rows = check_rows(rows)
    steps = step_indices(len(trace.steps), every)
    pictures = decoded_rows(trace, decode, rows, steps, image)              # row -> [k, H, W, 3]
    fig, axes = new_figure(len(rows), len(steps), width=size * len(steps) + 0.5,
                           height=size * len(rows) + 0.5)
    for r, row in enumerate(rows):
        for c, i in enumerate(steps):
            ax = axes[r, c]
            ax.imshow(pictures[row][c], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(step_title(trace, i), fontsize=7)
        axes[r, 0].set_ylabel(LABELS[row][0], fontsize=10)
    fig.tight_layout()
    return fig


def render_step(trace, i: int, decode, image: int = 0, channel: int = 0, size: float = 1.8):
    """One step in detail: x_t and x̂_0 decoded, and channel ``channel`` of ε_uncond, ε_text
    and the guided ε̃ on one shared colour scale. Tensors the trace did not keep are shown
    as "not kept". This is the step player's callback; call it directly in a notebook.
    """
    image = check_trace(trace, image)
    n = len(trace.steps)
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not -n <= i < n:
        raise ValueError(f"step {i!r} is outside the trace's {n} steps (0..{n - 1})")
    i = int(i) % n
    step = trace.steps[i]
    channels = next((np.shape(v)[-1] for v in step.tensors().values()), 4)
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) \
            or not 0 <= channel < channels:
        raise ValueError(f"channel={channel!r}; use an int from 0 to {channels - 1}")
    decoder = as_decoder(decode)
    fig, axes = new_figure(1, 5, width=5 * size + 0.8, height=size + 0.8, layout="constrained")
    for ax, name in zip(axes[0, :2], ("latents_in", "pred_x0")):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(LABELS[name][0], fontsize=9)
        if getattr(step, name) is None:
            ax.text(0.5, 0.5, "not kept", ha="center", va="center", transform=ax.transAxes)
            continue
        ax.imshow(np.asarray(decoder(step_latents(trace, i, name, image)))[0],
                  interpolation="nearest")
    maps = {name: np.asarray(getattr(step, name))[image][..., channel]
            for name in ("eps_uncond", "eps_text", "eps") if getattr(step, name) is not None}
    limit = max((float(np.abs(m).max()) for m in maps.values()), default=1.0) or 1.0
    for ax, name in zip(axes[0, 2:], ("eps_uncond", "eps_text", "eps")):
        if name not in maps:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(LABELS[name][0], fontsize=9)
            ax.text(0.5, 0.5, "not kept", ha="center", va="center", transform=ax.transAxes)
            continue
        show_map(fig, ax, maps[name], f"{LABELS[name][0]} (ch {channel})", diverging=True,
                 limit=limit, colorbar=name == "eps")
    fig.suptitle(f"{step_title(trace, i)} of {n}", fontsize=10)
    return fig

