"""The VAE (AutoencoderKL): images <-> latents, 8x smaller on each side, 4 channels.

Stable Diffusion denoises in the latent space of this autoencoder (Rombach et al. 2022). The
encoder maps an image to a Gaussian q(z|x) = N(μ, σ²); the decoder maps a latent back.

**Latent scaling.** The raw latent μ has a standard deviation of about 5.5 for SD's VAE, so
latents are multiplied by ``scaling_factor`` (0.18215 for SD v1.5) to make them roughly unit
variance, the scale the diffusion schedule assumes. That multiplication is done *inside*:

    encode(x) = 0.18215 · μ(x)             x in [-1, 1], [B, H, W, 3] -> [B, H/8, W/8, 4]
    decode(z) = D(z / 0.18215)             [B, H/8, W/8, 4] -> [B, H, W, 3], nominally [-1, 1]

so everything outside this file (scheduler, UNet, trace) sees scaled latents only. ``decode``
does not clip; the pipeline clips when it converts to uint8.
"""

from __future__ import annotations

from explainer.models.backend import keras, ops  # Keras, imported quietly
from explainer.models.block import Block, BlockModel, image
from explainer.models.attention import Attention
from explainer.models.configs import VAEConfig
from explainer.models.unet_blocks import Downsample, ResnetBlock, Upsample


class VAEAttention(Block):
    """x + Attention(GroupNorm(x)) over the h·w pixels, one head (the VAE's middle block)."""

    def __init__(self, width: int, norm_groups: int, norm_eps: float, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.norm = keras.layers.GroupNormalization(norm_groups, epsilon=norm_eps, name="norm")
        self.attention = Attention(width, heads=1, qkv_bias=True, name="attention")

    def sublayer_shapes(self):
        return [(self.norm, image(self.width)), (self.attention, None)]

    def call(self, x):
        b, h, w = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2]
        tokens = ops.reshape(self.norm(x), (b, h * w, self.width))          # [B, hw, C]
        return x + ops.reshape(self.attention(tokens), (b, h, w, self.width))


class VAEMiddle(Block):
    """ResNet block, attention, ResNet block, at the lowest resolution."""

    def __init__(self, width: int, config: VAEConfig, **kwargs):
        super().__init__(**kwargs)
        gn = dict(norm_groups=config.norm_groups, norm_eps=config.norm_eps, time_conditioned=False)
        self.resnet_1 = ResnetBlock(width, width, **gn, name="resnet_1")
        self.attention = (VAEAttention(width, config.norm_groups, config.norm_eps, name="attention")
                          if config.mid_attention else None)
        self.resnet_2 = ResnetBlock(width, width, **gn, name="resnet_2")

    def sublayer_shapes(self):
        return [(self.resnet_1, None), (self.attention, None), (self.resnet_2, None)]

    def call(self, h):
        h = self.resnet_1(h)
        if self.attention is not None:
            h = self.attention(h)
        return self.resnet_2(h)


class VAEEncoder(Block):
    """x [B, H, W, 3] -> (μ, log σ²), each [B, H/8, W/8, 4] (unscaled)."""

    def __init__(self, config: VAEConfig, **kwargs):
        super().__init__(**kwargs)
        c, ch = config, config.block_channels
        gn = dict(norm_groups=c.norm_groups, norm_eps=c.norm_eps, time_conditioned=False)
        self.conv_in = keras.layers.Conv2D(ch[0], 3, padding="same", name="conv_in")
        self.resnets, self.downsamples, width = [], [], ch[0]
        for i, out in enumerate(ch):
            for k in range(c.layers_per_block):
                self.resnets.append(ResnetBlock(width, out, **gn, name=f"down{i}_resnet_{k}"))
                width = out
            if i < len(ch) - 1:
                self.downsamples.append(Downsample(out, padding=(0, 1), name=f"down{i}_downsample"))
        self.middle = VAEMiddle(width, c, name="middle")
        self.norm_out = keras.layers.GroupNormalization(c.norm_groups, epsilon=c.norm_eps,
                                                        name="norm_out")
        self.conv_out = keras.layers.Conv2D(2 * c.latent_channels, 3, padding="same",
                                            name="conv_out")
        self.quant_conv = keras.layers.Conv2D(2 * c.latent_channels, 1, name="quant_conv")
        self.config = c

    def sublayer_shapes(self):
        c, last = self.config, self.config.block_channels[-1]
        return [(self.conv_in, image(c.in_channels)), *[(r, None) for r in self.resnets],
                *[(d, None) for d in self.downsamples], (self.middle, None),
                (self.norm_out, image(last)), (self.conv_out, image(last)),
                (self.quant_conv, image(2 * c.latent_channels))]

    def call(self, x):
        c = self.config
        h = self.conv_in(x)                                              # [B, H, W, C0]
        # down
        for i in range(len(c.block_channels)):
            for k in range(c.layers_per_block):
                h = self.resnets[i * c.layers_per_block + k](h)
            if i < len(self.downsamples):
                h = self.downsamples[i](h)                               # [B, H/2^(i+1), .., C_i]
        # middle
        h = self.middle(h)                                               # [B, H/8, W/8, C_3]
        moments = self.quant_conv(self.conv_out(ops.silu(self.norm_out(h))))  # [B, H/8, W/8, 8]
        mean, logvar = ops.split(moments, 2, axis=-1)                    # [B, H/8, W/8, 4] each
        return mean, ops.clip(logvar, -30.0, 20.0)


