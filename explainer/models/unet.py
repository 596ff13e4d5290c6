"""The conditional UNet: predicts the noise ε_θ(x_t, t, c) in a noisy latent.

Ronneberger et al.'s UNet as Stable Diffusion uses it (Rombach et al. 2022): the latent goes
down through resolution levels (ResNet blocks, spatial transformers that read the text
context through cross-attention, stride-2 downsampling), through a middle block, and back up,
each up level concatenating the skip activations saved on the way down.

| code name   | symbol       | shape (SD v1.5, 512 px)  |
|-------------|--------------|--------------------------|
| ``latents`` | x_t          | [B, 64, 64, 4]           |
| ``timesteps``| t           | [B]                      |
| ``context`` | c            | [B, 77, 768]             |
| ``t_emb``   | emb(t)       | [B, 1280]                |
| returns     | ε_θ(x_t,t,c) | [B, 64, 64, 4]           |
"""

from __future__ import annotations

from explainer.models.attention_hook import AttentionHook, AttentionSite, HookCall
from explainer.models.backend import keras, ops  # Keras, imported quietly
from explainer.models.block import Block, BlockModel, image, vector
from explainer.models.configs import UNetConfig
from explainer.models.unet_blocks import (
    Downsample,
    ResnetBlock,
    SpatialTransformer,
    Upsample,
    timestep_embedding,
)


def attention_sites(config: UNetConfig) -> list[AttentionSite]:
    """Every attention layer of a UNet with this config, in call order, self before cross in
    each block: the names the UNet's transformers get (no weights are built, so SD v1.5's
    list costs nothing)."""
    c, n, out = config, len(config.block_channels), []

    def add(name, part, level, index):
        for d in range(c.transformer_depth):
            full = name if c.transformer_depth == 1 else f"{name}/block_{d}"
            out.extend(AttentionSite(full, part, level, index, kind, c.heads[level])
                       for kind in ("self", "cross"))

    for k in range(n):
        for i in range(c.layers_per_block if c.attention_levels[k] else 0):
            add(f"down{k}_transformer_{i}", "down", k, i)
    add("mid_transformer", "mid", n - 1, 0)
    for i in range(n):
        level = n - 1 - i
        for j in range(c.layers_per_block + 1 if c.attention_levels[level] else 0):
            add(f"up{i}_transformer_{j}", "up", level, j)
    return out


class UNetLevel(Block):
    """One resolution level: ResNet blocks, each optionally followed by a spatial transformer,
    then a resampler (``Downsample`` on the way down, ``Upsample`` on the way up, or none)."""

    def __init__(self, resnets, transformers, resample=None, **kwargs):
        super().__init__(**kwargs)
        self.resnets = list(resnets)
        self.transformers = list(transformers)  # empty, or one per ResNet block
        self.resample = resample

    def sublayer_shapes(self):
        return [(layer, None) for layer in [*self.resnets, *self.transformers, self.resample]]

    def call(self, h, t_emb, context, skips=None, capture: bool = False, hook=None, place=None):
        """Down (``skips`` None): returns h and the activations to save. Up: ``skips`` holds
        this level's saved activations in the order they were saved; the last is used first.
        With ``capture``, also the sum of its transformers' cross-attention maps
        ``[B, h, w, 77]`` at this level's grid (None if it has no transformer). ``hook`` (a
        HookCall) sees its attention layers; ``place`` = (part, level) names them."""
        saved, maps = [], None
        for k, resnet in enumerate(self.resnets):
            if skips is not None:
                h = ops.concatenate([h, skips[-1 - k]], axis=-1)           # [B, h, w, C + C_skip]
            h = resnet(h, t_emb)                                           # [B, h, w, C]
            where = {} if hook is None else {"hook": hook, "place": (*place, k)}
            if self.transformers and capture:
                h, m = self.transformers[k](h, context, capture=True, **where)  # m [B, h, w, 77]
                maps = m if maps is None else maps + m
            elif self.transformers:
                h = self.transformers[k](h, context, **where)              # [B, h, w, C]
            saved.append(h)
        if self.resample is not None:
            h = self.resample(h)                                           # [B, h/2 or 2h, ..]
            saved.append(h)
        return (h, saved, maps) if capture else (h, saved)


