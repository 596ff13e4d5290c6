"""How many parameters each block of the networks has, from its sizes alone (no weights).

One function per block of ``models/`` (same names, same arguments), so a network's count can
be read off its config: SD v1.5's UNet is counted without allocating its 3.4 GB. The tests
check every function against the built Keras block's ``count_params()``, and the totals
against diffusers' and transformers' own models.

| layer               | parameters                          |
|---------------------|-------------------------------------|
| Conv2D k×k, C→C'    | k·k·C·C' weights + C' biases        |
| Dense N→N'          | N·N' weights (+ N' biases)          |
| Group/LayerNorm C   | C scales + C offsets                |
"""

from __future__ import annotations


def conv(c_in: int, c_out: int, kernel: int = 3) -> int:
    """A ``kernel``×``kernel`` convolution with a bias."""
    return kernel * kernel * c_in * c_out + c_out


def dense(n_in: int, n_out: int, bias: bool = True) -> int:
    """A fully connected layer (``keras.layers.Dense``)."""
    return n_in * n_out + (n_out if bias else 0)


def norm(channels: int) -> int:
    """GroupNormalization or LayerNormalization over ``channels``: a scale and an offset each."""
    return 2 * channels


def resnet_block(c_in: int, c_out: int, time_width: int | None = None) -> int:
    """``ResnetBlock``: GN, conv, (+ Dense of emb(t) when ``time_width``), GN, conv, and a 1×1
    conv on the residual path when the widths differ. The VAE's blocks have no ``time_width``."""
    return (norm(c_in) + conv(c_in, c_out) + (dense(time_width, c_out) if time_width else 0)
            + norm(c_out) + conv(c_out, c_out) + (conv(c_in, c_out, 1) if c_in != c_out else 0))


def resample(channels: int) -> int:
    """``Downsample`` (3×3 conv, stride 2) or ``Upsample`` (nearest ×2, 3×3 conv): one conv."""
    return conv(channels, channels)


def attention(width: int, context_width: int | None = None, qkv_bias: bool = False) -> int:
    """``Attention``: q from x, k and v from the context (x itself when None), an output layer."""
    kv_in = context_width or width
    return (dense(width, width, qkv_bias) + 2 * dense(kv_in, width, qkv_bias)
            + dense(width, width))


def transformer_block(width: int, context_width: int) -> int:
    """``TransformerBlock``: LN + self-attention, LN + cross-attention, LN + GEGLU MLP (4C)."""
    return (3 * norm(width) + attention(width) + attention(width, context_width)
            + dense(width, 8 * width) + dense(4 * width, width))


def spatial_transformer(width: int, depth: int, context_width: int) -> int:
    """``SpatialTransformer``: GN, proj_in, ``depth`` transformer blocks, proj_out."""
    return (norm(width) + 2 * dense(width, width)
            + depth * transformer_block(width, context_width))


def text_encoder_block(width: int, mlp_width: int) -> int:
    """``TextEncoderBlock``: LN + causal self-attention (biased q, k, v), LN + MLP."""
    return (2 * norm(width) + attention(width, qkv_bias=True) + dense(width, mlp_width)
            + dense(mlp_width, width))


def vae_attention(width: int) -> int:
    """``VAEAttention``: GN + one-head self-attention with biased q, k, v."""
    return norm(width) + attention(width, qkv_bias=True)
