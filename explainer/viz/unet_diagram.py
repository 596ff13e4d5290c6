"""The UNet drawn as a U, from its config alone (``UNetArchitecture``): no weights needed.

Levels run top to bottom by resolution (the latent's own grid at the top). The down path is
on the left, the up path on the right, the middle block at the bottom. Between the two sides
of a level, one arrow per skip activation carries what the up level concatenates (their
channels are written on the arrows). Levels with spatial transformers (self-attention over
the h·w latent pixels, cross-attention to the text's 77 token vectors) are orange; levels of
ResNet blocks only are blue. A dashed line carries emb(t) to every level: each ResNet block
adds it.
"""

from __future__ import annotations

from explainer.viz.figure import new_figure

ATTENTION, RESNETS, MIDDLE = "#fbd9b0", "#cfe0f3", "#fbd9b0"   # box fills
T_COLOUR, SKIP_COLOUR = "#2e8b57", "#555555"
DOWN_X, MID_X, UP_X, BOX_W, BOX_H, ROW = 2.4, 6.0, 9.6, 3.4, 1.05, 1.75


def _count(n: int) -> str:
    """A parameter count a reader can take in: 2.5 M, 91 k."""
    return f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n / 1e3:.0f} k"


def _box(ax, x, y, lines, fill, bold_first=True):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H,
                                boxstyle="round,pad=0.02,rounding_size=0.12", fc=fill,
                                ec="#333333", lw=1.0))
    ax.text(x, y + 0.26, lines[0], ha="center", va="center", fontsize=9,
            fontweight="bold" if bold_first else "normal")
    for k, line in enumerate(lines[1:]):
        ax.text(x, y - 0.04 - 0.25 * k, line, ha="center", va="center", fontsize=8)


def _arrow(ax, start, end, colour="#333333", style="-|>", lw=1.3, ls="-"):
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle=style, color=colour, lw=lw, linestyle=ls,
                                shrinkA=0, shrinkB=0))


def _level_lines(arch, part, level, resnets) -> list[str]:
    """Title, contents and size of one side of a level."""
    depth = arch.config.transformer_depth
    inner = (f"{resnets} x (ResNet + transformer" + (f" x{depth}" if depth > 1 else "") + ")"
             if level.attention else f"{resnets} x ResNet")
    return [f"{part}  ·  {level.side}x{level.side}  ·  {level.channels} ch", inner,
            f"{_count(arch.parts()[part])} parameters"]


