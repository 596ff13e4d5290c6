"""Write our Keras models as a diffusers-format folder (the inverse of loader.py).

The tiny-shapes model is trained here and shipped in the same layout a downloaded SD v1.5
folder has, so ``load_pipeline("tiny-shapes")`` goes through the real loading code, and
diffusers/transformers can open the folder too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from explainer.weights.keys import KeyMap, text_encoder_keys, unet_keys, vae_keys


def to_torch(array: np.ndarray, layout: str) -> np.ndarray:
    """Keras layout -> PyTorch layout (the inverse of loader.to_keras)."""
    if layout == "linear":
        return array.T
    if layout == "conv":
        return array.transpose(3, 2, 0, 1)
    return array


def save_part(keymap: KeyMap, path: Path, dtype: str = "float32") -> None:
    """Every variable of one model into one safetensors file, in checkpoint key order."""
    from safetensors.numpy import save_file

    tensors = {key: np.ascontiguousarray(to_torch(np.asarray(var), layout).astype(dtype))
               for key, (var, layout) in sorted(keymap.items())}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"format": "pt"})


def text_encoder_json(cfg) -> dict:
    return {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model",
            "vocab_size": cfg.vocab_size, "hidden_size": cfg.width,
            "intermediate_size": cfg.mlp_width, "num_hidden_layers": cfg.layers,
            "num_attention_heads": cfg.heads, "max_position_embeddings": cfg.max_positions,
            "hidden_act": cfg.activation, "layer_norm_eps": cfg.norm_eps,
            "projection_dim": cfg.width, "bos_token_id": 49406, "eos_token_id": 49407,
            "pad_token_id": 49407}


def unet_json(cfg) -> dict:
    down = ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in cfg.attention_levels]
    up = ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(cfg.attention_levels)]
    return {"_class_name": "UNet2DConditionModel", "sample_size": cfg.sample_size,
            "in_channels": cfg.in_channels, "out_channels": cfg.out_channels,
            "block_out_channels": list(cfg.block_channels), "down_block_types": down,
            "up_block_types": up, "mid_block_type": "UNetMidBlock2DCrossAttn",
            "layers_per_block": cfg.layers_per_block, "attention_head_dim": list(cfg.heads),
            "transformer_layers_per_block": cfg.transformer_depth,
            "cross_attention_dim": cfg.context_width, "norm_num_groups": cfg.norm_groups,
            "norm_eps": cfg.norm_eps, "flip_sin_to_cos": cfg.flip_sin_to_cos,
            "freq_shift": cfg.freq_shift, "act_fn": "silu", "downsample_padding": 1,
            "use_linear_projection": True}  # our projections are Dense: 2-D weights


def vae_json(cfg) -> dict:
    n = len(cfg.block_channels)
    return {"_class_name": "AutoencoderKL", "in_channels": cfg.in_channels,
            "out_channels": cfg.out_channels, "latent_channels": cfg.latent_channels,
            "block_out_channels": list(cfg.block_channels),
            "down_block_types": ["DownEncoderBlock2D"] * n,
            "up_block_types": ["UpDecoderBlock2D"] * n, "layers_per_block": cfg.layers_per_block,
            "norm_num_groups": cfg.norm_groups, "sample_size": cfg.sample_size,
            "scaling_factor": cfg.scaling_factor, "act_fn": "silu",
            "mid_block_add_attention": cfg.mid_attention}


def save_models(folder: str | Path, text_encoder, unet, vae, scheduler_config: dict,
                dtype: str = "float32", extra: dict | None = None) -> Path:
    """Write ``folder`` with text_encoder/, unet/, vae/, scheduler/ and model_index.json.

    ``dtype="float16"`` stores half-size weights (they load back into float32 variables).
    """
    folder = Path(folder)
    parts = (("text_encoder", "model", text_encoder_keys(text_encoder),
              text_encoder_json(text_encoder.config)),
             ("unet", "diffusion_pytorch_model", unet_keys(unet), unet_json(unet.config)),
             ("vae", "diffusion_pytorch_model", vae_keys(vae), vae_json(vae.config)))
    for part, stem, keymap, config in parts:
        save_part(keymap, folder / part / f"{stem}.safetensors", dtype)
        (folder / part / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "scheduler").mkdir(parents=True, exist_ok=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(
        json.dumps(scheduler_config, indent=2))
    index = {"_class_name": "StableDiffusionPipeline", "text_encoder": ["transformers",
             "CLIPTextModel"], "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"], "scheduler": ["diffusers",
             scheduler_config.get("_class_name", "PNDMScheduler")], **(extra or {})}
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    return folder
