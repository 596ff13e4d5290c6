"""Curves over training steps or timesteps."""

from __future__ import annotations

import numpy as np

from explainer.viz.figure import new_figure


def loss_curve(losses, smooth: int = 10, title: str = "training loss"):
    """A loss per step, raw and as a running mean over ``smooth`` steps."""
    losses = np.asarray(losses, dtype=np.float64)
    if losses.ndim != 1 or len(losses) == 0:
        raise ValueError(f"losses of shape {losses.shape}; expected a non-empty 1-D sequence")
    fig, axes = new_figure(width=5, height=3)
    ax = axes[0, 0]
    ax.plot(losses, color="0.7", lw=1, label="per step")
    k = max(1, min(smooth, len(losses)))
    running = np.convolve(losses, np.ones(k) / k, mode="valid")
    ax.plot(np.arange(k - 1, len(losses)), running, color="C0", lw=2, label=f"mean of {k}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig
