"""UNetArchitecture: the table read from a config is the Keras UNet, block by block, and SD
v1.5's count is the published one (the reference models' totals: test_parameter_counts.py)."""

from __future__ import annotations

import pytest

import reference_models as R
from explainer.explore.unet_architecture import UNetArchitecture
from explainer.models.configs import PRESETS, UNetConfig

OTHER = UNetConfig(**R.OTHER_UNET)  # layers_per_block 2, transformer_depth 2, a level without attention
CONFIGS = {"tiny-shapes": PRESETS["tiny-shapes"].unet, "other": OTHER}


def keras_blocks(unet) -> dict:
    """The UNet's blocks by name: its own layers, with each level opened up."""
    from explainer.models.unet import UNetLevel

    blocks = {}
    for layer in unet._flatten_layers(include_self=False, recursive=False):
        children = (layer._flatten_layers(include_self=False, recursive=False)
                    if isinstance(layer, UNetLevel) else [layer])
        blocks.update({child.name: child for child in children})
    return blocks


@pytest.mark.parametrize("name", CONFIGS)
def test_every_block_counts_as_the_keras_block(name):
    from explainer.models.unet import UNet

    config = CONFIGS[name]
    arch, unet = UNetArchitecture(config), UNet(config)
    built = {k: layer.count_params() for k, layer in keras_blocks(unet).items()}
    assert {b.name: b.parameters for b in arch.blocks} == built  # the same names, the same sizes
    assert arch.total == unet.count_params()
    assert sum(arch.parts().values()) == arch.total
    if name == "other":
        assert not any(b.part == "down1" and b.kind.startswith("transformer") for b in arch.blocks)
        assert [b.name for b in arch.blocks if b.part == "up2"][:2] == ["up2_resnet_0",
                                                                          "up2_transformer_0"]
        assert arch.blocks[[b.name for b in arch.blocks].index("up2_transformer_0")].kind == \
            "transformer x2"


@pytest.mark.parametrize("name", CONFIGS)
def test_skips_are_saved_once_and_taken_last_in_first_out(name):
    config = CONFIGS[name]
    arch = UNetArchitecture(config, latent_side=32)
    saved = [b.saves for b in arch.blocks if b.saves is not None]
    taken = [b.takes for b in arch.blocks if b.takes is not None]
    assert saved == list(range(len(saved))) and taken == saved[::-1]
    n = len(config.block_channels)
    assert len(saved) == 1 + n * config.layers_per_block + (n - 1)  # conv_in, blocks, downsamples
    by_name = {b.name: b for b in arch.blocks}
    for skip in arch.skips:
        taker = by_name[skip.taken_by]
        assert taker.side == skip.side and taker.skip_channels == skip.channels
    for up in (b for b in arch.blocks if b.takes is not None):  # h and the skip, concatenated
        previous = arch.blocks[arch.blocks.index(up) - 1]
        assert up.in_channels == previous.out_channels + up.skip_channels


def test_grids_follow_the_latent_side():
    arch = UNetArchitecture(PRESETS["sd-v1-5"].unet)  # 64x64 latents: 512 px
    assert [lv.side for lv in arch.levels] == [64, 32, 16, 8]
    assert [s["self_tokens"] for s in arch.attention_sites()] == [4096, 1024, 256, 64, 256,
                                                                   1024, 4096]
    assert {s["cross_tokens"] for s in arch.attention_sites()} == {77}
    assert UNetArchitecture(PRESETS["sd-v1-5"].unet, latent_side=96).levels[-1].side == 12
    with pytest.raises(ValueError, match="multiple of 8"):
        UNetArchitecture(PRESETS["sd-v1-5"].unet, latent_side=60)


def test_sd15_unet_has_the_published_size():
    """859,520,964: diffusers 0.42.1's UNet2DConditionModel built with SD v1.5's published
    unet/config.json (tests/reference_models.py SD15_UNET), sum of numel over its parameters
    (checked once with random weights; the number quoted for SD v1.5's UNet, 860M)."""
    arch = UNetArchitecture(PRESETS["sd-v1-5"].unet)
    assert arch.total == 859_520_964
    assert len(arch.skips) == 12 and len(arch.blocks) == 49
    parts = arch.parts()
    assert list(parts) == ["time embedding", "conv_in", "down0", "down1", "down2", "down3",
                           "mid", "up0", "up1", "up2", "up3", "out"]
    assert max(parts, key=parts.get) == "up1"  # three 1280-wide ResNets + transformers at 16x16


def test_tables_print_every_block_deterministically():
    arch = UNetArchitecture(PRESETS["tiny-shapes"].unet)
    table = arch.table()
    assert table == UNetArchitecture(PRESETS["tiny-shapes"].unet).table()
    lines = table.splitlines()
    assert len(lines) == 1 + len(arch.blocks)
    assert "up1_resnet_1" in table and "128+64 -> 128" in table and "takes s2" in table
    assert arch.table(parts=["mid"]).count("\n") == 3
    assert arch.parts_table().splitlines()[-1].split()[1] == f"{arch.total:,}"
    assert len(arch.skips_table().splitlines()) == 1 + len(arch.skips)
    assert "5,835,012 parameters" in repr(arch)
