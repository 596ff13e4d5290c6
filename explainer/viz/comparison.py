"""Keyword A/B at a glance: the two pictures, where the contexts differ, and how the runs drift.

``comparison_plot(compare(pipe, a, b, seed))``: the two final pictures, the per-position
context distance ‖c_A − c_B‖ (zero before the first changed word, as CLIP is causal), and the
RMS difference per step of x_t, ε̃ and x̂_0 (x_t starts equal: the noise is shared).
"""

from __future__ import annotations

import numpy as np

from explainer.viz.figure import new_figure

LABELS = {"latents_in": "x_t", "eps": "ε̃ (guided)", "pred_x0": "x̂_0"}


def comparison_plot(comparison, size: float = 2.4):
    """Pictures A and B, the context distance per position, and RMS differences per step."""
    from explainer.explore.comparison import Comparison

    if not isinstance(comparison, Comparison):
        raise TypeError("comparison_plot takes what explainer.compare(...) returns")
    fig, axes = new_figure(1, 4, width=4 * size + 2.5, height=size + 0.8, layout="constrained",
                           gridspec_kw={"width_ratios": [1, 1, 1.6, 1.6]})
    for ax, picture, label in zip(axes[0, :2], comparison.images, ("A", "B")):
        ax.imshow(picture, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{label}: {getattr(comparison, 'prompt_' + label.lower())}", fontsize=7,
                     wrap=True)
    tokens = comparison.trace_a.tokens[0]
    n = min(77, max(tokens.n_real, comparison.trace_b.tokens[0].n_real) + 3)
    ax = axes[0, 2]
    ax.bar(range(n), comparison.context_distance[:n], color="C1")
    if comparison.first_difference is not None:
        ax.axvline(comparison.first_difference - 0.5, color="k", linestyle=":", linewidth=1)
    ax.set_xlabel("token position")
    ax.set_title("‖c_A − c_B‖ per position", fontsize=9)
    ax = axes[0, 3]
    steps = np.arange(len(comparison.trace_a.steps))
    for name, values in comparison.rms.items():
        ax.plot(steps, values, label=LABELS.get(name, name))
    ax.set_xlabel("step")
    ax.set_title("RMS difference A − B", fontsize=9)
    ax.legend(fontsize=7)
    return fig
