"""The CLIP text encoder: 77 token ids become 77 context vectors (77 x 768 for SD v1.5).

A transformer (Radford et al. 2021) with learned token and position embeddings, pre-LayerNorm
blocks of causal self-attention and a quick-GELU MLP, and a final LayerNorm. Stable Diffusion
v1 conditions the UNet on the **last hidden state**, all 77 vectors (not CLIP's pooled vector),
computed with the causal mask only: padding is not masked, so padding positions carry
information about the prompt too.

    h_0 = E_tok[ids] + E_pos                                   [B, 77, C]
    h_l = h_{l-1} + Attn(LN(h_{l-1}))  ;  h_l = h_l + MLP(LN(h_l))
    context = LN_final(h_L)                                    [B, 77, C]
"""

from __future__ import annotations

from explainer.models.backend import keras, ops  # Keras, imported quietly
from explainer.models.block import Block, BlockModel, vector
from explainer.models.attention import Attention
from explainer.models.configs import TextEncoderConfig


def quick_gelu(x):
    """CLIP's GELU approximation x·σ(1.702 x)."""
    return x * ops.sigmoid(1.702 * x)


ACTIVATIONS = {"quick_gelu": quick_gelu, "gelu": lambda x: keras.activations.gelu(x, False)}


class TextEncoderBlock(Block):
    """One pre-LN transformer block: causal self-attention, then the MLP, each with a residual."""

    def __init__(self, config: TextEncoderConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = c = config
        self.norm1 = keras.layers.LayerNormalization(epsilon=c.norm_eps, name="norm1")
        self.attention = Attention(c.width, c.heads, qkv_bias=True, causal=True, name="attention")
        self.norm2 = keras.layers.LayerNormalization(epsilon=c.norm_eps, name="norm2")
        self.fc1 = keras.layers.Dense(c.mlp_width, name="fc1")
        self.fc2 = keras.layers.Dense(c.width, name="fc2")
        self.activation = ACTIVATIONS[c.activation]

    def sublayer_shapes(self):
        c = vector(self.config.width)
        return [(self.norm1, c), (self.attention, c), (self.norm2, c), (self.fc1, c),
                (self.fc2, vector(self.config.mlp_width))]

    def call(self, h):
        h = h + self.attention(self.norm1(h))                          # [B, 77, C]
        return h + self.fc2(self.activation(self.fc1(self.norm2(h))))  # [B, 77, C]


class TextEncoder(BlockModel):
    """``text_encoder(ids)``: ids ``[B, 77]`` int -> context ``[B, 77, width]``."""

    def __init__(self, config: TextEncoderConfig = TextEncoderConfig(), **kwargs):
        super().__init__(**kwargs)
        if config.activation not in ACTIVATIONS:
            raise ValueError(
                f"TextEncoderConfig.activation {config.activation!r} is not supported; "
                f"use one of {sorted(ACTIVATIONS)}"
            )
        self.config = config
        c = config
        self.token_embedding = keras.layers.Embedding(c.vocab_size, c.width, name="token_embedding")
        self.position_embedding = keras.layers.Embedding(
            c.max_positions, c.width, name="position_embedding"
        )
        self.blocks = [TextEncoderBlock(c, name=f"block_{i}") for i in range(c.layers)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=c.norm_eps, name="final_norm")
        self.build()  # every weight, from the config's shapes (no forward pass)

    def sublayer_shapes(self):
        return [(self.token_embedding, None), (self.position_embedding, None),
                *[(block, None) for block in self.blocks],
                (self.final_norm, vector(self.config.width))]

    def call(self, ids, return_hidden_states: bool = False):
        return self.encode_embeddings(self.token_embedding(ids), return_hidden_states)

    def encode_embeddings(self, token_vectors, return_hidden_states: bool = False):
        """The encoder from the token vectors E_tok[ids] ``[B, 77, C]`` on: what textual
        inversion trains through, with one learned vector in place of a word's row."""
        n = ops.shape(token_vectors)[1]
        positions = ops.arange(n)
        h = token_vectors + self.position_embedding(positions)[None]              # [B, 77, C]
        hidden = [h]
        for block in self.blocks:
            h = block(h)                                                      # [B, 77, C]
            hidden.append(h)
        context = self.final_norm(h)                                          # [B, 77, C]
        return (context, hidden) if return_hidden_states else context

    def get_config(self) -> dict:
        return {"name": self.name, "config": self.config.get_config()}

    @classmethod
    def from_config(cls, config: dict) -> "TextEncoder":
        return cls(TextEncoderConfig(**config["config"]), name=config.get("name"))
