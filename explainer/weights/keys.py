"""Checkpoint key names -> our Keras variables: the translation table, in one place.

Each function walks one of our models and returns ``{checkpoint_key: (variable, layout)}``
for the diffusers/transformers safetensors layout. ``layout`` says how a PyTorch tensor
becomes a Keras one:

| layout     | PyTorch                     | Keras                      |
|------------|-----------------------------|----------------------------|
| ``linear`` | Linear [out, in] (or a 1x1 Conv2d [out, in, 1, 1]) | Dense kernel [in, out] |
| ``conv``   | Conv2d [out, in, kh, kw]    | Conv2D kernel [kh, kw, in, out] |
| ``copy``   | biases, norms, embeddings   | the same shape             |

Reading this file side by side with ``unet.py`` shows where every SD tensor goes.
"""

from __future__ import annotations

Entry = tuple  # (keras.Variable, layout)
KeyMap = dict  # checkpoint key -> Entry

# Buffers some checkpoints carry that are not weights (checked, then ignored).
IGNORED_BUFFERS = ("text_model.embeddings.position_ids", "embeddings.position_ids")

# Older SD VAE checkpoints name the middle block's attention differently; both are accepted.
LEGACY_VAE_ATTENTION = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn",
                        "group_norm": "group_norm"}


def _dense(prefix: str, layer, bias: bool = True) -> KeyMap:
    out = {f"{prefix}.weight": (layer.kernel, "linear")}
    if bias:
        out[f"{prefix}.bias"] = (layer.bias, "copy")
    return out


def _conv(prefix: str, layer) -> KeyMap:
    return {f"{prefix}.weight": (layer.kernel, "conv"), f"{prefix}.bias": (layer.bias, "copy")}


def _norm(prefix: str, layer) -> KeyMap:
    return {f"{prefix}.weight": (layer.gamma, "copy"), f"{prefix}.bias": (layer.beta, "copy")}


def _attention(prefix: str, attn, names: dict | None = None) -> KeyMap:
    names = names or {"to_q": "to_q", "to_k": "to_k", "to_v": "to_v", "to_out.0": "to_out.0"}
    m = {}
    for ours, theirs in (("to_q", "to_q"), ("to_k", "to_k"), ("to_v", "to_v")):
        m.update(_dense(f"{prefix}.{names[theirs]}", getattr(attn, ours), bias=attn.qkv_bias))
    m.update(_dense(f"{prefix}.{names['to_out.0']}", attn.to_out))
    return m


# -- CLIP text encoder (transformers' CLIPTextModel) -------------------------------------------

def text_encoder_keys(model, prefix: str = "text_model.") -> KeyMap:
    """``prefix``: "text_model." in SD v1.5's file and transformers 4.x saves; "" in 5.x saves."""
    m = {
        f"{prefix}embeddings.token_embedding.weight": (model.token_embedding.embeddings, "copy"),
        f"{prefix}embeddings.position_embedding.weight": (model.position_embedding.embeddings,
                                                           "copy"),
    }
    for i, block in enumerate(model.blocks):
        q = f"{prefix}encoder.layers.{i}"
        m.update(_norm(f"{q}.layer_norm1", block.norm1))
        m.update(_attention(f"{q}.self_attn", block.attention, names={
            "to_q": "q_proj", "to_k": "k_proj", "to_v": "v_proj", "to_out.0": "out_proj"}))
        m.update(_norm(f"{q}.layer_norm2", block.norm2))
        m.update(_dense(f"{q}.mlp.fc1", block.fc1))
        m.update(_dense(f"{q}.mlp.fc2", block.fc2))
    m.update(_norm(f"{prefix}final_layer_norm", model.final_norm))
    return m


# -- UNet (diffusers' UNet2DConditionModel) ---------------------------------------------------

def _resnet(prefix: str, block) -> KeyMap:
    m = {**_norm(f"{prefix}.norm1", block.norm1), **_conv(f"{prefix}.conv1", block.conv1),
         **_norm(f"{prefix}.norm2", block.norm2), **_conv(f"{prefix}.conv2", block.conv2)}
    if block.time_proj is not None:
        m.update(_dense(f"{prefix}.time_emb_proj", block.time_proj))
    if block.skip is not None:
        m.update(_conv(f"{prefix}.conv_shortcut", block.skip))
    return m


