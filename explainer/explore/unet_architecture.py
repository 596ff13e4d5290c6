"""The UNet as a list of blocks, read from its config alone: no weights, no Keras.

``UNetArchitecture(config)`` lists the blocks of ``models/unet.py`` in the order a call runs
them, each under the Keras model's own name (``down0_resnet_0``, ``mid_transformer``, ...),
with its part, its kind, its channels, the latent grid it works on, its parameter count and
the skip activation it saves (on the way down) or concatenates (on the way up). SD v1.5's
UNet is described without building it (3.4 GB of float32 weights).

| code name       | symbol / meaning                                                    |
|-----------------|---------------------------------------------------------------------|
| ``side``        | the latent grid's side at a block: h/2^k at level k (64 → 8 for SD)  |
| ``C_k``         | ``block_channels[k]``, the channels of level k                       |
| ``emb(t)``      | the timestep embedding, 4·C_0 wide, added inside every ResNet block  |
| ``s_i``         | skip activation i: saved on the way down, concatenated on the way up |
| ``parts``       | time embedding, conv_in, down0.., mid, up0.., out (``parts()``)     |

``up{i}`` is named as in the Keras model and diffusers: ``up0`` is the lowest resolution (it
mirrors the last down level), the last up level the highest.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from explainer.explore import block_parameters as P
from explainer.models.configs import UNetConfig


@dataclass(frozen=True)
class UNetBlock:
    """One block of the UNet, as the Keras model names it."""

    name: str             # the Keras layer's name, e.g. "down0_resnet_0"
    part: str             # "time embedding", "conv_in", "down0", ..., "mid", "up0", ..., "out"
    kind: str             # "ResNet", "transformer", "downsample", "upsample", "time MLP", ...
    in_channels: int      # for an up ResNet: h's channels + the skip's (the concatenation)
    out_channels: int
    side: int | None      # the latent grid side it reads (None: the time MLP has no grid)
    out_side: int | None  # the grid side it writes (half for a downsample, twice for upsample)
    parameters: int
    saves: int | None = None       # the skip s_i this block's output is saved as
    takes: int | None = None       # the skip s_i concatenated to its input
    skip_channels: int = 0         # that skip's channels


@dataclass(frozen=True)
class Skip:
    """Skip activation s_i: saved by a down block, concatenated by an up ResNet block."""

    index: int
    channels: int
    side: int
    saved_by: str
    taken_by: str


@dataclass(frozen=True)
class Level:
    """Resolution level k: its grid, channels, and whether it has spatial transformers."""

    index: int
    side: int
    channels: int
    attention: bool
    heads: int


class UNetArchitecture:
    """The blocks of a ``UNet`` built from ``config``, for latents ``latent_side`` wide.

    ``latent_side`` defaults to the config's ``sample_size`` (64 for SD v1.5: 512 px images;
    8 for tiny-shapes). It only sets the grids; the parameter counts do not depend on it.
    """

    def __init__(self, config: UNetConfig, latent_side: int | None = None,
                 context_tokens: int = 77):
        side = config.sample_size if latent_side is None else latent_side
        if side <= 0 or side % config.downscale:
            raise ValueError(f"UNetArchitecture: latent_side {side} must be a positive multiple "
                             f"of {config.downscale} (the UNet halves it {len(config.block_channels) - 1}"
                             " times and doubles it back); e.g. 64 for 512 px images")
        self.config, self.latent_side, self.context_tokens = config, side, context_tokens
        self.levels = tuple(Level(k, side // 2 ** k, ch, config.attention_levels[k], config.heads[k])
                            for k, ch in enumerate(config.block_channels))
        self.blocks = self._blocks()
        self.skips = tuple(
            Skip(saver.saves, saver.out_channels, saver.out_side, saver.name,
                 next(b.name for b in self.blocks if b.takes == saver.saves))
            for saver in self.blocks if saver.saves is not None)

    # -- the list, in call order ---------------------------------------------------------------

    def _blocks(self) -> tuple[UNetBlock, ...]:
        c, levels, tw = self.config, self.levels, self.config.time_width
        c0, n = c.block_channels[0], len(self.levels)
        rows = [UNetBlock("time_mlp_1", "time embedding", "time MLP", c0, tw, None, None,
                          P.dense(c0, tw)),
                UNetBlock("time_mlp_2", "time embedding", "time MLP", tw, tw, None, None,
                          P.dense(tw, tw)),
                UNetBlock("conv_in", "conv_in", "conv 3x3", c.in_channels, c0, self.latent_side,
                          self.latent_side, P.conv(c.in_channels, c0), saves=0)]
        skips = [(0, c0)]                                    # the stack of (s_i, channels)

        def save(row: UNetBlock) -> UNetBlock:
            skips.append((len(skips), row.out_channels))
            return replace(row, saves=len(skips) - 1)

        def transformer(name, part, level):
            return UNetBlock(name, part, self._transformer_kind(), level.channels,
                             level.channels, level.side, level.side,
                             P.spatial_transformer(level.channels, c.transformer_depth,
                                                   c.context_width))

        # down
        width = c0
        for level in levels:
            part, k = f"down{level.index}", level.index
            for j in range(c.layers_per_block):
                rows.append(UNetBlock(f"{part}_resnet_{j}", part, "ResNet", width, level.channels,
                                      level.side, level.side,
                                      P.resnet_block(width, level.channels, tw)))
                width = level.channels
                if level.attention:
                    rows.append(transformer(f"{part}_transformer_{j}", part, level))
                rows[-1] = save(rows[-1])
            if k < n - 1:
                rows.append(save(UNetBlock(f"{part}_downsample", part, "downsample", width, width,
                                           level.side, level.side // 2, P.resample(width))))
        # middle
        bottom = levels[-1]
        rows += [UNetBlock("mid_resnet_1", "mid", "ResNet", width, width, bottom.side, bottom.side,
                           P.resnet_block(width, width, tw)),
                 UNetBlock("mid_transformer", "mid", self._transformer_kind(), width, width,
                           bottom.side, bottom.side,
                           P.spatial_transformer(width, c.transformer_depth, c.context_width)),
                 UNetBlock("mid_resnet_2", "mid", "ResNet", width, width, bottom.side, bottom.side,
                           P.resnet_block(width, width, tw))]
        # up
        for i, level in enumerate(reversed(levels)):
            part = f"up{i}"
            for j in range(c.layers_per_block + 1):
                index, skip = skips.pop()
                rows.append(UNetBlock(f"{part}_resnet_{j}", part, "ResNet", width + skip,
                                      level.channels, level.side, level.side,
                                      P.resnet_block(width + skip, level.channels, tw),
                                      takes=index, skip_channels=skip))
                width = level.channels
                if level.attention:
                    rows.append(transformer(f"{part}_transformer_{j}", part, level))
            if level.index > 0:
                rows.append(UNetBlock(f"{part}_upsample", part, "upsample", width, width,
                                      level.side, 2 * level.side, P.resample(width)))
        # out
        side = self.latent_side
        rows += [UNetBlock("norm_out", "out", "GroupNorm", c0, c0, side, side, P.norm(c0)),
                 UNetBlock("conv_out", "out", "conv 3x3", c0, c.out_channels, side, side,
                           P.conv(c0, c.out_channels))]
        return tuple(rows)

    def _transformer_kind(self) -> str:
        depth = self.config.transformer_depth
        return "transformer" + (f" x{depth}" if depth > 1 else "")

    # -- summaries -----------------------------------------------------------------------------

    @property
    def total(self) -> int:
        """All parameters of the UNet."""
        return sum(b.parameters for b in self.blocks)

    def parts(self) -> dict[str, int]:
        """Parameters per part, in call order: time embedding, conv_in, down0.., mid, up0.., out."""
        out: dict[str, int] = {}
        for b in self.blocks:
            out[b.part] = out.get(b.part, 0) + b.parameters
        return out

    def by_kind(self) -> dict[str, int]:
        """Parameters per kind of block (ResNet, transformer, ...), largest first."""
        out: dict[str, int] = {}
        for b in self.blocks:
            kind = "transformer" if b.kind.startswith("transformer") else b.kind
            out[kind] = out.get(kind, 0) + b.parameters
        return dict(sorted(out.items(), key=lambda item: -item[1]))

    def part_grid(self, part: str) -> int | None:
        """The latent side a part works on (its first block's grid)."""
        return next(b.side for b in self.blocks if b.part == part)

    def features(self) -> dict[str, tuple[int, ...]]:
        """The shapes (without the batch) of what ``UNet.call_with_features`` returns: emb(t),
        conv_in's output, each level's activations at its own grid (before its resampler),
        and the middle's output."""
        c, n = self.config, len(self.levels)
        shapes = {"time_embedding": (c.time_width,),
                  "conv_in": (self.latent_side, self.latent_side, c.block_channels[0])}
        for level in self.levels:
            shapes[f"down{level.index}"] = (level.side, level.side, level.channels)
        bottom = self.levels[-1]
        shapes["mid"] = (bottom.side, bottom.side, bottom.channels)
        for i in range(n):
            level = self.levels[n - 1 - i]
            shapes[f"up{i}"] = (level.side, level.side, level.channels)
        return shapes

    def attention_sites(self) -> list[dict]:
        """Where the spatial transformers sit: per part, how many, their grid, and how many
        tokens self-attention (h·w latent pixels) and cross-attention (the text) attend over."""
        sites = {}
        for b in self.blocks:
            if b.kind.startswith("transformer"):
                site = sites.setdefault(b.part, {"part": b.part, "transformers": 0, "side": b.side,
                                                 "channels": b.out_channels})
                site["transformers"] += 1
        heads = {f"down{lv.index}": lv.heads for lv in self.levels}
        heads.update({f"up{len(self.levels) - 1 - lv.index}": lv.heads for lv in self.levels})
        heads["mid"] = self.levels[-1].heads
        for site in sites.values():
            site.update(self_tokens=site["side"] ** 2, cross_tokens=self.context_tokens,
                        heads=heads[site["part"]], depth=self.config.transformer_depth)
        return list(sites.values())

    # -- printing ------------------------------------------------------------------------------

    def table(self, parts=None) -> str:
        """One line per block (only ``parts``' blocks if given): name, kind, channels in ->
        out (an up ResNet's input as h + skip), grid, parameters, and the skip it saves/takes."""
        lines = [f"{'block':<20} {'kind':<14} {'channels':>17} {'grid':>11} {'parameters':>12}  skip"]
        for b in self.blocks:
            if parts is not None and b.part not in parts:
                continue
            c_in = (f"{b.in_channels - b.skip_channels}+{b.skip_channels}" if b.takes is not None
                    else str(b.in_channels))
            grid = ("-" if b.side is None else _grid(b.side) if b.side == b.out_side
                    else f"{_grid(b.side)}>{_grid(b.out_side)}")
            skip = (f"saves s{b.saves}" if b.saves is not None else
                    f"takes s{b.takes}" if b.takes is not None else "")
            lines.append(f"{b.name:<20} {b.kind:<14} {c_in + ' -> ' + str(b.out_channels):>17} "
                         f"{grid:>11} {b.parameters:>12,}  {skip}".rstrip())
        return "\n".join(lines)

    def parts_table(self) -> str:
        """Parameters per part with its grid and share of the whole UNet."""
        lines = [f"{'part':<15} {'grid':>7} {'parameters':>13} {'share':>7}"]
        for part, count in self.parts().items():
            side = self.part_grid(part)
            lines.append(f"{part:<15} {'-' if side is None else _grid(side):>7} {count:>13,} "
                         f"{100 * count / self.total:>6.1f}%")
        lines.append(f"{'total':<15} {'':>7} {self.total:>13,} {100.0:>6.1f}%")
        return "\n".join(lines)

    def skips_table(self) -> str:
        """Each skip: who saves it, who concatenates it, its channels and grid."""
        lines = [f"{'skip':<5} {'saved by':<20} {'taken by':<15} {'channels':>8} {'grid':>7}"]
        for s in self.skips:
            lines.append(f"s{s.index:<4} {s.saved_by:<20} {s.taken_by:<15} {s.channels:>8} "
                         f"{_grid(s.side):>7}")
        return "\n".join(lines)

    def attention_table(self) -> str:
        """Per part with transformers: grid, count, heads, and the tokens each attention reads."""
        lines = [f"{'part':<6} {'grid':>7} {'transformers':>12} {'heads':>5} "
                 f"{'self-attn over':>18} {'cross-attn over':>19}"]
        for s in self.attention_sites():
            count = f"{s['transformers']}" + (f" x{s['depth']}" if s["depth"] > 1 else "")
            lines.append(f"{s['part']:<6} {_grid(s['side']):>7} {count:>12} {s['heads']:>5} "
                         f"{s['self_tokens']:>7,} latent px {s['cross_tokens']:>8} text tokens")
        return "\n".join(lines)

    def __repr__(self) -> str:
        levels = ", ".join(f"{lv.channels} ch at {_grid(lv.side)}"
                           + (" (attn)" if lv.attention else "") for lv in self.levels)
        return (f"UNetArchitecture: {len(self.levels)} levels ({levels}), middle at "
                f"{_grid(self.levels[-1].side)} (attn); {len(self.blocks)} blocks, "
                f"{len(self.skips)} skips, {self.total:,} parameters")


def _grid(side: int) -> str:
    return f"{side}x{side}"
