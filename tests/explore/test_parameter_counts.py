"""Parameter counts from configs: equal to our built Keras networks, to diffusers' and
transformers' own models of the same configs, and to SD v1.5's published sizes."""

from __future__ import annotations

import json

import pytest
import torch

import reference_models as R
from explainer.explore.parameter_counts import (ParameterCounts, side_by_side, text_encoder_parts,
                                                unet_parts, vae_parts)
from explainer.explore.unet_architecture import UNetArchitecture
from explainer.models.configs import PRESETS, UNetConfig, VAEConfig
from explainer.weights import configs as folder_configs
from explainer.weights.writer import text_encoder_json, unet_json, vae_json

TINY = PRESETS["tiny-shapes"]
OTHER = UNetConfig(**R.OTHER_UNET)  # layers_per_block 2, transformer_depth 2, a level without attention
# a VAE without the middle attention, two ResNets per level
OTHER_VAE = VAEConfig(block_channels=(16, 32, 32), layers_per_block=2, norm_groups=8,
                      mid_attention=False, sample_size=32)


def reference_size(kind: str, config: dict) -> int:
    """Parameters of transformers' CLIPTextModel / diffusers' UNet2DConditionModel or
    AutoencoderKL built from ``config`` (on torch's meta device: shapes, no memory)."""
    import diffusers
    import transformers

    config = {k: v for k, v in config.items() if not k.startswith("_")}
    with torch.device("meta"):
        model = {"text": lambda: transformers.CLIPTextModel(transformers.CLIPTextConfig(**config)),
                 "unet": lambda: diffusers.UNet2DConditionModel(**config),
                 "vae": lambda: diffusers.AutoencoderKL(**config)}[kind]()
    return sum(p.numel() for p in model.parameters())


def test_counts_equal_the_built_keras_networks():
    from explainer.models.text_encoder import TextEncoder
    from explainer.models.vae import VAE

    text = TextEncoder(TINY.text)
    parts = text_encoder_parts(TINY.text)
    assert sum(parts.values()) == text.count_params()
    assert parts["token embedding"] == text.token_embedding.count_params()
    assert parts["transformer blocks"] == sum(b.count_params() for b in text.blocks)
    for config in (TINY.vae, OTHER_VAE):
        vae, parts = VAE(config), vae_parts(config)
        assert parts["encoder"] + parts["quant_conv"] == vae.encoder.count_params()
        assert parts["decoder"] + parts["post_quant_conv"] == vae.decoder.count_params()
        assert parts["quant_conv"] == vae.encoder.quant_conv.count_params() == 72
    # the UNet's, block by block: test_unet_architecture.py
    assert sum(unet_parts(TINY.unet).values()) == UNetArchitecture(TINY.unet).total


@pytest.mark.parametrize("kind, ours, theirs", [
    ("text", TINY.text, text_encoder_json(TINY.text)),
    ("unet", TINY.unet, unet_json(TINY.unet)),
    ("unet", OTHER, unet_json(OTHER)),
    ("vae", TINY.vae, vae_json(TINY.vae)),
    ("vae", OTHER_VAE, vae_json(OTHER_VAE)),
], ids=["tiny-text", "tiny-unet", "other-unet", "tiny-vae", "other-vae"])
def test_counts_equal_the_reference_models(kind, ours, theirs):
    """Our configs written as diffusers/transformers configs (weights/writer.py): their models
    have as many parameters as we count."""
    count = {"text": lambda c: sum(text_encoder_parts(c).values()),
             "unet": lambda c: sum(unet_parts(c).values()),
             "vae": lambda c: sum(vae_parts(c).values())}[kind]
    assert count(ours) == reference_size(kind, theirs)


@pytest.mark.parametrize("kind, config", [("text", R.SMALL_TEXT), ("unet", R.SMALL_UNET),
                                          ("unet", R.SMALL_UNET_3), ("vae", R.SMALL_VAE)],
                         ids=["text", "unet", "unet-3", "vae"])
def test_reference_configs_read_as_the_loader_reads_them(kind, config, tmp_path):
    """The small reference configs of the parity tests (SMALL_UNET_3: attention off at the
    first level, two transformer blocks, linear projections), read by weights/configs.py."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    ours = {"text": lambda: text_encoder_parts(folder_configs.text_encoder_config(path)),
            "unet": lambda: unet_parts(folder_configs.unet_config(path)),
            "vae": lambda: vae_parts(folder_configs.vae_config(path))}[kind]()
    assert sum(ours.values()) == reference_size(kind, config)


def test_sd15_has_the_published_sizes():
    """Built once with diffusers 0.42.1 (UNet2DConditionModel, AutoencoderKL) and transformers
    5.24.0 (CLIPTextModel) from SD v1.5's published config.json files (tests/reference_models.py
    SD15_*), random weights, sum of numel over parameters: UNet 859,520,964, VAE 83,653,863
    (with quant_conv and post_quant_conv), CLIP text encoder 123,060,480."""
    counts = ParameterCounts.of(PRESETS["sd-v1-5"])
    assert counts.total("UNet") == 859_520_964
    assert counts.total("VAE") == 83_653_863
    assert counts.total("text encoder") == 123_060_480
    assert counts.total() == 1_066_235_307


def test_side_by_side_prints_every_part():
    counts = {name: ParameterCounts.of(PRESETS[name]) for name in ("tiny-shapes", "sd-v1-5")}
    table = side_by_side(counts)
    lines = table.splitlines()
    assert lines[0].split() == ["tiny-shapes", "sd-v1-5"]
    assert len(lines) == 1 + 3 + 4 + 5 + 4 + 1
    assert "859,520,964  80.6%" in table and "1,066,235,307 100.0%" in table
    assert counts["tiny-shapes"].table().splitlines()[0].split() == ["parameters"]
