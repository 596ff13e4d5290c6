"""Grids of images with a caption under each (samples, noising rows, filmstrips)."""

from __future__ import annotations

import numpy as np

from explainer.viz.figure import new_figure


def image_grid(images, titles=None, columns: int | None = None, size: float = 1.6,
               title: str | None = None):
    """Images ``[N, H, W, 3]`` (uint8, or floats in [0, 1]) in a grid, ``titles[k]`` under
    image k. ``columns`` defaults to all in one row (at most 8)."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images of shape {images.shape}; expected [N, H, W, 3] (or one "
                         "[H, W, 3] image)")
    n = len(images)
    titles = [None] * n if titles is None else [str(t) for t in titles]
    if len(titles) != n:
        raise ValueError(f"{len(titles)} titles for {n} images; give one title per image")
    columns = min(n, 8) if columns is None else max(1, min(columns, n))
    rows = int(np.ceil(n / columns))
    lines = max((t.count("\n") + 1 for t in titles if t), default=0)
    fig, axes = new_figure(rows, columns, columns * size, rows * (size + 0.15 * lines) + 0.3 *
                           (title is not None))
    for ax in axes.ravel()[n:]:
        ax.axis("off")                                   # the unused cells of the last row
    for ax, image, text in zip(axes.ravel(), images, titles):
        ax.imshow(image.squeeze(-1) if image.shape[-1] == 1 else image,
                  cmap="gray" if image.shape[-1] == 1 else None, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if text:           # an x label, so the layout makes room for it under the image
            ax.set_xlabel(text, fontsize=8, labelpad=2)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
