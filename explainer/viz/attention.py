"""Which word paints which pixels: cross-attention maps drawn over the picture.

A run made with ``capture_attention=True`` holds, per step, how much every latent pixel read
each of the 77 token positions (explainer/explore/attention_maps.py explains the reduction). These
plots upsample one token's map to the image and lay it over the final picture:

| plot                                   | shows                                              |
|----------------------------------------|----------------------------------------------------|
| ``attention_grid(trace, words, steps)`` | tokens as columns, steps as rows (+ all steps)     |
| ``render_attention(trace, step, word)`` | one token at one step (or summed), large; the      |
|                                        | attention explorer's callback                      |
| ``attention_shares(trace)``            | each position's share of all attention, per step   |

Each map is stretched from its own minimum to its maximum (so a faint token still shows where
it looks); the title gives its share of all the attention, which says how much it is read at
all. Under the heat, the picture is shown dimmed and grey.
"""

from __future__ import annotations

import numpy as np

from explainer.explore.attention_maps import START, AttentionMaps
from explainer.viz.figure import new_figure

HEAT = "inferno"


def default_words(maps: AttentionMaps) -> list:
    """The start token, every word of the prompt, and the end token."""
    return [START] + list(range(1, maps.tokens.n_real - 1)) + ["<end>"]


def _label(maps: AttentionMaps, which) -> str:
    k = maps.position(which)
    piece = maps.tokens.pieces[k]
    if k == 0:
        return "<start>"
    if k >= maps.tokens.n_real - 1:
        return "<end>" if k == maps.tokens.n_real - 1 else f"<pad {k}>"
    return piece


def _picture(trace, image: int):
    if trace.images is None:
        return None
    return np.asarray(trace.images)[image]


def _steps(n: int, steps) -> list:
    if steps is None:
        return sorted({0, n // 4, n // 2, (3 * n) // 4, n - 1})
    chosen = list(steps)
    bad = [s for s in chosen if s is not None and not -n <= int(s) < n]
    if bad:
        raise ValueError(f"steps {bad} are outside the trace's {n} steps (0..{n - 1})")
    return [None if s is None else int(s) % n for s in chosen]


def overlay(ax, picture, values, title: str | None = None, alpha: float = 0.6) -> None:
    """Draw ``values`` ``[h, w]`` (stretched from its min to its max) over ``picture``
    ``[H, W, 3]``, which is shown dimmed and grey so the heat stays readable."""
    size = picture.shape[:2] if picture is not None else (8 * values.shape[0], 8 * values.shape[1])
    heat = AttentionMaps.upsampled(values, size)
    low, high = float(heat.min()), float(heat.max())
    heat = (heat - low) / (high - low) if high > low else np.zeros_like(heat)
    if picture is not None:
        grey = np.asarray(picture, np.float32).mean(axis=-1)
        ax.imshow(grey, cmap="gray", vmin=0, vmax=255 * 1.6, interpolation="nearest")
    ax.imshow(heat, cmap=HEAT, vmin=0, vmax=1, alpha=alpha if picture is not None else 1.0,
              interpolation="nearest")  # already smooth at the picture's resolution
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def attention_grid(trace, words=None, steps=None, image: int = 0, size: float = 1.1):
    """Tokens as columns (default: start, the prompt's words, end), steps as rows, plus a last
    row summed over all steps; each cell is the token's map over the final picture."""
    maps = AttentionMaps(trace, image)
    words = default_words(maps) if words is None else list(words)
    rows = _steps(len(trace.steps), steps) + [None]
    picture = _picture(trace, image)
    fig, axes = new_figure(len(rows), len(words), width=size * len(words) + 0.6,
                           height=size * len(rows) + 0.6, layout="constrained")
    for r, step in enumerate(rows):
        chosen = None if step is None else [step]
        shares = maps.shares(chosen)
        for c, word in enumerate(words):
            values = maps.token(word, steps=chosen)
            title = f"{_label(maps, word)} {shares[maps.position(word)]:.1%}" if r == 0 else \
                f"{shares[maps.position(word)]:.1%}"
            overlay(axes[r, c], picture, values, title)
        where = "all steps" if step is None else f"step {step} t={trace.steps[step].timestep:g}"
        axes[r, 0].set_ylabel(where, fontsize=8)
    fig.suptitle(f"cross-attention over the picture: {maps.tokens.prompt!r} (each map "
                 "stretched min to max; % = share of all attention)", fontsize=9)
    return fig


def render_attention(trace, step=None, word=START, image: int = 0, level: str | None = None,
                     size: float = 2.6):
    """One token's map at one step (``step=None``: summed over all steps), over the picture
    and on its own latent grid. The attention explorer's callback; call it directly too."""
    maps = AttentionMaps(trace, image)
    n = len(trace.steps)
    chosen = None if step is None else _steps(n, [step])
    values = maps.token(word, steps=chosen, level=level)                       # [h, w]
    share = maps.shares(chosen)[maps.position(word)]
    fig, axes = new_figure(1, 2, width=2 * size + 0.6, height=size + 0.7, layout="constrained")
    overlay(axes[0, 0], _picture(trace, image), values, "over the final picture")
    im = axes[0, 1].imshow(values, cmap=HEAT, interpolation="nearest")
    axes[0, 1].set_xticks([])
    axes[0, 1].set_yticks([])
    axes[0, 1].set_title(f"latent grid {values.shape[0]}x{values.shape[1]}"
                         + (f", level {level}" if level else ""), fontsize=8)
    fig.colorbar(im, ax=axes[0, 1], shrink=0.8)
    when = "all steps" if step is None else f"step {chosen[0]} (t={trace.steps[chosen[0]].timestep:g})"
    fig.suptitle(f"{_label(maps, word)!r} at {when}: {share:.1%} of all attention", fontsize=9)
    return fig


def attention_shares(trace, image: int = 0, positions: int | None = None, size: float = 4.0):
    """Each position's share of the attention at every step, as a heat map (steps x tokens):
    where the pixels look, on average. ``positions`` defaults to the prompt plus 3 paddings."""
    maps = AttentionMaps(trace, image)
    n = len(trace.steps)
    shown = min(77, maps.tokens.n_real + 3) if positions is None else int(positions)
    shares = np.stack([maps.shares([i]) for i in range(n)])[:, :shown]          # [steps, shown]
    fig, axes = new_figure(1, 1, width=max(size, 0.35 * shown + 1.5), height=size,
                           layout="constrained")
    ax = axes[0, 0]
    im = ax.imshow(shares, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_xticks(range(shown))
    ax.set_xticklabels([_label(maps, k) for k in range(shown)], rotation=60, fontsize=7)
    ax.set_ylabel("step")
    fig.colorbar(im, ax=ax, label="share of all attention")
    ax.set_title(f"which token the pixels read: {maps.tokens.prompt!r}", fontsize=9)
    return fig
