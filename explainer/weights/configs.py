"""A diffusers folder's ``config.json`` files -> our config dataclasses, refusing what we can't express.

The models here are SD v1-style: any widths, depths, head counts, attention levels and sizes,
but the block types, activations and options of SD v1.x. A config that asks for anything
else (SDXL's added embeddings, a different block type, ...) is refused with a message naming
the field, its value, and what is supported, before any weight is read.
"""

from __future__ import annotations

import json
from pathlib import Path

from explainer.models.configs import TextEncoderConfig, UNetConfig, VAEConfig


class UnsupportedConfigError(ValueError):
    """A config.json describes a model these SD v1-style classes cannot express."""


def read_config(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: every part of a diffusers folder has a config.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); re-download that file") from err


def _require(path: Path, cfg: dict, field: str, allowed, default=None) -> None:
    value = cfg.get(field, default)
    if isinstance(allowed, tuple) and value in allowed:
        return
    if not isinstance(allowed, tuple) and value == allowed:
        return
    raise UnsupportedConfigError(
        f"{path}: {field} = {value!r} is not supported by explainer's SD v1-style models "
        f"(supported: {allowed!r}). This folder is not an SD v1.x model."
    )


def _per_level(value, n: int, field: str, path: Path) -> tuple:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise UnsupportedConfigError(f"{path}: {field} has {len(value)} entries for {n} levels")
        return tuple(value)
    return (value,) * n


def _one_value(path: Path, cfg: dict, field: str, default):
    """A field diffusers allows per level (a list); ours needs one value for every level."""
    value = cfg.get(field, default)
    if isinstance(value, (list, tuple)):
        if len(set(map(str, value))) != 1 or isinstance(value[0], (list, tuple)):
            raise UnsupportedConfigError(f"{path}: {field} = {value!r}; one value for every "
                                         "level is supported")
        value = value[0]
    return value


def text_encoder_config(path: Path) -> TextEncoderConfig:
    cfg = read_config(path)
    _require(path, cfg, "hidden_act", ("quick_gelu", "gelu"), "quick_gelu")
    archs = cfg.get("architectures") or ["CLIPTextModel"]
    if archs[0] not in ("CLIPTextModel", "CLIPTextModelWithProjection"):
        raise UnsupportedConfigError(f"{path}: architectures = {archs!r}; expected CLIPTextModel")
    return TextEncoderConfig(
        vocab_size=cfg.get("vocab_size", 49408),
        width=cfg["hidden_size"],
        layers=cfg["num_hidden_layers"],
        heads=cfg["num_attention_heads"],
        mlp_width=cfg["intermediate_size"],
        max_positions=cfg.get("max_position_embeddings", 77),
        activation=cfg.get("hidden_act", "quick_gelu"),
        norm_eps=cfg.get("layer_norm_eps", 1e-5),
    )


def unet_config(path: Path) -> UNetConfig:
    cfg = read_config(path)
    for field, allowed, default in [
        ("mid_block_type", "UNetMidBlock2DCrossAttn", "UNetMidBlock2DCrossAttn"),
        ("act_fn", "silu", "silu"),
        ("center_input_sample", False, False),
        ("downsample_padding", 1, 1),
        ("mid_block_scale_factor", (1, 1.0), 1),
        ("only_cross_attention", False, False),
        ("dual_cross_attention", False, False),
        ("class_embed_type", None, None),
        ("addition_embed_type", None, None),
        ("num_class_embeds", None, None),
        ("encoder_hid_dim", None, None),
        ("time_cond_proj_dim", None, None),
        ("time_embedding_type", "positional", "positional"),
        ("time_embedding_dim", None, None),
        ("time_embedding_act_fn", None, None),
        ("timestep_post_act", None, None),
        ("resnet_time_scale_shift", "default", "default"),
        ("resnet_skip_time_act", False, False),
        ("resnet_out_scale_factor", (1, 1.0), 1.0),
        ("conv_in_kernel", 3, 3),
        ("conv_out_kernel", 3, 3),
        ("attention_type", "default", "default"),
        ("class_embeddings_concat", False, False),
        ("cross_attention_norm", None, None),
        ("reverse_transformer_layers_per_block", None, None),
    ]:
        _require(path, cfg, field, allowed, default)
    down = cfg.get("down_block_types", ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"])
    up = cfg.get("up_block_types")
    n = len(down)
    kinds = {"CrossAttnDownBlock2D": True, "DownBlock2D": False}
    if any(d not in kinds for d in down):
        raise UnsupportedConfigError(f"{path}: down_block_types = {down!r}; supported: {sorted(kinds)}")
    levels = tuple(kinds[d] for d in down)
    expected_up = [("CrossAttnUpBlock2D" if a else "UpBlock2D") for a in reversed(levels)]
    if up is not None and list(up) != expected_up:
        raise UnsupportedConfigError(
            f"{path}: up_block_types = {up!r} does not mirror down_block_types; expected {expected_up}")
    layers = _one_value(path, cfg, "layers_per_block", 2)
    depth = _one_value(path, cfg, "transformer_layers_per_block", 1)
    # diffusers (for SD v1 compatibility) reads attention_head_dim as the number of heads
    heads = cfg.get("num_attention_heads") or cfg.get("attention_head_dim", 8)
    context = _one_value(path, cfg, "cross_attention_dim", 768)
    sample = cfg.get("sample_size", 64)
    return UNetConfig(
        in_channels=cfg.get("in_channels", 4),
        out_channels=cfg.get("out_channels", 4),
        block_channels=tuple(cfg["block_out_channels"]),
        attention_levels=levels,
        layers_per_block=layers,
        heads=_per_level(heads, n, "attention_head_dim", path),
        transformer_depth=depth,
        context_width=context,
        norm_groups=cfg.get("norm_num_groups", 32),
        norm_eps=cfg.get("norm_eps", 1e-5),
        flip_sin_to_cos=cfg.get("flip_sin_to_cos", True),
        freq_shift=cfg.get("freq_shift", 0),
        sample_size=sample[0] if isinstance(sample, (list, tuple)) else sample,
    )


def vae_config(path: Path) -> VAEConfig:
    cfg = read_config(path)
    for field, allowed, default in [
        ("act_fn", "silu", "silu"),
        ("shift_factor", None, None),
        ("latents_mean", None, None),
        ("latents_std", None, None),
        ("use_quant_conv", True, True),
        ("use_post_quant_conv", True, True),
    ]:
        _require(path, cfg, field, allowed, default)
    down = cfg.get("down_block_types", ["DownEncoderBlock2D"])
    up = cfg.get("up_block_types", ["UpDecoderBlock2D"])
    if set(down) != {"DownEncoderBlock2D"} or set(up) != {"UpDecoderBlock2D"} or len(up) != len(down):
        raise UnsupportedConfigError(
            f"{path}: down/up_block_types = {down!r} / {up!r}; supported: DownEncoderBlock2D / "
            "UpDecoderBlock2D, one per level")
    sample = cfg.get("sample_size", 512)
    return VAEConfig(
        in_channels=cfg.get("in_channels", 3),
        out_channels=cfg.get("out_channels", 3),
        latent_channels=cfg.get("latent_channels", 4),
        block_channels=tuple(cfg["block_out_channels"]),
        layers_per_block=cfg.get("layers_per_block", 1),
        norm_groups=cfg.get("norm_num_groups", 32),
        scaling_factor=cfg.get("scaling_factor", 0.18215),
        mid_attention=cfg.get("mid_block_add_attention", True),
        sample_size=sample[0] if isinstance(sample, (list, tuple)) else sample,
    )
