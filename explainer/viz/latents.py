"""A latent's channels as maps: x_t, x̂_0, the noise predictions ε, one panel per channel.

SD's latents have 4 channels at 1/8 of the image's size (64x64 for a 512 px picture; 8x8 for
tiny-shapes' 64 px). They are not colours: the VAE's decoder turns them into pixels. Looking
at the channels separately shows structure (a shape, an edge) long before a decode would.
"""

from __future__ import annotations

import numpy as np

from explainer.diffusion.inputs import one_map
from explainer.viz.figure import new_figure, show_map


def latent_channels(latents, title: str | None = None, diverging: bool = False,
                    size: float = 2.0):
    """Each channel of one latent ``[h, w, C]`` (or ``[1, h, w, C]``) as a panel with a colorbar.

    Args:
        latents: x_t, x̂_0, ε, ... of one image, e.g. ``trace.steps[3].eps_text[0]``.
        title: a title over the panels.
        diverging: a blue-white-red colormap centred at 0 (for noise, ε and differences);
            otherwise viridis from each channel's min to max.
        size: inches per panel.

    Each panel has its own colour range (its colorbar); the panel's image data is exactly
    the channel given (``fig.axes[k].images[0].get_array()`` is ``latents[..., k]``).
    """
    z = one_map(latents, "latents")                                         # [h, w, C]
    channels = z.shape[-1]
    fig, axes = new_figure(1, channels, width=size * channels + 0.4 * channels,
                           height=size + 0.5 * (title is not None) + 0.3, layout="constrained")
    for k, ax in enumerate(axes[0]):
        channel = z[..., k]                                                 # [h, w]
        show_map(fig, ax, channel, f"channel {k}  (std {np.std(channel):.2f})", diverging)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
