"""CLIP's contrastive objective as a picture: N images, N captions, one N x N matrix.

CLIP (Radford et al. 2021) trains an image encoder f and a text encoder g together on
image-caption pairs. In a batch of N pairs, the similarity of image i and caption j is
s_ij = cos(f(x_i), g(y_j)) / τ, and the loss is the cross-entropy of each row and each column
of s against the diagonal: caption i must score highest for image i among the N captions, and
image i highest for caption i among the N images. This figure draws that matrix of targets
for a batch of drawn pictures and their captions (no network: what the loss pulls toward).
"""

from __future__ import annotations

import textwrap

import numpy as np

from explainer.viz.figure import new_figure


def contrastive_targets(images, captions, size: float = 0.9):
    """The N x N target matrix of CLIP's loss for ``images`` ``[N, H, W, 3]`` and their
    ``captions`` (N strings): each image on its row, each caption over its column, the matched
    pair (the diagonal) filled, every other cell a negative."""
    images = np.asarray(images)
    n = len(images)
    if len(captions) != n or n < 2:
        raise ValueError(f"{n} images and {len(captions)} captions; give one caption per "
                         "image, at least two pairs")
    fig, axes = new_figure(n + 1, n + 1, (n + 1) * size * 1.25, (n + 1) * size,
                           gridspec_kw={"hspace": 0.05, "wspace": 0.05})
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].axis("off")
    axes[0, 0].text(0.5, 0.5, "image i \\ caption j", ha="center", va="center", fontsize=7)
    for j, text in enumerate(captions):
        ax = axes[0, j + 1]
        ax.axis("off")
        ax.text(0.5, 0.0, textwrap.fill(text, 14), ha="center", va="bottom", fontsize=6.5)
    for i, image in enumerate(images):
        axes[i + 1, 0].imshow(image, interpolation="nearest")
        for j in range(n):
            ax = axes[i + 1, j + 1]
            match = i == j
            ax.set_facecolor("#2a9d55" if match else "#f2f2f2")
            ax.text(0.5, 0.5, f"pull up\ns_{i}{j}" if match else f"push down\ns_{i}{j}",
                    ha="center", va="center", fontsize=6.5,
                    color="white" if match else "#777777")
    fig.suptitle("CLIP's loss: in each row and each column, the matched pair must win",
                 fontsize=9)
    return fig
