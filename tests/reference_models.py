"""Reference models (transformers, diffusers on PyTorch CPU) with seeded random weights,
saved in the real diffusers folder layout, for parity tests.

Default initialisations leave norms at weight 1 / bias 0 and many biases at 0, which would
hide a missing or transposed tensor. ``randomize`` therefore redraws *every* parameter from a
seeded normal distribution (norm weights around 1), so every checkpoint tensor matters.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from explainer.assets import asset_path

SMALL_TEXT = dict(vocab_size=49408, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                  num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
                  projection_dim=32)
SMALL_UNET = dict(sample_size=16, in_channels=4, out_channels=4, layers_per_block=2,
                  block_out_channels=(32, 64), norm_num_groups=8, cross_attention_dim=32,
                  attention_head_dim=4,
                  down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                  up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
SMALL_UNET_3 = dict(SMALL_UNET, block_out_channels=(32, 48, 64), attention_head_dim=(2, 4, 8),
                    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                    transformer_layers_per_block=2, use_linear_projection=True)
# Ours, in explainer's terms (no reference dict needed): two ResNets per level, two transformer
# blocks per spatial transformer, no attention at the middle level, per-level heads.
OTHER_UNET = dict(block_channels=(32, 48, 64), attention_levels=(True, False, True),
                  layers_per_block=2, heads=(2, 4, 8), transformer_depth=2, context_width=32,
                  norm_groups=8, sample_size=16)
SMALL_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(32, 64),
                 layers_per_block=1, norm_num_groups=8, sample_size=32,
                 down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)

# SD v1.5's scheduler/scheduler_config.json
SD15_SCHEDULER = {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0",
                  "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
                  "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True,
                  "steps_offset": 1, "trained_betas": None, "clip_sample": False}

# The published SD v1.5 configs (stable-diffusion-v1-5/stable-diffusion-v1-5, */config.json).
SD15_TEXT = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                 num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
                 projection_dim=768, layer_norm_eps=1e-5)
SD15_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768,
                 attention_head_dim=8, norm_num_groups=32, norm_eps=1e-5, flip_sin_to_cos=True,
                 freq_shift=0, downsample_padding=1, mid_block_scale_factor=1, act_fn="silu",
                 down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
SD15_VAE = dict(in_channels=3, out_channels=3, latent_channels=4,
                block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32,
                sample_size=512, act_fn="silu", scaling_factor=0.18215,
                down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)


def randomize(model, seed: int, std: float = 0.05):
    """Redraw every parameter: norm weights ~ 1 + N(0, 0.1²), all others ~ N(0, std²)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            is_norm = "norm" in name and name.endswith("weight") and p.ndim == 1
            p.copy_(1.0 + 0.1 * noise if is_norm else std * noise)
    return model.eval()


def text_encoder(config: dict, seed: int = 0):
    import transformers

    torch_model = transformers.CLIPTextModel(transformers.CLIPTextConfig(**config))
    return randomize(torch_model, seed, std=0.05)


def unet(config: dict, seed: int = 1):
    import diffusers

    return randomize(diffusers.UNet2DConditionModel(**config), seed, std=0.03)


def vae(config: dict, seed: int = 2):
    import diffusers

    return randomize(diffusers.AutoencoderKL(**config), seed, std=0.03)


def save_folder(folder: Path, text=None, unet_model=None, vae_model=None, variant=None) -> Path:
    """Write a diffusers-layout folder (safetensors) with the given reference models."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, model in (("text_encoder", text), ("unet", unet_model), ("vae", vae_model)):
        if model is not None:
            model.save_pretrained(folder / name, safe_serialization=True, variant=variant)
    tok = folder / "tokenizer"
    tok.mkdir(exist_ok=True)
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(asset_path("clip-tokenizer", name), tok / name)
    (tok / "tokenizer_config.json").write_text(json.dumps({  # as in SD v1.5's tokenizer/
        "model_max_length": 77, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "do_lower_case": True}))
    (folder / "scheduler").mkdir(exist_ok=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(SD15_SCHEDULER))
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    return folder


def save_pipeline(folder: Path, text, unet_model, vae_model) -> Path:
    """Write the folder as today's diffusers writes it: ``StableDiffusionPipeline.save_pretrained``.

    With transformers 5 its ``tokenizer/`` holds tokenizer.json (no vocab.json/merges.txt).
    """
    import diffusers
    import transformers

    legacy = save_folder(folder.parent / (folder.name + "-legacy-tokenizer"))
    pipe = diffusers.StableDiffusionPipeline(
        vae=vae_model, text_encoder=text, unet=unet_model,
        tokenizer=transformers.CLIPTokenizer.from_pretrained(legacy / "tokenizer"),
        scheduler=diffusers.PNDMScheduler.from_config(SD15_SCHEDULER),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


LAYOUTS = ("small", "per-level heads, depth 2")


def unet_pair(layout: str, small_reference, small_models, folder):
    """(diffusers UNet, our UNet) with the same weights: the session's small pair, or
    SMALL_UNET_3 (per-level heads, transformers two blocks deep) saved to ``folder``."""
    if layout == "small":
        return small_reference[1], small_models.unet
    from explainer.weights import load_models

    ref = unet(SMALL_UNET_3, seed=5)
    save_folder(folder, text_encoder(SMALL_TEXT), ref, vae(SMALL_VAE))
    return ref, load_models(folder).unet
