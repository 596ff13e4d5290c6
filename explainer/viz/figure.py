"""Figure: the one way this package makes a matplotlib figure, and turns one into PNG bytes.

Every plot in ``explainer.viz`` starts from ``new_figure`` and returns the Figure. The figure
is closed in pyplot straight away, so a notebook shows it once (as the cell's result) and
nothing piles up in pyplot's list of open figures. Only the object-oriented, Agg-compatible
API is used; the backend is never changed.
"""

from __future__ import annotations

import io

import numpy as np

DIVERGING = "RdBu_r"     # signed maps (ε, differences, context): blue < 0 < red, white at 0
SEQUENTIAL = "viridis"   # unsigned maps (latents when not centred, norms)


def new_figure(rows: int = 1, columns: int = 1, width: float = 6.4, height: float = 4.8,
               **kwargs):
    """``(figure, axes)`` like ``plt.subplots``, but detached from pyplot: nothing is shown
    twice in a notebook and nothing accumulates in pyplot's list of open figures.

    ``axes`` is always a 2-D array ``[rows, columns]``; ``kwargs`` go to ``plt.subplots``
    (e.g. ``layout="constrained"``, ``sharex=True``).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, columns, figsize=(width, height), squeeze=False, **kwargs)
    plt.close(fig)
    return fig, axes


def figure_png(fig, dpi: int = 80) -> bytes:
    """The figure rendered to PNG bytes (what the widgets show in an ``ipywidgets.Image``)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def show_map(fig, ax, values, title: str | None = None, diverging: bool = False,
             limit: float | None = None, colorbar: bool = True):
    """One 2-D map ``[h, w]`` drawn with ``imshow`` (nearest pixels), optionally its colorbar.

    ``diverging`` centres a blue-white-red colormap at 0 with limits ±``limit`` (default:
    the largest |value|); otherwise viridis from min to max. Returns the AxesImage.
    """
    values = np.asarray(values)
    if diverging:
        if limit is None:
            limit = float(np.max(np.abs(values))) if values.size else 1.0
        limit = limit or 1.0  # an all-zero map still gets a valid colour range
        image = ax.imshow(values, cmap=DIVERGING, vmin=-limit, vmax=limit,
                          interpolation="nearest")
    else:
        image = ax.imshow(values, cmap=SEQUENTIAL, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return image