def _spatial_transformer(prefix: str, st) -> KeyMap:
    m = {**_norm(f"{prefix}.norm", st.norm), **_dense(f"{prefix}.proj_in", st.proj_in),
         **_dense(f"{prefix}.proj_out", st.proj_out)}
    for j, tb in enumerate(st.blocks):
        q = f"{prefix}.transformer_blocks.{j}"
        m.update(_norm(f"{q}.norm1", tb.norm1))
        m.update(_attention(f"{q}.attn1", tb.self_attention))
        m.update(_norm(f"{q}.norm2", tb.norm2))
        m.update(_attention(f"{q}.attn2", tb.cross_attention))
        m.update(_norm(f"{q}.norm3", tb.norm3))
        m.update(_dense(f"{q}.ff.net.0.proj", tb.geglu))
        m.update(_dense(f"{q}.ff.net.2", tb.ff_out))
    return m


def _level(prefix: str, level, resample: str) -> KeyMap:
    m = {}
    for k, resnet in enumerate(level.resnets):
        m.update(_resnet(f"{prefix}.resnets.{k}", resnet))
    for k, st in enumerate(level.transformers):
        m.update(_spatial_transformer(f"{prefix}.attentions.{k}", st))
    if level.resample is not None:
        m.update(_conv(f"{prefix}.{resample}.0.conv", level.resample.conv))
    return m


def unet_keys(model) -> KeyMap:
    m = {**_dense("time_embedding.linear_1", model.time_mlp_1),
         **_dense("time_embedding.linear_2", model.time_mlp_2),
         **_conv("conv_in", model.conv_in)}
    for i, level in enumerate(model.down):
        m.update(_level(f"down_blocks.{i}", level, "downsamplers"))
    m.update(_resnet("mid_block.resnets.0", model.mid_resnet_1))
    m.update(_spatial_transformer("mid_block.attentions.0", model.mid_transformer))
    m.update(_resnet("mid_block.resnets.1", model.mid_resnet_2))
    for i, level in enumerate(model.up):
        m.update(_level(f"up_blocks.{i}", level, "upsamplers"))
    m.update(_norm("conv_norm_out", model.norm_out))
    m.update(_conv("conv_out", model.conv_out))
    return m


# -- VAE (diffusers' AutoencoderKL) -----------------------------------------------------------

def _vae_middle(prefix: str, middle, legacy: bool) -> KeyMap:
    m = {**_resnet(f"{prefix}.resnets.0", middle.resnet_1),
         **_resnet(f"{prefix}.resnets.1", middle.resnet_2)}
    if middle.attention is not None:
        names = LEGACY_VAE_ATTENTION if legacy else None
        q = f"{prefix}.attentions.0"
        m.update(_norm(f"{q}.group_norm", middle.attention.norm))
        m.update(_attention(q, middle.attention.attention, names=names))
    return m


def vae_keys(model, legacy_attention: bool = False) -> KeyMap:
    enc, dec, lpb = model.encoder, model.decoder, model.config.layers_per_block
    m = {**_conv("encoder.conv_in", enc.conv_in)}
    for n, resnet in enumerate(enc.resnets):
        m.update(_resnet(f"encoder.down_blocks.{n // lpb}.resnets.{n % lpb}", resnet))
    for i, down in enumerate(enc.downsamples):
        m.update(_conv(f"encoder.down_blocks.{i}.downsamplers.0.conv", down.conv))
    m.update(_vae_middle("encoder.mid_block", enc.middle, legacy_attention))
    m.update(_norm("encoder.conv_norm_out", enc.norm_out))
    m.update(_conv("encoder.conv_out", enc.conv_out))
    m.update(_conv("quant_conv", enc.quant_conv))

    m.update(_conv("post_quant_conv", dec.post_quant_conv))
    m.update(_conv("decoder.conv_in", dec.conv_in))
    m.update(_vae_middle("decoder.mid_block", dec.middle, legacy_attention))
    for n, resnet in enumerate(dec.resnets):
        m.update(_resnet(f"decoder.up_blocks.{n // (lpb + 1)}.resnets.{n % (lpb + 1)}", resnet))
    for i, up in enumerate(dec.upsamples):
        m.update(_conv(f"decoder.up_blocks.{i}.upsamplers.0.conv", up.conv))
    m.update(_norm("decoder.conv_norm_out", dec.norm_out))
    m.update(_conv("decoder.conv_out", dec.conv_out))
    return m


def is_legacy_vae(checkpoint_keys) -> bool:
    """Whether a VAE checkpoint uses the old attention names (query/key/value/proj_attn)."""
    return any(k.endswith(".attentions.0.query.weight") for k in checkpoint_keys)


def text_encoder_prefix(checkpoint_keys) -> str:
    """"text_model." if the checkpoint's CLIP keys carry that prefix, else ""."""
    return "text_model." if any(k.startswith("text_model.") for k in checkpoint_keys) else ""
