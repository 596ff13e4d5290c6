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

Every map is drawn against the uniform share (``AttentionMaps.relative``): at each pixel, the
token's attention over what an average token gets there (1/77 of the pixel's total). One fixed,
logarithmic colour scale for every token, step and prompt: white is uniform, red is read more
(up to ``RANGE`` times), blue less. A min-to-max stretch would light up "a" and "the" as brightly
as the shape word. The title gives the token's share of all the attention (uniform: 1.3 %).
Under the heat, the picture is shown dimmed and grey.
"""

from __future__ import annotations

import textwrap

import numpy as np

from explainer.explore.attention_maps import START, AttentionMaps
from explainer.viz.figure import new_figure

HEAT = "RdBu_r"     # blue: read less than an average token; white: uniform; red: more
RANGE = 8.0         # the colour scale runs from 1/RANGE to RANGE times the uniform share


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


def uniform_norm():
    """The colour scale of every map: logarithmic, 1/RANGE .. RANGE times the uniform share."""
    from matplotlib.colors import LogNorm

    return LogNorm(vmin=1.0 / RANGE, vmax=RANGE, clip=True)


def uniform_colorbar(fig, im, ax, shrink: float = 0.8):
    """A colour bar in multiples of the uniform share: 1/8, 1/4, ..., 4, 8."""
    ticks = [2.0 ** k for k in range(-3, 4)]
    bar = fig.colorbar(im, ax=ax, shrink=shrink, ticks=ticks, label="x uniform share")
    bar.ax.set_yticklabels([f"1/{round(1 / t)}" if t < 1 else f"{t:g}" for t in ticks])
    bar.ax.minorticks_off()
    return bar


def overlay(ax, picture, ratio, title: str | None = None, alpha: float = 0.6):
    """Draw ``ratio`` ``[h, w]`` (a map as a multiple of the uniform share,
    ``AttentionMaps.relative``) over ``picture`` ``[H, W, 3]``, which is shown dimmed and grey
    so the heat stays readable. Returns the heat's AxesImage (for a colour bar)."""
    size = picture.shape[:2] if picture is not None else (8 * ratio.shape[0], 8 * ratio.shape[1])
    heat = AttentionMaps.upsampled(ratio, size)
    if picture is not None:
        grey = np.asarray(picture, np.float32).mean(axis=-1)
        ax.imshow(grey, cmap="gray", vmin=0, vmax=255 * 1.6, interpolation="nearest")
    im = ax.imshow(np.maximum(heat, 1e-6), cmap=HEAT, norm=uniform_norm(),
                   alpha=alpha if picture is not None else 1.0,
                   interpolation="nearest")  # already smooth at the picture's resolution
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    return im


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
        chosen = "all" if step is None else [step]
        shares = maps.shares(None if step is None else chosen)
        for c, word in enumerate(words):
            ratio = maps.relative(word, steps=chosen, level="all")
            title = f"{_label(maps, word)} {shares[maps.position(word)]:.1%}" if r == 0 else \
                f"{shares[maps.position(word)]:.1%}"
            im = overlay(axes[r, c], picture, ratio, title)
        where = "all steps" if step is None else f"step {step} t={trace.steps[step].timestep:g}"
        axes[r, 0].set_ylabel(where, fontsize=8)
    uniform_colorbar(fig, im, axes, shrink=0.6)
    fig.suptitle(f"cross-attention over the picture: {maps.tokens.prompt!r} (red: read more "
                 "than an average token, blue: less; % = share of all attention)", fontsize=9)
    return fig


def attention_side_by_side(runs, image: int = 0, size: float = 2.4):
    """One word's map (summed over all steps) over each run's picture, on one colour scale:
    ``runs`` is a list of ``(trace, word)``, e.g. the two runs of a keyword A/B and the word
    each swapped in."""
    fig, axes = new_figure(1, len(runs), width=size * len(runs) + 0.8, height=size + 0.6,
                           layout="constrained")
    for ax, (trace, word) in zip(axes[0], runs):
        maps = AttentionMaps(trace, image)
        share = maps.shares()[maps.position(word)]
        im = overlay(ax, _picture(trace, image), maps.relative(word, "all", "all"),
                     f"{_label(maps, word)!r}: {share:.1%} of all attention")
        ax.set_xlabel(textwrap.fill(maps.tokens.prompt, 34), fontsize=7)
    uniform_colorbar(fig, im, axes, shrink=0.8)
    return fig


def render_attention(trace, step=None, word=START, image: int = 0, level: str | None = None,
                     size: float = 2.6):
    """One token's map at one step (``step=None``: summed over all steps), over the picture
    and on its own latent grid. The attention explorer's callback; call it directly too."""
    maps = AttentionMaps(trace, image)
    n = len(trace.steps)
    chosen = None if step is None else _steps(n, [step])
    ratio = maps.relative(word, steps="all" if chosen is None else chosen,
                          level="all" if level is None else level)            # [h, w]
    share = maps.shares(chosen)[maps.position(word)]
    fig, axes = new_figure(1, 2, width=2 * size + 0.6, height=size + 0.7, layout="constrained")
    overlay(axes[0, 0], _picture(trace, image), ratio, "over the final picture")
    im = axes[0, 1].imshow(np.maximum(ratio, 1e-6), cmap=HEAT, norm=uniform_norm(),
                           interpolation="nearest")
    axes[0, 1].set_xticks([])
    axes[0, 1].set_yticks([])
    axes[0, 1].set_title(f"latent grid {ratio.shape[0]}x{ratio.shape[1]}"
                         + (f", level {level}" if level else ""), fontsize=8)
    uniform_colorbar(fig, im, axes[0, 1], shrink=0.8)
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
