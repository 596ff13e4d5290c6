"""What the UNet computes at each level of one call, laid out as the U it flows through.

``feature_maps(features)`` takes ``UNet.call_with_features``' activations (numpy) and draws,
for each level, how much each pixel differs from the level's average pixel (the mean over
channels of |h − h's mean over the grid|; or, with ``centre=False``, the plain mean
|activation|): down levels on the left (the latent's own grid at the top), the middle at the
bottom, up levels on the right, as in ``unet_diagram``. ``timestep_features(config)`` draws the sinusoidal features the timestep
embedding starts from.
"""

from __future__ import annotations

import numpy as np

from explainer.viz.figure import new_figure, show_map


def _levels(features) -> tuple[list[str], list[str]]:
    downs = sorted((k for k in features if k.startswith("down")), key=lambda k: int(k[4:]))
    ups = sorted((k for k in features if k.startswith("up")), key=lambda k: int(k[2:]))
    if not downs or len(downs) != len(ups) or "mid" not in features:
        raise ValueError(f"feature_maps needs the names UNet.call_with_features returns "
                         f"(down0.., mid, up0..); got {sorted(features)}")
    return downs, ups


def level_maps(features, index: int = 0, centre: bool = True) -> dict[str, np.ndarray]:
    """One ``[h, w]`` map per down level, the middle and up level, of image ``index``: the mean
    over channels of |h − h's mean over the grid| (``centre``: where the level's pixels differ
    from its average pixel), or of |h|."""
    downs, ups = _levels(features)
    maps = {}
    for name in [*downs, "mid", *ups]:
        h = np.asarray(features[name], np.float32)[index]                  # [h, w, C]
        if centre:
            h = h - h.mean(axis=(0, 1))                                    # minus the mean pixel
        maps[name] = np.abs(h).mean(axis=-1)                               # [h, w]
    return maps


def feature_maps(features, index: int = 0, centre: bool = True, title: str | None = None,
                 size: float = 1.6):
    """The U of one UNet call: one map per level (``level_maps``).

    Args:
        features: the dict of ``UNet.call_with_features`` (numpy): ``down{k}``, ``mid`` and
            ``up{i}`` activations ``[B, h, w, C]`` (other names are ignored).
        index: which image of the batch.
        centre: subtract each channel's mean over the grid first, so the map shows where
            the level's pixels differ from each other; False: the plain mean |activation|.
        title: a title over the panels.
        size: inches per panel.

    Row k holds level k (grid h/2^k): ``down{k}`` on the left, the up level at the same grid
    on the right; the middle is below, in the centre. Each panel has its own colour range.
    """
    downs, ups = _levels(features)
    means = level_maps(features, index, centre)
    n = len(downs)
    fig, axes = new_figure(n + 1, 3, width=3 * size + 1.2, height=(n + 1) * size + 0.3
                           + 0.3 * (title is not None), layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    places = [(name, k, 0) for k, name in enumerate(downs)]
    places += [(name, n - 1 - i, 2) for i, name in enumerate(ups)] + [("mid", n, 1)]
    for name, row, column in places:
        ax = axes[row, column]
        ax.axis("on")
        h, w, c = np.asarray(features[name]).shape[1:]
        show_map(fig, ax, means[name], f"{name} · {h}x{w} · {c} ch")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def timestep_features(config, timesteps=(0, 250, 500, 750, 999), num_train_timesteps: int = 1000):
    """The sinusoidal timestep features the UNet's time MLP starts from, for ``config``
    (a ``UNetConfig``): left, every t from 0 to T-1 as a row (cos half, then sin half);
    right, the rows of a few ``timesteps``. Computed by the UNet's own ``timestep_embedding``."""
    from explainer.models.backend import ops
    from explainer.models.unet_blocks import timestep_embedding

    dim = config.block_channels[0]
    every = ops.convert_to_numpy(timestep_embedding(np.arange(num_train_timesteps, dtype=np.float32),
                                                    dim, config.flip_sin_to_cos, config.freq_shift))
    fig, axes = new_figure(1, 2, width=9.0, height=3.0, layout="constrained",
                           gridspec_kw={"width_ratios": [3, 2]})
    style = dict(aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    image = axes[0, 0].imshow(every, **style)
    axes[0, 0].set_xlabel(f"feature (0..{dim // 2 - 1}: cos, {dim // 2}..{dim - 1}: sin; "
                          "slower to the right in each half)", fontsize=8)
    axes[0, 0].set_ylabel("timestep t")
    axes[0, 0].set_title(f"sinusoidal features of every t ({dim} wide)", fontsize=9)
    rows = np.stack([every[int(t)] for t in timesteps])                       # [len(t), dim]
    axes[0, 1].imshow(rows, **style)
    axes[0, 1].set_yticks(range(len(timesteps)), [f"t = {t}" for t in timesteps], fontsize=8)
    axes[0, 1].set_xlabel("feature", fontsize=8)
    axes[0, 1].set_title("a few timesteps: one row each", fontsize=9)
    fig.colorbar(image, ax=axes[0, 1], fraction=0.046, pad=0.04)
    return fig
