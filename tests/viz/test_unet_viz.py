"""The UNet's pictures: the U drawn from a config (no weights), one call's feature maps per
level, and the timestep embedding's sinusoids."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.patches import FancyBboxPatch

from explainer.explore.unet_architecture import UNetArchitecture
from explainer.models.configs import PRESETS
from explainer.viz import feature_maps, timestep_features, unet_diagram
from explainer.viz.unet_diagram import ATTENTION, RESNETS, SKIP_COLOUR, T_COLOUR
from explainer.viz.unet_features import level_maps


def _arrows(ax, colour):
    from matplotlib.colors import to_hex

    return [a for a in ax.texts if getattr(a, "arrow_patch", None) is not None
            and to_hex(a.arrow_patch.get_edgecolor()) == colour]


@pytest.mark.parametrize("preset", ["tiny-shapes", "sd-v1-5"])
def test_unet_diagram_draws_the_config(preset):
    from matplotlib.colors import to_hex

    arch = UNetArchitecture(PRESETS[preset].unet)
    n = len(arch.levels)
    ax = unet_diagram(arch, title=preset).axes[0]
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == 2 * n + 1                                 # down and up per level, mid
    fills = [to_hex(b.get_facecolor()) for b in boxes[:-1]]       # mid is last
    expected = [ATTENTION if lv.attention else RESNETS for lv in arch.levels for _ in "du"]
    assert fills == expected
    texts = [t.get_text() for t in ax.texts]
    for lv in arch.levels:
        assert f"down{lv.index}  ·  {lv.side}x{lv.side}  ·  {lv.channels} ch" in texts
    assert len(_arrows(ax, SKIP_COLOUR)) == len(arch.skips)       # one arrow per skip
    assert len(_arrows(ax, T_COLOUR)) == 2 * n + 1                # emb(t) into every box
    widths = ", ".join(str(s.channels) for s in arch.skips if s.side == arch.levels[0].side)
    assert f"skips: {widths} ch" in texts


def test_feature_maps_lay_the_levels_out_as_a_u():
    rng = np.random.default_rng(0)
    shapes = UNetArchitecture(PRESETS["tiny-shapes"].unet).features()
    features = {k: rng.standard_normal((2, *s)).astype(np.float32) for k, s in shapes.items()}
    fig = feature_maps(features, index=1)
    panels = {ax.get_title().split(" ·")[0]: ax for ax in fig.axes if ax.images}
    assert sorted(panels) == sorted(["down0", "down1", "down2", "mid", "up0", "up1", "up2"])
    for name, ax in panels.items():  # each panel: mean over channels of |h - mean pixel|, image 1
        h = features[name][1]
        np.testing.assert_allclose(ax.images[0].get_array(),
                                   np.abs(h - h.mean(axis=(0, 1))).mean(-1), rtol=1e-6)
    plain = feature_maps(features, centre=False).axes[0]  # down0, image 0: mean |h|
    np.testing.assert_allclose(plain.images[0].get_array(), np.abs(features["down0"][0]).mean(-1))
    assert panels["down0"].get_title() == "down0 · 8x8 · 64 ch"
    assert level_maps(features)["mid"].shape == (2, 2)
    grid = fig.axes[0].get_gridspec()
    assert (grid.nrows, grid.ncols) == (4, 3)
    # down0 and up2 share the top row (8x8); the middle sits alone at the bottom
    row = lambda ax: ax.get_subplotspec().rowspan.start
    col = lambda ax: ax.get_subplotspec().colspan.start
    assert (row(panels["down0"]), col(panels["down0"])) == (0, 0)
    assert (row(panels["up2"]), col(panels["up2"])) == (0, 2)
    assert (row(panels["mid"]), col(panels["mid"])) == (3, 1)
    with pytest.raises(ValueError, match="call_with_features"):
        feature_maps({"down0": features["down0"]})


def test_timestep_features_are_the_unets_sinusoids():
    config = PRESETS["tiny-shapes"].unet
    fig = timestep_features(config, timesteps=(0, 500))
    every = fig.axes[0].images[0].get_array()
    half = config.block_channels[0] // 2
    assert every.shape == (1000, 2 * half)
    np.testing.assert_allclose(every[0], [1.0] * half + [0.0] * half)   # cos 0, sin 0
    np.testing.assert_allclose(every[500, 0], np.cos(500.0), atol=1e-5)  # frequency 1
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), every[[0, 500]])
