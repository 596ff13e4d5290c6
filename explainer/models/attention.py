"""Multi-head attention, the one formula every network here shares.

    Attention(Q, K, V) = softmax(Q Kᵀ / √d) V          (Vaswani et al. 2017)

| code name | symbol | meaning                                            |
|-----------|--------|----------------------------------------------------|
| ``x``     | x      | the sequence that asks: [B, N, C]                  |
| ``context``| c     | the sequence that answers (cross-attention): [B, M, C_c]; x itself if None |
| ``q k v`` | Q K V  | queries, keys, values after their projections      |
| ``d``     | d      | width of one head, C / heads                       |
| ``probs`` | A      | attention weights softmax(QKᵀ/√d): [B, heads, N, M] |

Used three ways: the CLIP text encoder (causal self-attention, biased projections), the UNet's
spatial transformers (self-attention over latent pixels, then cross-attention from latent
pixels to the 77 token vectors, unbiased q/k/v) and the VAE's middle block (one head).
"""

from __future__ import annotations

# keras and ops come from backend/, which imports Keras quietly
from explainer.models.backend import fused_attention, keras, ops
from explainer.models.block import Block, vector


class Attention(Block):
    """softmax(Q Kᵀ/√d) V with ``heads`` heads; self-attention unless a context is given.

    Args:
        width: C, the channels of ``x`` and of the output.
        heads: number of heads; each has d = width / heads channels.
        qkv_bias: whether the q, k, v projections have a bias (CLIP and the VAE: yes; the
            UNet: no). The output projection always has one.
        causal: mask position j > i, so a token sees only itself and earlier tokens (CLIP).
        context_width: the channels of the context that k and v read (cross-attention: the
            text encoder's width); None for self-attention (= ``width``).
    """

    def __init__(self, width: int, heads: int, qkv_bias: bool = False, causal: bool = False,
                 context_width: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if width % heads:
            raise ValueError(f"Attention: width {width} is not divisible by heads {heads}")
        self.width, self.heads, self.qkv_bias, self.causal = width, heads, qkv_bias, causal
        self.context_width = context_width
        self.to_q = keras.layers.Dense(width, use_bias=qkv_bias, name="to_q")
        self.to_k = keras.layers.Dense(width, use_bias=qkv_bias, name="to_k")
        self.to_v = keras.layers.Dense(width, use_bias=qkv_bias, name="to_v")
        self.to_out = keras.layers.Dense(width, name="to_out")

    def sublayer_shapes(self):
        context = vector(self.context_width or self.width)
        return [(self.to_q, vector(self.width)), (self.to_k, context), (self.to_v, context),
                (self.to_out, vector(self.width))]

    def call(self, x, context=None, return_probs: bool = False, hook=None, site=None):
        """Attention(x, context) ``[B, N, C]``; with ``return_probs`` also A ``[B, heads, N, M]``.

        ``return_probs`` is a Python flag: a graph traced without it has no extra op.
        ``hook`` (a ``HookCall``, attention_hook.py) sees A at ``site`` and returns the A used."""
        context = x if context is None else context
        b, n, m = ops.shape(x)[0], ops.shape(x)[1], ops.shape(context)[1]
        h, d = self.heads, self.width // self.heads
        q = ops.reshape(self.to_q(x), (b, n, h, d))                # [B, N, heads, d]
        k = ops.reshape(self.to_k(context), (b, m, h, d))          # [B, M, heads, d]
        v = ops.reshape(self.to_v(context), (b, m, h, d))          # [B, M, heads, d]
        if not return_probs and hook is None and fused_attention():  # one kernel, A never stored
            out = ops.dot_product_attention(q, k, v, scale=d ** -0.5, is_causal=self.causal)
            return self.to_out(ops.reshape(out, (b, n, self.width)))   # [B, N, C]
        q = ops.transpose(q, (0, 2, 1, 3))                          # [B, heads, N, d]
        k = ops.transpose(k, (0, 2, 3, 1))                          # [B, heads, d, M]
        v = ops.transpose(v, (0, 2, 1, 3))                          # [B, heads, M, d]
        scores = ops.matmul(q * (d ** -0.5), k)                     # [B, heads, N, M]
        if self.causal:
            allowed = ops.tril(ops.ones((n, m), dtype="bool"))      # j <= i
            scores = ops.where(allowed, scores, ops.cast(float("-inf"), scores.dtype))
        probs = ops.softmax(scores, axis=-1)                        # A, rows sum to 1
        if hook is not None:
            probs = hook(probs, site)                               # read or changed by the hook
        out = ops.matmul(probs, v)                                  # [B, heads, N, d]
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (b, n, self.width))  # [B, N, C]
        return (self.to_out(out), probs) if return_probs else self.to_out(out)

    def get_config(self) -> dict:
        return {**super().get_config(), "width": self.width, "heads": self.heads,
                "qkv_bias": self.qkv_bias, "causal": self.causal,
                "context_width": self.context_width}