def unet_diagram(arch, title: str | None = None, width: float = 10.0):
    """The U of ``arch`` (an ``explore.UNetArchitecture``): levels, skips, attention, emb(t).

    Every box names its part as the Keras model does (``down0`` .. ``mid`` .. ``up0``), its
    grid, channels and parameters. Returns the Figure.
    """
    c, levels = arch.config, arch.levels
    n = len(levels)
    y = lambda k: -ROW * k                                            # level k's row
    mid_y = y(n - 1) - 1.35
    t_y = mid_y - 0.95                                                # the emb(t) line
    top, bottom, left_x, right_x = 1.4 + 0.4 * bool(title), t_y - 1.05, -0.5, 12.5
    fig, axes = new_figure(1, 1, width=width,
                           height=width * (top - bottom) / (right_x - left_x))
    fig.subplots_adjust(0, 0, 1, 1)
    ax = axes[0, 0]
    ax.set_xlim(left_x, right_x)
    ax.set_ylim(bottom, top)
    ax.set_aspect("equal")
    ax.axis("off")

    for level in levels:
        k, fill = level.index, ATTENTION if level.attention else RESNETS
        _box(ax, DOWN_X, y(k), _level_lines(arch, f"down{k}", level, c.layers_per_block), fill)
        _box(ax, UP_X, y(k), _level_lines(arch, f"up{n - 1 - k}", level, c.layers_per_block + 1),
             fill)
        if k < n - 1:  # resampling between levels
            _arrow(ax, (DOWN_X, y(k) - BOX_H / 2), (DOWN_X, y(k + 1) + BOX_H / 2))
            ax.text(DOWN_X + 0.1, (y(k) + y(k + 1)) / 2, "downsample (stride 2)", fontsize=7,
                    va="center", ha="left", style="italic")
            _arrow(ax, (UP_X, y(k + 1) + BOX_H / 2), (UP_X, y(k) - BOX_H / 2))
            ax.text(UP_X - 0.1, (y(k) + y(k + 1)) / 2, "upsample (x2)", fontsize=7,
                    va="center", ha="right", style="italic")
        # the skips this level's up side concatenates: one arrow each
        skips = [s for s in arch.skips if s.side == level.side]
        offsets = [0.3 * (j - (len(skips) - 1) / 2) for j in range(len(skips))]
        for s, dy in zip(skips, offsets):
            _arrow(ax, (DOWN_X + BOX_W / 2, y(k) + dy), (UP_X - BOX_W / 2, y(k) + dy),
                   colour=SKIP_COLOUR, lw=0.9)
        ax.text(MID_X, y(k) + max(offsets) + 0.17,
                "skips: " + ", ".join(str(s.channels) for s in skips) + " ch",
                ha="center", va="bottom", fontsize=7, color=SKIP_COLOUR)

    bottom = levels[-1]
    _box(ax, MID_X, mid_y, [f"mid  ·  {bottom.side}x{bottom.side}  ·  {bottom.channels} ch",
                            "ResNet, transformer, ResNet",
                            f"{_count(arch.parts()['mid'])} parameters"], MIDDLE)
    _arrow(ax, (DOWN_X, y(n - 1) - BOX_H / 2), (MID_X - BOX_W / 2, mid_y))
    _arrow(ax, (MID_X + BOX_W / 2, mid_y), (UP_X, y(n - 1) - BOX_H / 2))

    # in and out
    side = arch.latent_side
    ax.text(DOWN_X, 1.05, f"x_t  [{side}, {side}, {c.in_channels}]", ha="center", fontsize=9)
    _arrow(ax, (DOWN_X, 0.95), (DOWN_X, BOX_H / 2))
    ax.text(DOWN_X + 0.1, 0.75, "conv_in", fontsize=7, style="italic")
    ax.text(UP_X, 1.05, f"ε_θ  [{side}, {side}, {c.out_channels}]", ha="center", fontsize=9)
    _arrow(ax, (UP_X, BOX_H / 2), (UP_X, 0.95))
    ax.text(UP_X - 0.1, 0.75, "norm, conv_out", fontsize=7, style="italic", ha="right")

    # emb(t): a dashed rail on each side, a stub into every box
    left, right = DOWN_X - BOX_W / 2 - 0.35, UP_X + BOX_W / 2 + 0.35
    dashed = dict(color=T_COLOUR, lw=1.0, ls="--")
    ax.plot([left, right], [t_y, t_y], **dashed)
    ax.plot([left, left], [t_y, y(0)], **dashed)
    ax.plot([right, right], [t_y, y(0)], **dashed)
    for k in range(n):
        _arrow(ax, (left, y(k)), (DOWN_X - BOX_W / 2, y(k)), colour=T_COLOUR, lw=1.0)
        _arrow(ax, (right, y(k)), (UP_X + BOX_W / 2, y(k)), colour=T_COLOUR, lw=1.0)
    _arrow(ax, (MID_X, t_y), (MID_X, mid_y - BOX_H / 2), colour=T_COLOUR, lw=1.0)
    ax.text(MID_X, t_y - 0.12, f"t -> sinusoid ({c.block_channels[0]}) -> MLP -> emb(t) "
            f"({c.time_width}), added in every ResNet block", ha="center", va="top",
            fontsize=8, color=T_COLOUR)

    # legend
    from matplotlib.patches import Patch

    tokens = arch.context_tokens
    ax.legend(handles=[Patch(fc=ATTENTION, ec="#333333",
                             label=f"spatial transformers: self-attention over h·w latent pixels, "
                                   f"cross-attention to {tokens} text tokens ({c.context_width} wide)"),
                       Patch(fc=RESNETS, ec="#333333", label="ResNet blocks only")],
              loc="lower center", fontsize=8, frameon=False, ncol=1, borderaxespad=0.1)
    if title:
        ax.text(MID_X, top - 0.05, title, ha="center", va="top", fontsize=11)
    return fig
