"""The blocks a UNet (and the VAE) is a list of.

| block              | what it does                                                        |
|--------------------|---------------------------------------------------------------------|
| ``timestep_embedding`` | t -> sinusoidal features [B, C0] (Vaswani et al.; DDPM)          |
| ``ResnetBlock``    | GroupNorm-SiLU-conv twice, plus the time embedding, plus a skip     |
| ``Downsample``     | 3x3 conv, stride 2: h x w -> h/2 x w/2                              |
| ``Upsample``       | nearest-neighbour x2, then a 3x3 conv                               |
| ``SpatialTransformer`` | latent pixels as tokens: self-attention, cross-attention to the text context, GEGLU MLP |
"""

from __future__ import annotations

import math

from explainer.models.backend import keras, ops  # Keras, imported quietly
from explainer.models.block import Block, image, vector
from explainer.models.attention import Attention
from explainer.models.attention_hook import AttentionSite


def timestep_embedding(t, dim: int, flip_sin_to_cos: bool = True, freq_shift: float = 0.0):
    """Sinusoidal embedding of timesteps ``t`` [B] -> [B, dim], as in DDPM / diffusers.

    freq_k = exp(-ln(10000) · k / (dim/2 - freq_shift)),  emb = [cos(t·freq), sin(t·freq)]
    (or [sin, cos] when ``flip_sin_to_cos`` is False).
    """
    half = dim // 2
    k = ops.arange(half, dtype="float32")
    freqs = ops.exp(-math.log(10000.0) * k / (half - freq_shift))   # [dim/2]
    args = ops.cast(t, "float32")[:, None] * freqs[None, :]         # [B, dim/2]
    sin, cos = ops.sin(args), ops.cos(args)
    return ops.concatenate([cos, sin] if flip_sin_to_cos else [sin, cos], axis=-1)  # [B, dim]


