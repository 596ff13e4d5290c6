"""Cross-attention capture: the reduction against diffusers' own attention weights, the
invariants of the maps, the trace contract, and the lookups a lesson uses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import reference_models as R
from explainer.explore.attention_maps import AttentionMaps, iou
from explainer.diffusion.trace import Trace
from torch_io import diffusers_attention_probs


def _diffusers_maps(unet, latents, timesteps, context) -> dict[int, np.ndarray]:
    """DAAM's reduction done on diffusers' weights softmax(QKᵀ/√d) of every attn2 layer,
    recorded by a processor: mean over heads, bilinear to the latent grid, sum per level k."""
    recorded = diffusers_attention_probs(unet, latents, timesteps, context, kinds=("attn2",))
    n_levels = len(unet.config.block_out_channels)
    side = latents.shape[1]
    maps: dict[int, torch.Tensor] = {}
    for name, heads, probs in recorded:
        part, index = name.split(".")[0], name.split(".")[1]
        k = {"down_blocks": lambda i: i, "mid_block": lambda i: n_levels - 1,
             "up_blocks": lambda i: n_levels - 1 - i}[part](int(index) if index.isdigit() else 0)
        b = probs.shape[0] // heads
        mean = probs.reshape(b, heads, *probs.shape[1:]).mean(dim=1)          # [B, N, 77]
        grid = int(round(mean.shape[1] ** 0.5))
        level = mean.reshape(b, grid, grid, -1).permute(0, 3, 1, 2)          # [B, 77, g, g]
        level = F.interpolate(level, size=(side, side), mode="bilinear", align_corners=False)
        maps[k] = level if k not in maps else maps[k] + level
    return {k: v.permute(0, 2, 3, 1).numpy() for k, v in sorted(maps.items())}  # [B, h, w, 77]


@pytest.mark.parametrize("layout", R.LAYOUTS)
def test_maps_match_diffusers(layout, small_reference, small_models, tmp_path, rng):
    ref, unet = R.unet_pair(layout, small_reference, small_models, tmp_path)
    latents = rng.standard_normal((2, 16, 16, 4)).astype(np.float32)
    timesteps = np.array([999.0, 37.0], np.float32)
    context = rng.standard_normal((2, 77, 32)).astype(np.float32)
    expected = _diffusers_maps(ref, latents, timesteps, context)
    eps, maps = unet.graph("call_with_attention")(latents, timesteps, context)
    assert sorted(expected) == list(unet.attention_resolutions)
    for k, ours in zip(unet.attention_resolutions, maps):
        ours = np.asarray(ours)
        assert ours.shape == (2, 16, 16, 77)
        assert ours.std() > 1e-4  # the maps are not flat, so the comparison means something
        # float32 softmax and bilinear weights on both sides; ~1e-7 observed
        assert np.abs(ours - expected[k]).max() <= 1e-5, f"level {k}"
    # capturing does not change the prediction: the same ops, bit for bit on this CPU
    assert np.array_equal(np.asarray(eps), np.asarray(unet.graph()(latents, timesteps, context)))


def test_each_pixel_reads_a_distribution_over_tokens(small_models, rng):
    """Softmax rows sum to 1 and bilinear upsampling mixes convexly, so each level's map sums,
    over the 77 tokens, to its number of cross-attention layers at every pixel."""
    unet = small_models.unet
    latents = rng.standard_normal((1, 16, 16, 4)).astype(np.float32)
    context = rng.standard_normal((1, 77, 32)).astype(np.float32)
    _, maps = unet.graph("call_with_attention")(latents, np.array([500.0], np.float32), context)
    # SMALL_UNET: level 0 has 2 down + 3 up transformers, level 1 the middle one
    layers = {0: 5, 1: 1}
    for k, m in zip(unet.attention_resolutions, maps):
        assert np.allclose(np.asarray(m).sum(axis=-1), layers[k], atol=1e-5)
        assert np.asarray(m).min() >= 0


def test_pipeline_records_the_maps(tiny_pipe):
    result = tiny_pipe.text_to_image("a large red circle on the left", seed=3, num_steps=4,
                                     capture_attention=True)
    step = result.trace.steps[2]
    assert step.cross_attention.shape == (1, 77, 8, 8)
    assert sorted(step.cross_attention_levels) == ["2x2", "4x4", "8x8"]
    assert np.allclose(sum(step.cross_attention_levels.values()), step.cross_attention)
    # tiny-shapes: 2+3 transformers... see attention_resolutions; total = all cross-attention layers
    assert np.allclose(step.cross_attention.sum(axis=1), 7, atol=1e-4)
    plain = tiny_pipe.text_to_image("a large red circle on the left", seed=3, num_steps=4)
    assert plain.trace.steps[2].cross_attention is None
    assert np.array_equal(plain.images, result.images)  # capture changes nothing downstream


def test_trace_names_save_and_load(tiny_pipe, tmp_path):
    result = tiny_pipe.text_to_image("a small blue square at the top", seed=1, num_steps=3,
                                     capture_attention=True, keep=("pred_x0", "cross_attention"))
    trace = result.trace
    assert "steps.1.cross_attention" in trace.names()
    assert trace.steps[1].cross_attention_levels is None  # keep= left the levels out
    assert trace.stack("cross_attention").shape == (len(trace.steps), 1, 77, 8, 8)
    loaded = Trace.load(trace.save(tmp_path / "run.npz"))
    assert np.array_equal(loaded["steps.2.cross_attention"], trace["steps.2.cross_attention"])
    full = tiny_pipe.text_to_image("a small blue square at the top", seed=1, num_steps=2,
                                   capture_attention=True).trace
    again = Trace.load(full.save(tmp_path / "full.npz"))
    assert np.array_equal(again["steps.1.cross_attention_levels.4x4"],
                          full.steps[1].cross_attention_levels["4x4"])
    with pytest.raises(KeyError, match="capture_attention=True"):
        tiny_pipe.text_to_image("a red circle", num_steps=1).trace["steps.0.cross_attention"]


def test_bad_capture_arguments_fail_before_any_work(tiny_pipe):
    with pytest.raises(ValueError, match="drops the maps"):
        tiny_pipe.text_to_image("a red circle", capture_attention=True, keep=("pred_x0",))
    with pytest.raises(ValueError, match="capture_attention=True"):
        tiny_pipe.text_to_image("a red circle", keep=("cross_attention",))
    with pytest.raises(TypeError, match="capture_attention"):
        tiny_pipe.text_to_image("a red circle", capture_attention="yes")


def test_lookups_by_word(tiny_pipe):
    trace = tiny_pipe.text_to_image("a large red circle on the left", seed=3, num_steps=3,
                                    capture_attention=True).trace
    maps = AttentionMaps(trace)
    assert maps.position("<start>") == 0 and maps.position("red") == 3
    assert maps.position("<end>") == 8 and maps.position(40) == 40
    # "all": DAAM's sum over every level and step
    assert np.allclose(maps.token("red", steps="all", level="all"),
                       trace.stack("cross_attention")[:, 0, 3].sum(axis=0))
    assert np.allclose(maps.token("red", steps=[1], level="all"),
                       trace["steps.1.cross_attention"][0, 3])
    assert maps.over_steps("circle", level="4x4").shape == (len(trace.steps), 8, 8)
    assert np.isclose(maps.shares().sum(), 1.0)
    # against the uniform share: the 77 positions' ratios average to 1 at every pixel, and one
    # token's ratio is its map over the pixel's total / 77 (7 layers x 3 steps per pixel)
    ratios = np.stack([maps.relative(k, steps=[0, 2], level="all") for k in range(77)])
    np.testing.assert_allclose(ratios.mean(axis=0), 1.0, rtol=1e-5)
    total = trace.stack("cross_attention")[[0, 2], 0].sum(axis=(0, 1))          # [h, w]
    np.testing.assert_allclose(maps.relative("red", steps=[0, 2], level="all"),
                               maps.token("red", steps=[0, 2], level="all") / (total / 77),
                               rtol=1e-5)
    assert maps.relative("circle", level="4x4").shape == (8, 8)
    with pytest.raises(ValueError, match="no level"):
        maps.relative("circle", level="3x3")
    with pytest.raises(ValueError, match="not a token of the prompt"):
        maps.position("blue")
    with pytest.raises(ValueError, match="capture_attention=True"):
        AttentionMaps(tiny_pipe.text_to_image("a red circle", num_steps=1).trace)


def test_word_maps_default_to_the_measured_choice(tiny_pipe):
    """tiny-shapes' word maps: the finest level (8x8), the second half of the steps, as
    shapes/faithfulness.py measured best; a trace without the choice sums everything."""
    trace = tiny_pipe.text_to_image("a large red circle on the left", seed=3, num_steps=6,
                                    capture_attention=True).trace
    maps = AttentionMaps(trace)
    n = len(trace.steps)                                   # PNDM: 6 steps make 7 UNet calls
    assert maps.default == (list(range(n // 2, n)), "8x8")
    assert maps.describe_default() == f"level 8x8, steps {n // 2}-{n - 1}"
    expected = trace.stack("cross_attention_levels.8x8")[n // 2:, 0, 3].sum(axis=0)
    np.testing.assert_allclose(maps.token("red"), expected, rtol=1e-6)
    assert not np.allclose(maps.token("red"), maps.token("red", "all", "all"))
    trace.metadata.pop("word_maps")
    assert AttentionMaps(trace).describe_default() == "every level and step"
    np.testing.assert_allclose(AttentionMaps(trace).token("red"), maps.token("red", "all", "all"))
    with pytest.raises(ValueError, match="'all' or None"):
        maps.token("red", steps="every")


def test_upsampling_and_masks():
    values = np.arange(16, dtype=np.float32).reshape(4, 4)
    up = AttentionMaps.upsampled(values, 8)
    # same weights as TensorFlow's bilinear resize with half-pixel centres
    import tensorflow as tf

    expected = tf.image.resize(values[None, :, :, None], (8, 8), method="bilinear")[0, :, :, 0]
    assert np.allclose(up, expected.numpy(), atol=1e-5)
    mask = AttentionMaps.top_mask(values, 0.25)
    assert mask.sum() == 4 and mask[3].all()
    assert iou(mask, mask) == 1.0 and iou(mask, ~mask) == 0.0