class UNet(BlockModel):
    """``unet(latents, timesteps, context)`` -> eps, all channels-last. See the module table."""

    def __init__(self, config: UNetConfig = UNetConfig(), **kwargs):
        super().__init__(**kwargs)
        self.config = c = config
        ch = c.block_channels
        gn = dict(norm_groups=c.norm_groups, norm_eps=c.norm_eps)
        res = dict(gn, time_width=c.time_width)

        self.time_mlp_1 = keras.layers.Dense(c.time_width, name="time_mlp_1")
        self.time_mlp_2 = keras.layers.Dense(c.time_width, name="time_mlp_2")
        self.conv_in = keras.layers.Conv2D(ch[0], 3, padding="same", name="conv_in")

        def transformers(width, level, n, prefix):
            if not c.attention_levels[level]:
                return []
            return [SpatialTransformer(width, c.heads[level], c.transformer_depth, **gn,
                                       context_width=c.context_width,
                                       name=f"{prefix}_transformer_{k}") for k in range(n)]

        # down
        self.down = []
        skip_channels, width = [ch[0]], ch[0]
        for i, out in enumerate(ch):
            resnets = []
            for k in range(c.layers_per_block):
                resnets.append(ResnetBlock(width, out, **res, name=f"down{i}_resnet_{k}"))
                width = out
                skip_channels.append(out)
            last = i == len(ch) - 1
            resample = None if last else Downsample(out, name=f"down{i}_downsample")
            if not last:
                skip_channels.append(out)
            self.down.append(UNetLevel(resnets, transformers(out, i, c.layers_per_block, f"down{i}"),
                                       resample, name=f"down_{i}"))

        # middle
        self.mid_resnet_1 = ResnetBlock(width, width, **res, name="mid_resnet_1")
        self.mid_transformer = SpatialTransformer(width, c.heads[-1], c.transformer_depth, **gn,
                                                  context_width=c.context_width,
                                                  name="mid_transformer")
        self.mid_resnet_2 = ResnetBlock(width, width, **res, name="mid_resnet_2")

        # up
        self.up = []
        for i, out in enumerate(reversed(ch)):
            level = len(ch) - 1 - i
            resnets = []
            for k in range(c.layers_per_block + 1):
                resnets.append(ResnetBlock(width + skip_channels.pop(), out, **res,
                                           name=f"up{i}_resnet_{k}"))
                width = out
            resample = Upsample(out, name=f"up{i}_upsample") if level > 0 else None
            self.up.append(UNetLevel(resnets, transformers(out, level, c.layers_per_block + 1,
                                                           f"up{i}"), resample, name=f"up_{i}"))

        self.norm_out = keras.layers.GroupNormalization(c.norm_groups, epsilon=c.norm_eps,
                                                        name="norm_out")
        self.conv_out = keras.layers.Conv2D(c.out_channels, 3, padding="same", name="conv_out")

        self.build()  # every weight, from the config's shapes (no forward pass)

    def sublayer_shapes(self):
        c = self.config
        return [(self.time_mlp_1, vector(c.block_channels[0])), (self.time_mlp_2, vector(c.time_width)),
                (self.conv_in, image(c.in_channels)), *[(level, None) for level in self.down],
                (self.mid_resnet_1, None), (self.mid_transformer, None), (self.mid_resnet_2, None),
                *[(level, None) for level in self.up], (self.norm_out, image(c.block_channels[0])),
                (self.conv_out, image(c.block_channels[0]))]

    @property
    def attention_resolutions(self) -> tuple[int, ...]:
        """The resolution levels k (latent grid / 2^k) that hold cross-attention layers, in
        the order ``call_with_attention`` returns their maps (the middle block is at the last)."""
        c = self.config
        n = len(c.block_channels)
        return tuple(k for k in range(n) if c.attention_levels[k] or k == n - 1)

    def call(self, latents, timesteps, context):
        return self._forward(latents, timesteps, context, capture=False)

    def call_with_attention(self, latents, timesteps, context):
        """``(eps, maps)``: eps exactly as ``call``, and for each of ``attention_resolutions``
        the sum of that level's cross-attention maps (head-mean softmax(QKᵀ/√d)), upsampled
        (bilinear) to the latent grid: a tuple of ``[B, h, w, 77]`` (see attention_maps.py)."""
        return self._forward(latents, timesteps, context, capture=True)

    def call_with_features(self, latents, timesteps, context):
        """``(eps, features)``: eps exactly as ``call``, and the activations along the U by name
        (n levels; level k's grid is h/2^k x w/2^k, its channels C_k):

        | name               | shape                 | what                                 |
        |--------------------|-----------------------|--------------------------------------|
        | ``time_embedding`` | [B, 4 C0]             | emb(t), after the time MLP           |
        | ``conv_in``        | [B, h, w, C0]         | x_t lifted to C0 channels            |
        | ``down{k}``        | level k's grid, C_k   | down level k, before its downsample  |
        | ``mid``            | level n-1's, C_{n-1}  | the middle block's output            |
        | ``up{i}``          | level n-1-i's         | up level i, before its upsample      |

        ``explore.UNetArchitecture(config, h).features()`` gives the same names and shapes."""
        return self._forward(latents, timesteps, context, capture=False, features=True)

    def call_with_hook(self, latents, timesteps, context, hook_inputs, hook=None):
        """``(eps, tape)``: eps with every attention layer's A passed through ``hook`` (an
        ``AttentionHook``, attention_hook.py), and what the hook recorded, by key.
        ``hook_inputs``: this call's arrays for the hook. Compile it with the hook bound:
        ``unet.graph("call_with_hook", hook=hook)(latents, t, context, hook_inputs)``."""
        return self._forward(latents, timesteps, context, capture=False,
                             hook=HookCall(hook or AttentionHook(), hook_inputs))

    def sites(self) -> list[AttentionSite]:
        """Every attention layer a hook can see, in call order (``attention_sites``)."""
        return attention_sites(self.config)

    def _forward(self, latents, timesteps, context, capture: bool, features: bool = False,
                 hook=None):
        c = self.config
        t_emb = timestep_embedding(timesteps, c.block_channels[0], c.flip_sin_to_cos,
                                   c.freq_shift)                                 # [B, C0]
        t_emb = self.time_mlp_2(ops.silu(self.time_mlp_1(t_emb)))               # [B, 4 C0]
        maps = {}                                                                # k -> [B, h/2^k, w/2^k, 77]
        kept = {"time_embedding": t_emb} if features else None                   # name -> activation

        def add(k, m):
            if m is not None:
                maps[k] = m if k not in maps else maps[k] + m

        def keep(name, x):
            if features:
                kept[name] = x

        h = self.conv_in(latents)                                               # [B, h, w, C0]
        skips = [h]
        keep("conv_in", h)
        # down
        for k, level in enumerate(self.down):
            where = {} if hook is None else {"hook": hook, "place": ("down", k)}
            h, saved, *m = level(h, t_emb, context, capture=capture, **where)   # [B, h/2^k, w/2^k, C_k]
            skips += saved
            add(k, m[0] if m else None)
            keep(f"down{k}", saved[-2] if level.resample is not None else h)  # own grid
        # middle
        h = self.mid_resnet_1(h, t_emb)
        mid = {} if hook is None else {"hook": hook, "place": ("mid", len(self.down) - 1, 0)}
        if capture:
            h, m = self.mid_transformer(h, context, capture=True, **mid)
            add(len(self.down) - 1, m)
        else:
            h = self.mid_transformer(h, context, **mid)
        h = self.mid_resnet_2(h, t_emb)                                         # [B, h/8, w/8, C_3]
        keep("mid", h)
        # up
        for i, level in enumerate(self.up):
            n = len(level.resnets)
            where = {} if hook is None else {"hook": hook, "place": ("up", len(self.up) - 1 - i)}
            h, saved, *m = level(h, t_emb, context, skips=skips[-n:], capture=capture,
                                 **where)                                        # [B, 2h, 2w, C]
            skips = skips[:-n]
            add(len(self.up) - 1 - i, m[0] if m else None)
            keep(f"up{i}", saved[-2] if level.resample is not None else h)
        eps = ops.cast(self.conv_out(ops.silu(self.norm_out(h))), "float32")    # [B, h, w, 4]
        if features:
            return eps, kept
        if hook is not None:
            return eps, dict(hook.tape)
        if not capture:
            return eps
        grid = (ops.shape(latents)[1], ops.shape(latents)[2])
        return eps, tuple(maps[k] if k == 0 else
                          ops.image.resize(maps[k], grid, interpolation="bilinear")  # [B, h, w, 77]
                          for k in self.attention_resolutions)

    def get_config(self) -> dict:
        return {"name": self.name, "config": self.config.get_config()}

    @classmethod
    def from_config(cls, config: dict) -> "UNet":
        cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in config["config"].items()}
        return cls(UNetConfig(**cfg), name=config.get("name"))
