"""Conditional UNet: parity with diffusers' UNet2DConditionModel on identical weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reference_models as R
from explainer.models.unet import UNet
from explainer.weights import load_models
from torch_io import as_numpy, max_abs_diff, to_numpy_nhwc, to_torch_nchw


def _compare(ref_unet, our_unet, rng, side=16, context_width=32):
    latents = rng.standard_normal((2, side, side, 4)).astype(np.float32)
    timesteps = np.array([999.0, 37.0], np.float32)
    context = rng.standard_normal((2, 77, context_width)).astype(np.float32)
    with torch.no_grad():
        ref = ref_unet(to_torch_nchw(latents), torch.from_numpy(timesteps),
                       torch.from_numpy(context)).sample
    ours = our_unet.graph()(latents, timesteps, context)  # the compiled call the loop uses
    return ours, to_numpy_nhwc(ref)


def test_parity_small(small_reference, small_models, rng):
    ours, ref = _compare(small_reference[1], small_models.unet, rng)
    assert ours.shape == (2, 16, 16, 4)
    assert np.abs(ref).max() > 0.5
    # float32 both sides; ~2e-6 observed. 1e-4 is the bound.
    assert max_abs_diff(ours, ref) <= 1e-4


def test_parity_fused_attention(small_reference, small_folder, rng, monkeypatch):
    """The backend's fused kernel (chosen on a GPU under JAX or PyTorch, backend/) forced
    here on the CPU: the same prediction as diffusers. Runs on every backend in make test."""
    from explainer.models import backend

    monkeypatch.setattr(backend.devices, "FUSED_ATTENTION", True)
    unet = load_models(small_folder).unet  # fresh: nothing traced with the other formula
    ours, ref = _compare(small_reference[1], unet, rng)
    assert max_abs_diff(ours, ref) <= 1e-4  # float32 both sides, the same bound as above


def test_parity_after_flipping_the_attention_kernel(small_reference, small_folder, rng,
                                                    monkeypatch):
    """set_fused_attention takes effect at the next call of an already compiled network, on
    every backend (the kernel is part of the compiled call's key): the fused kernel then
    runs, and back again, with the same prediction. Runs on every backend in make test."""
    from explainer.models import backend

    kernel_calls = []
    fused = backend.ops.dot_product_attention
    monkeypatch.setattr(backend.ops, "dot_product_attention",
                        lambda *a, **k: kernel_calls.append(1) or fused(*a, **k))
    monkeypatch.setattr(backend.devices, "FUSED_ATTENTION", False)
    unet = load_models(small_folder).unet
    written, ref = _compare(small_reference[1], unet, np.random.default_rng(3))
    assert not kernel_calls                                        # the written-out formula
    backend.set_fused_attention(True)                              # no forget_compiled()
    flipped, _ = _compare(small_reference[1], unet, np.random.default_rng(3))
    assert kernel_calls                                            # the fused kernel ran
    backend.set_fused_attention(False)
    kernel_calls.clear()
    back, _ = _compare(small_reference[1], unet, np.random.default_rng(3))
    assert not kernel_calls
    np.testing.assert_array_equal(back, written)                   # the first program again
    for ours in (written, flipped):
        assert max_abs_diff(ours, ref) <= 1e-4                     # the bound of the tests above


def test_parity_jit_compile_false_runs_op_by_op(small_reference, small_models, rng):
    """jit_compile=False is eager on every backend (JAX too: no program is compiled), the
    default is each backend's compiled form, and both give diffusers' prediction."""
    from explainer.models import backend

    unet = small_models.unet
    latents = rng.standard_normal((1, 8, 8, 4)).astype(np.float32)
    t, context = np.array([500.0], np.float32), rng.standard_normal((1, 77, 32)).astype(np.float32)
    before = dict(unet.compilations)
    eager = unet.graph(jit_compile=False)
    assert eager.mode == "eager"
    out = eager(latents, t, context)
    assert dict(unet.compilations) == before                      # nothing traced
    default = unet.graph()
    assert default.mode == {"tensorflow": "graph", "jax": "xla", "torch": "eager"}[backend.name()]
    assert max_abs_diff(out, default(latents, t, context)) <= 1e-4  # float32, other op order
    with torch.no_grad():
        ref = small_reference[1](to_torch_nchw(latents), torch.from_numpy(t),
                                 torch.from_numpy(context)).sample
    assert max_abs_diff(out, to_numpy_nhwc(ref)) <= 1e-4
    if backend.name() == "torch":
        with pytest.raises(ValueError, match="XLA"):
            unet.graph(jit_compile=True)


def test_parity_other_layout(tmp_path, rng):
    """Attention-free first level, per-level heads, two transformer blocks per level, linear
    projections (SD 2-style): the folder's own config drives the build."""
    ref = R.unet(R.SMALL_UNET_3, seed=5)
    R.save_folder(tmp_path, R.text_encoder(R.SMALL_TEXT), ref, R.vae(R.SMALL_VAE))
    models = load_models(tmp_path)
    assert models.unet.config.attention_levels == (False, True, True)
    assert models.unet.config.heads == (2, 4, 8)
    ours, expected = _compare(ref, models.unet, rng)
    assert max_abs_diff(ours, expected) <= 1e-4  # same reason as above


def test_timesteps_change_the_prediction(small_models, rng):
    latents = rng.standard_normal((1, 8, 8, 4)).astype(np.float32)
    context = rng.standard_normal((1, 77, 32)).astype(np.float32)
    a = as_numpy(small_models.unet(latents, np.array([10.0]), context))
    b = as_numpy(small_models.unet(latents, np.array([900.0]), context))
    assert np.abs(a - b).max() > 1e-3


def test_config_round_trip(small_models):
    unet = small_models.unet
    clone = UNet.from_config(unet.get_config())
    assert clone.config == unet.config
    assert len(clone.weights) == len(unet.weights)


@pytest.mark.parametrize("bad", [dict(attention_levels=(True,)), dict(heads=(8, 8, 8))])
def test_config_levels_must_agree(bad):
    from explainer.models.configs import UNetConfig

    with pytest.raises(ValueError, match="one entry per level"):
        UNetConfig(**bad)


def test_call_with_features_parity(small_models, rng):
    """call_with_features runs call's own forward pass: the same eps, bit for bit, and the
    activations the architecture table names, at their levels' grids (two ResNets per level,
    a level without attention). Op by op, on the shapes of the test above, so JAX reuses its
    compiled ops; the compiled calls are the other tests' (and the lesson's, under nbval)."""
    from explainer.explore.unet_architecture import UNetArchitecture
    from explainer.models.backend import ops

    unet = small_models.unet
    latents = rng.standard_normal((1, 8, 8, 4)).astype(np.float32)
    t, context = np.array([500.0], np.float32), rng.standard_normal((1, 77, 32)).astype(np.float32)
    eps = unet.graph(jit_compile=False)(latents, t, context)
    eps_f, features = unet.graph("call_with_features", jit_compile=False)(latents, t, context)
    np.testing.assert_array_equal(eps_f, eps)
    expected = UNetArchitecture(unet.config, latent_side=8).features()
    assert {k: v.shape for k, v in features.items()} == {k: (1, *s) for k, s in expected.items()}
    assert list(features) == list(expected)  # call order: emb(t), conv_in, down, mid, up
    assert expected["down1"] == (4, 4, 64) and expected["up1"] == (8, 8, 32)
    # they are the forward pass's own activations: the last up level's output, normed and
    # convolved, is eps; conv_in's is conv_in(x_t)
    head = unet.conv_out(ops.silu(unet.norm_out(features["up1"])))
    np.testing.assert_array_equal(as_numpy(head), eps)
    np.testing.assert_array_equal(features["conv_in"], as_numpy(unet.conv_in(latents)))
