"""The text context c [77, C]: as a heat map, and where two prompts' contexts differ.

CLIP's text encoder is causal: position k attends only to positions 0..k. So two prompts that
share their first words have identical context rows up to the first differing token, and
different rows from there on, padding included (the padding positions attend to the whole
prompt). ``context_difference`` shows exactly that.
"""

from __future__ import annotations

import numpy as np

from explainer.diffusion.inputs import one_context, one_tokens
from explainer.explore.comparison import first_difference, per_token_distance  # noqa: F401 (re-exported)
from explainer.viz.figure import DIVERGING, new_figure

CLIP_PERCENTILE = 99.0  # colour limit: CLIP's hidden state has a few huge outlier values


def context_heatmap(context, tokens=None, positions: int | None = None,
                    title: str | None = None):
    """The context ``[77, C]`` as an image: one row per token position, one column per channel.

    Args:
        context: ``[77, C]`` or ``[1, 77, C]`` (``trace.context``, ``pipe.encode_text(...)``).
        tokens: the prompt's ``Tokens``; labels the rows with their pieces and marks where the
            padding starts.
        positions: show only the first ``positions`` rows (default all).
        title: the axes title.

    Colours are centred at 0 and clipped at the 99th percentile of |c|: CLIP's hidden state
    has a few channels (and the start token's row) far larger than the rest, which would
    otherwise wash everything out. The colorbar shows the clipped range; the image's data
    is the context itself, unchanged.
    """
    full = one_context(context, "context")                                  # [77, C]
    c = full
    if positions is not None:
        if not isinstance(positions, int) or not 1 <= positions <= len(full):
            raise ValueError(f"positions={positions!r}; use an int from 1 to {len(full)}")
        c = full[:positions]                                                # [P, C]
    if tokens is not None:
        tokens = one_tokens(tokens)
        if len(tokens.ids) != len(full):
            raise ValueError(f"tokens have {len(tokens.ids)} positions but context has "
                             f"{len(full)}; pass the same prompt's tokens and context")
    limit = float(np.percentile(np.abs(c), CLIP_PERCENTILE)) or 1.0
    fig, axes = new_figure(width=7, height=max(2.5, 0.095 * len(c) + 1.0), layout="constrained")
    ax = axes[0, 0]
    image = ax.imshow(c, cmap=DIVERGING, vmin=-limit, vmax=limit, aspect="auto",
                      interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02, label="value (clipped)")
    ax.set_xlabel(f"channel (C = {c.shape[1]})")
    ax.set_ylabel("token position")
    if tokens is not None:
        labelled = [k for k in range(len(c)) if k < tokens.n_real]          # the real tokens
        labels = [f"{k} {tokens.pieces[k]}" for k in labelled]
        if tokens.n_real < len(c):                                          # padding: its span
            labelled += [tokens.n_real, len(c) - 1]
            labels += [f"{tokens.n_real} padding from here", f"{len(c) - 1} padding"]
            ax.axhline(tokens.n_real - 0.5, color="k", lw=1, ls="--")
        ax.set_yticks(labelled, labels, fontsize=6.5)
    ax.set_title(title or "text context c: one row per token", fontsize=10)
    return fig


def context_difference(context_a, context_b, tokens_a=None, tokens_b=None,
                       title: str | None = None):
    """Bar chart over positions of ‖c_a[k] − c_b[k]‖₂ (``per_token_distance``).

    With the two prompts' Tokens, the x axis is labelled with their pieces and a dashed line
    marks the first differing token: bars before it are zero (CLIP is causal), bars after it
    are not. Without tokens, that line is placed at the first clearly non-zero bar.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    distance = per_token_distance(context_a, context_b)                     # [77]
    n = len(distance)
    if tokens_a is not None and tokens_b is not None:
        first = first_difference(tokens_a, tokens_b)
        tokens_a, tokens_b = one_tokens(tokens_a, "tokens_a"), one_tokens(tokens_b, "tokens_b")
    elif tokens_a is not None or tokens_b is not None:
        raise ValueError("give both tokens_a and tokens_b (or neither)")
    else:
        nonzero = np.flatnonzero(distance > 1e-3 * max(distance.max(), 1e-12))
        first = int(nonzero[0]) if len(nonzero) else None
    before = np.arange(n) < (first if first is not None else n)
    colours = np.where(before, "C0", "C3")
    fig, axes = new_figure(width=8, height=3.4)
    ax = axes[0, 0]
    ax.bar(np.arange(n), distance, width=0.8, color=colours)
    ax.set_xlim(-0.7, n - 0.3)
    ax.set_xlabel("token position")
    ax.set_ylabel("‖c_a − c_b‖ over channels")
    handles = [Patch(color="C0", label="before the first different token"),
               Patch(color="C3", label="from it on")]
    if tokens_a is not None:
        shown = max(tokens_a.n_real, tokens_b.n_real)
        labels = [pa if pa == pb else f"{pa} / {pb}"
                  for pa, pb in zip(tokens_a.pieces[:shown], tokens_b.pieces[:shown])]
        labels = [p.replace("<|startoftext|>", "<start>").replace("<|endoftext|>", "<end>")
                  for p in labels]
        later = [k for k in range(10, n, 10) if k > shown + 2] + [n - 1]
        ax.set_xticks(list(range(shown)) + later, labels + [str(k) for k in later],
                      rotation=90, fontsize=7)
        ax.axvspan(shown - 0.5, n - 0.3, color="0.93", zorder=0)
        handles.append(Patch(color="0.93", label="padding"))
    if first is not None:
        ax.axvline(first - 0.5, color="k", ls="--", lw=1)
        handles.append(Line2D([], [], color="k", ls="--", lw=1, label="first different token"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title or "where two prompts' contexts differ (causal: only after the first "
                 "change)", fontsize=10)
    fig.tight_layout()
    return fig