class VAEDecoder(Block):
    """Unscaled z [B, h, w, 4] -> image [B, 8h, 8w, 3], nominally in [-1, 1]."""

    def __init__(self, config: VAEConfig, **kwargs):
        super().__init__(**kwargs)
        c, ch = config, tuple(reversed(config.block_channels))
        gn = dict(norm_groups=c.norm_groups, norm_eps=c.norm_eps, time_conditioned=False)
        self.post_quant_conv = keras.layers.Conv2D(c.latent_channels, 1, name="post_quant_conv")
        self.conv_in = keras.layers.Conv2D(ch[0], 3, padding="same", name="conv_in")
        self.middle = VAEMiddle(ch[0], c, name="middle")
        self.resnets, self.upsamples, width = [], [], ch[0]
        for i, out in enumerate(ch):
            for k in range(c.layers_per_block + 1):
                self.resnets.append(ResnetBlock(width, out, **gn, name=f"up{i}_resnet_{k}"))
                width = out
            if i < len(ch) - 1:
                self.upsamples.append(Upsample(out, name=f"up{i}_upsample"))
        self.norm_out = keras.layers.GroupNormalization(c.norm_groups, epsilon=c.norm_eps,
                                                        name="norm_out")
        self.conv_out = keras.layers.Conv2D(c.out_channels, 3, padding="same", name="conv_out")
        self.config = c

    def sublayer_shapes(self):
        c, first = self.config, self.config.block_channels[0]
        return [(self.post_quant_conv, image(c.latent_channels)),
                (self.conv_in, image(c.latent_channels)), (self.middle, None),
                *[(r, None) for r in self.resnets], *[(u, None) for u in self.upsamples],
                (self.norm_out, image(first)), (self.conv_out, image(first))]

    def call(self, z):
        c, n = self.config, self.config.layers_per_block + 1
        h = self.conv_in(self.post_quant_conv(z))                        # [B, h, w, C_3]
        # middle
        h = self.middle(h)
        # up
        for i in range(len(c.block_channels)):
            for k in range(n):
                h = self.resnets[i * n + k](h)
            if i < len(self.upsamples):
                h = self.upsamples[i](h)                                 # [B, 2^(i+1) h, .., C]
        return self.conv_out(ops.silu(self.norm_out(h)))                 # [B, 8h, 8w, 3]


class VAE(BlockModel):
    """``vae.encode(images)`` -> scaled latents; ``vae.decode(latents)`` -> images."""

    def __init__(self, config: VAEConfig = VAEConfig(), **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.encoder = VAEEncoder(config, name="encoder")
        self.decoder = VAEDecoder(config, name="decoder")
        self.build()  # every weight, from the config's shapes (no forward pass)

    def sublayer_shapes(self):
        return [(self.decoder, None), (self.encoder, None)]

    def encode_distribution(self, images):
        """(μ, log σ²) of q(z|x), unscaled, each [B, H/f, W/f, 4]."""
        return self.encoder(images)

    def encode(self, images):
        """Scaled latent mean 0.18215·μ(x): images [B, H, W, 3] in [-1, 1] -> [B, H/8, W/8, 4]."""
        mean, _ = self.encoder(images)
        return mean * self.config.scaling_factor

    def decode(self, latents):
        """Images from scaled latents: [B, h, w, 4] -> [B, 8h, 8w, 3], nominally [-1, 1]."""
        return self.decoder(latents / self.config.scaling_factor)

    def call(self, images):
        """Round trip: decode(encode(images))."""
        return self.decode(self.encode(images))

    def get_config(self) -> dict:
        return {"name": self.name, "config": self.config.get_config()}

    @classmethod
    def from_config(cls, config: dict) -> "VAE":
        cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in config["config"].items()}
        return cls(VAEConfig(**cfg), name=config.get("name"))
