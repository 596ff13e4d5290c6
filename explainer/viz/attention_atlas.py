"""An attention atlas drawn: one token across layers and steps; one layer across tokens.

Every cell is 77·A, the token's attention against the uniform share 1/77, on the one fixed
logarithmic scale of lesson 11's maps (viz/attention.py): white = read as much as an average
token, red = more (up to 8x), blue = less. Never stretched min-to-max, so a word that is
hardly read looks hardly read, in every layer, at every step.

| plot                                         | rows x columns                              |
|----------------------------------------------|---------------------------------------------|
| ``atlas_token_grid(atlas, word)``            | layers x steps, one token                   |
| ``atlas_layer_tokens(atlas, layer)``         | guidance branches x tokens, one layer (mean over the recorded steps, or one step) |
| ``faithfulness_plot(table)``                 | layers x steps, a number per cell (IoU)     |
"""

from __future__ import annotations

import numpy as np

from explainer.viz.attention import HEAT, overlay, uniform_colorbar, uniform_norm
from explainer.viz.figure import new_figure


def _spread(steps: list[int], count: int) -> list[int]:
    if len(steps) <= count:
        return list(steps)
    picks = np.linspace(0, len(steps) - 1, count).round().astype(int)
    return [steps[k] for k in sorted(set(picks))]


def atlas_token_grid(atlas, which, steps=None, layers=None, branch: str = "cond",
                     max_steps: int = 6, size: float = 1.0):
    """One token's map for every layer (rows, in call order: down, mid, up) at ``steps``
    (columns; default: up to ``max_steps`` recorded steps, evenly spread), each at the
    layer's own grid."""
    layers = atlas.layers if layers is None else list(layers)
    steps = _spread(atlas.steps, max_steps) if steps is None else list(steps)
    fig, axes = new_figure(len(layers), len(steps), width=size * len(steps) + 1.6,
                           height=size * len(layers) + 0.8, layout="constrained")
    timesteps = atlas.trace.timesteps
    for r, layer in enumerate(layers):
        for c, step in enumerate(steps):
            ratio = atlas.map(which, layer, step, branch)
            ax = axes[r, c]
            im = ax.imshow(np.maximum(ratio, 1e-6), cmap=HEAT, norm=uniform_norm(),
                           interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"step {step}\nt={timesteps[step]:g}", fontsize=7)
        axes[r, 0].set_ylabel(atlas.layer_label(layer), fontsize=7, rotation=0, ha="right",
                              va="center")
    uniform_colorbar(fig, im, axes, shrink=0.6)
    fig.suptitle(f"{atlas.label(which, branch)!r} in every layer and step "
                 f"({'the prompt' if branch == 'cond' else 'the negative prompt'}'s branch): "
                 "x the uniform share", fontsize=9)
    return fig


def atlas_layer_tokens(atlas, layer, step=None, words=None, size: float = 1.15):
    """One layer's map for each token (columns: start, the prompt's words, end), one row per
    recorded guidance branch (the prompt's, then the negative prompt's own tokens), averaged
    over the recorded steps (or at ``step``), over the final picture."""
    steps = atlas.steps if step is None else [step]
    picture = None if atlas.trace.images is None else np.asarray(atlas.trace.images)[atlas.image]
    branches = [b for b in ("cond", "uncond") if b in atlas.branches]
    columns = {b: (list(range(len(atlas.words if b == "cond" else atlas.negative_words)))
                   if words is None or b == "uncond" else list(words)) for b in branches}
    width = max(len(c) for c in columns.values())
    fig, axes = new_figure(len(branches), width, width=size * width + 1.0,
                           height=size * len(branches) + 0.9, layout="constrained")
    for r, branch in enumerate(branches):
        for c in range(width):
            ax = axes[r, c]
            if c >= len(columns[branch]):
                ax.axis("off")
                continue
            which = columns[branch][c]
            ratio = np.mean([atlas.map(which, layer, s, branch) for s in steps], axis=0)
            share = float(ratio.mean()) / 77
            im = overlay(ax, picture, ratio, f"{atlas.label(which, branch)}\n{share:.1%}")
        axes[r, 0].set_ylabel("prompt" if branch == "cond" else "negative", fontsize=8)
    uniform_colorbar(fig, im, axes, shrink=0.6)
    when = (f"steps {steps[0]}-{steps[-1]}" if len(steps) > 1 else f"step {steps[0]}")
    fig.suptitle(f"layer {atlas.layer_label(layer)} ({layer}), {when}: each token x the "
                 "uniform share (% = its share of the layer's attention)", fontsize=9)
    return fig


def faithfulness_plot(values, layer_labels, steps, title: str, best=None, size: float = 0.32):
    """A table of numbers ``[layers, steps]`` (e.g. IoU with the true mask) as a heat map,
    its values written in, the ``best`` (row, column) cell outlined."""
    values = np.asarray(values, np.float64)
    fig, axes = new_figure(1, 1, width=size * len(steps) + 2.8, height=0.42 * len(layer_labels)
                           + 1.2, layout="constrained")
    ax = axes[0, 0]
    im = ax.imshow(values, cmap="viridis", aspect="auto", interpolation="nearest",
                   vmin=0.0, vmax=max(0.6, float(np.nanmax(values))))
    ax.set_yticks(range(len(layer_labels)))
    ax.set_yticklabels(layer_labels, fontsize=7)
    ax.set_xticks(range(len(steps)))
    ax.set_xticklabels([str(s) for s in steps], fontsize=6)
    ax.set_xlabel("step (0 = the noisiest)")
    if best is not None:
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((best[1] - 0.5, best[0] - 0.5), 1, 1, fill=False, ec="red", lw=2))
    fig.colorbar(im, ax=ax, label="IoU")
    ax.set_title(title, fontsize=9)
    return fig