class ResnetBlock(Block):
    """x + conv(SiLU(GN(conv(SiLU(GN(x))) + W·SiLU(t_emb)))), with a 1x1 conv skip if widths differ.

    ``time_conditioned=False`` drops the time embedding (the VAE's blocks); ``time_width`` is
    the embedding's width (the UNet's 4·C0).
    """

    def __init__(self, in_channels: int, out_channels: int, norm_groups: int = 32,
                 norm_eps: float = 1e-5, time_conditioned: bool = True,
                 time_width: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm_groups, self.norm_eps = norm_groups, norm_eps
        self.time_conditioned = time_conditioned
        if time_conditioned and not time_width:
            raise ValueError("ResnetBlock: a time-conditioned block needs time_width")
        self.time_width = time_width if time_conditioned else None
        gn = dict(groups=norm_groups, epsilon=norm_eps)
        self.norm1 = keras.layers.GroupNormalization(**gn, name="norm1")
        self.conv1 = keras.layers.Conv2D(out_channels, 3, padding="same", name="conv1")
        self.time_proj = keras.layers.Dense(out_channels, name="time_proj") if time_conditioned else None
        self.norm2 = keras.layers.GroupNormalization(**gn, name="norm2")
        self.conv2 = keras.layers.Conv2D(out_channels, 3, padding="same", name="conv2")
        self.skip = (keras.layers.Conv2D(out_channels, 1, name="skip")
                     if in_channels != out_channels else None)

    def sublayer_shapes(self):
        c_in, c_out = self.in_channels, self.out_channels
        return [(self.norm1, image(c_in)), (self.conv1, image(c_in)),
                (self.time_proj, vector(self.time_width or 1)), (self.norm2, image(c_out)),
                (self.conv2, image(c_out)), (self.skip, image(c_in))]

    def call(self, x, t_emb=None):
        h = self.conv1(ops.silu(self.norm1(x)))                          # [B, h, w, C_out]
        if self.time_conditioned:
            h = h + self.time_proj(ops.silu(t_emb))[:, None, None, :]    # + [B, 1, 1, C_out]
        h = self.conv2(ops.silu(self.norm2(h)))                          # [B, h, w, C_out]
        return (x if self.skip is None else self.skip(x)) + h

    def get_config(self) -> dict:
        return {**super().get_config(), "in_channels": self.in_channels,
                "out_channels": self.out_channels, "norm_groups": self.norm_groups,
                "norm_eps": self.norm_eps, "time_conditioned": self.time_conditioned,
                "time_width": self.time_width}


class Downsample(Block):
    """A 3x3 stride-2 conv. ``padding=(1, 1)`` pads both sides (UNet); ``(0, 1)`` only the
    bottom/right (the VAE encoder), matching the original implementations exactly."""

    def __init__(self, channels: int, padding: tuple[int, int] = (1, 1), **kwargs):
        super().__init__(**kwargs)
        self.channels, self.padding = channels, tuple(padding)
        self.pad = keras.layers.ZeroPadding2D((self.padding, self.padding))
        self.conv = keras.layers.Conv2D(channels, 3, strides=2, padding="valid", name="conv")

    def sublayer_shapes(self):
        return [(self.conv, image(self.channels))]

    def call(self, x):
        return self.conv(self.pad(x))                                    # [B, h/2, w/2, C]

    def get_config(self) -> dict:
        return {**super().get_config(), "channels": self.channels, "padding": self.padding}


class Upsample(Block):
    """Nearest-neighbour x2 then a 3x3 conv: [B, h, w, C] -> [B, 2h, 2w, C]."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.up = keras.layers.UpSampling2D(2, interpolation="nearest")
        self.conv = keras.layers.Conv2D(channels, 3, padding="same", name="conv")

    def sublayer_shapes(self):
        return [(self.conv, image(self.channels))]

    def call(self, x):
        return self.conv(self.up(x))                                     # [B, 2h, 2w, C]

    def get_config(self) -> dict:
        return {**super().get_config(), "channels": self.channels}


class TransformerBlock(Block):
    """Self-attention, cross-attention to the context, GEGLU feed-forward; pre-LN residuals."""

    def __init__(self, width: int, heads: int, norm_eps: float = 1e-5,
                 context_width: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.width, self.heads, self.norm_eps = width, heads, norm_eps
        self.context_width = context_width
        ln = dict(epsilon=norm_eps)
        self.norm1 = keras.layers.LayerNormalization(**ln, name="norm1")
        self.self_attention = Attention(width, heads, name="self_attention")
        self.norm2 = keras.layers.LayerNormalization(**ln, name="norm2")
        self.cross_attention = Attention(width, heads, context_width=context_width,
                                         name="cross_attention")
        self.norm3 = keras.layers.LayerNormalization(**ln, name="norm3")
        self.geglu = keras.layers.Dense(8 * width, name="geglu")   # value and gate, 4C each
        self.ff_out = keras.layers.Dense(width, name="ff_out")

    def sublayer_shapes(self):
        c = vector(self.width)
        return [(self.norm1, c), (self.self_attention, c), (self.norm2, c),
                (self.cross_attention, c), (self.norm3, c), (self.geglu, c),
                (self.ff_out, vector(4 * self.width))]

    def call(self, x, context, capture: bool = False, hook=None, sites=None):
        """``[B, hw, C]`` -> ``[B, hw, C]``; with ``capture`` also the cross-attention weights
        averaged over heads, ``[B, hw, 77]`` (see attention_maps.py). ``hook`` (a HookCall)
        sees A of the layers whose ``sites`` (self, cross) it wants (attention_hook.py)."""
        self_site, cross_site = sites if sites is not None else (None, None)
        x = x + self.self_attention(self.norm1(x), **_hooked(hook, self_site))  # [B, hw, C]
        attended = self.cross_attention(self.norm2(x), context, return_probs=capture,
                                        **_hooked(hook, cross_site))
        if capture:
            attended, probs = attended                                   # probs [B, heads, hw, 77]
            probs = ops.mean(ops.cast(probs, "float32"), axis=1)         # [B, hw, 77]
        x = x + attended                                                 # [B, hw, C] <- [B, 77, C_c]
        value, gate = ops.split(self.geglu(self.norm3(x)), 2, axis=-1)   # [B, hw, 4C] each
        x = x + self.ff_out(value * keras.activations.gelu(gate, approximate=False))
        return (x, probs) if capture else x

    def get_config(self) -> dict:
        return {**super().get_config(), "width": self.width, "heads": self.heads,
                "norm_eps": self.norm_eps, "context_width": self.context_width}


class SpatialTransformer(Block):
    """Latent pixels become a sequence of h·w tokens that attend to each other and to the text.

    GroupNorm, a projection in, ``depth`` TransformerBlocks, a projection out, and a residual.
    """

    def __init__(self, width: int, heads: int, depth: int = 1, norm_groups: int = 32,
                 norm_eps: float = 1e-5, context_width: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.width, self.heads, self.depth = width, heads, depth
        self.context_width = context_width
        self.norm_groups, self.norm_eps = norm_groups, norm_eps
        self.norm = keras.layers.GroupNormalization(norm_groups, epsilon=1e-6, name="norm")
        self.proj_in = keras.layers.Dense(width, name="proj_in")
        self.blocks = [TransformerBlock(width, heads, norm_eps, context_width, name=f"block_{i}")
                       for i in range(depth)]
        self.proj_out = keras.layers.Dense(width, name="proj_out")

    def sublayer_shapes(self):
        return [(self.norm, image(self.width)), (self.proj_in, vector(self.width)),
                *[(block, None) for block in self.blocks], (self.proj_out, vector(self.width))]

    def call(self, x, context, capture: bool = False, hook=None, place=None):
        """``[B, h, w, C]`` -> ``[B, h, w, C]``; with ``capture`` also this transformer's
        cross-attention map at its own grid, ``[B, h, w, 77]``: the head-mean weights, summed
        over its ``depth`` blocks. ``hook`` (a HookCall) with ``place`` = (part, level, index)
        sees its attention layers (attention_hook.py)."""
        b, h, w = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2]
        tokens = ops.reshape(self.proj_in(self.norm(x)), (b, h * w, self.width))  # [B, hw, C]
        total = None
        for k, block in enumerate(self.blocks):
            sites = None if hook is None else self.sites(*place, block=k)
            if capture:
                tokens, probs = block(tokens, context, capture=True, hook=hook, sites=sites)
                total = probs if total is None else total + probs                 # [B, hw, 77]
            else:
                tokens = block(tokens, context, hook=hook, sites=sites)            # [B, hw, C]
        out = x + ops.reshape(self.proj_out(tokens), (b, h, w, self.width))        # [B, h, w, C]
        if not capture:
            return out
        return out, ops.reshape(total, (b, h, w, ops.shape(total)[-1]))          # [B, h, w, 77]

    def sites(self, part: str, level: int, index: int, block: int = 0):
        """The (self, cross) ``AttentionSite``s of block ``block`` of this transformer."""
        name = self.name if self.depth == 1 else f"{self.name}/block_{block}"
        return tuple(AttentionSite(name, part, level, index, kind, self.heads)
                     for kind in ("self", "cross"))

    def get_config(self) -> dict:
        return {**super().get_config(), "width": self.width, "heads": self.heads,
                "depth": self.depth, "norm_groups": self.norm_groups, "norm_eps": self.norm_eps,
                "context_width": self.context_width}


def _hooked(hook, site) -> dict:
    """The hook arguments of one attention layer: none unless the hook wants this site."""
    return {} if hook is None or not hook.wants(site) else {"hook": hook, "site": site}
