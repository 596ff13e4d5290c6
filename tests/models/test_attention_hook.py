"""The attention hook: it sees every UNet attention layer's A, exactly as diffusers computes it,
changes nothing unless it returns a changed A, and a change it makes is the change the formula
says. Tests named *parity* also run on JAX and PyTorch in `make test`."""

from __future__ import annotations

import numpy as np
import pytest

import reference_models as R
from explainer.models.attention_hook import AttentionHook, HookChain
from explainer.models.backend import ops
from explainer.models.unet import attention_sites
from torch_io import diffusers_attention_probs


class Recorder(AttentionHook):
    """Keeps every A it sees (all heads), changes nothing; lists the sites seen at trace time."""

    key = ("record-all",)

    def __init__(self):
        self.seen = []

    def __call__(self, probs, site, inputs, tape):
        self.seen.append(site)
        tape[f"{site.name}/{site.kind}"] = probs
        return probs


class UniformCross(AttentionHook):
    """Every cross-attention row replaced by the uniform 1/77, mixed in with inputs["mix"]."""

    key = ("uniform-cross",)

    def wants(self, site):
        return site.kind == "cross"

    def __call__(self, probs, site, inputs, tape):
        uniform = ops.ones_like(probs) / ops.cast(ops.shape(probs)[-1], probs.dtype)
        return inputs["mix"] * uniform + (1.0 - inputs["mix"]) * probs


def _inputs(rng, side=16, width=32):
    latents = rng.standard_normal((2, side, side, 4)).astype(np.float32)
    timesteps = np.array([999.0, 37.0], np.float32)
    context = rng.standard_normal((2, 77, width)).astype(np.float32)
    return latents, timesteps, context


def _diffusers_probs(unet, latents, timesteps, context) -> list[np.ndarray]:
    """softmax(QKᵀ/√d) of every attn1 and attn2 layer of diffusers' UNet, in call order,
    as [B, heads, N, M]."""
    return [probs.reshape(-1, heads, *probs.shape[1:]).numpy()
            for _, heads, probs in diffusers_attention_probs(unet, latents, timesteps, context)]


@pytest.mark.parametrize("layout", R.LAYOUTS)
def test_hook_sees_every_layer_as_diffusers_parity(layout, small_reference, small_models,
                                                   tmp_path, rng):
    ref, unet = R.unet_pair(layout, small_reference, small_models, tmp_path)
    latents, timesteps, context = _inputs(rng)
    expected = _diffusers_probs(ref, latents, timesteps, context)
    hook = Recorder()
    eps, tape = unet.graph("call_with_hook", hook=hook)(latents, timesteps, context, {})
    sites = attention_sites(unet.config)
    # the sites the hook saw while the program was traced are the config's list, in call order
    assert hook.seen[:len(sites)] == sites
    assert len(expected) == len(sites)
    for site, ref_probs in zip(sites, expected):
        ours = np.asarray(tape[f"{site.name}/{site.kind}"])
        assert ours.shape == ref_probs.shape == (2, site.heads, ours.shape[2],
                                                 77 if site.kind == "cross" else ours.shape[2])
        # not flat (its spread is >1 % of the uniform 1/M), so the comparison means something
        assert ours.std() * ours.shape[-1] > 1e-2
        # float32 softmax on both sides; ~1e-7 observed
        assert np.abs(ours - ref_probs).max() <= 1e-5, site
    # a hook that returns A unchanged changes nothing: the same eps as the plain call
    plain = np.asarray(unet.graph()(latents, timesteps, context))
    # the explicit softmax path against the plain call's (fused or not): float32 round-off
    assert np.abs(np.asarray(eps) - plain).max() <= 1e-5


def test_hook_change_is_the_formula_parity(small_models, rng):
    """Uniform cross-attention reads the mean of V over the 77 tokens, which is what a context
    whose 77 rows are all their mean gives (V = c W_v has no bias; equal keys, equal weights)."""
    unet = small_models.unet
    latents, timesteps, context = _inputs(rng)
    context = 20 * context  # random weights read the text weakly; a loud context shows it
    hooked = unet.graph("call_with_hook", hook=UniformCross())
    eps, tape = hooked(latents, timesteps, context, {"mix": np.float32(1.0)})
    assert tape == {}
    mean_context = np.repeat(context.mean(axis=1, keepdims=True), 77, axis=1)
    expected = np.asarray(unet.graph()(latents, timesteps, mean_context))
    plain = np.asarray(unet.graph()(latents, timesteps, context))
    change = np.abs(expected - plain).max()
    error = np.abs(np.asarray(eps) - expected).max()
    assert change > 1e-2  # the change is visible (~0.1)
    # float32 round-off of two ways to average the same 77 vectors; ~2e-6 observed
    assert error <= 1e-5
    # the input is a per-call value of the same program: mix 0 is the plain call again
    eps0, _ = hooked(latents, timesteps, context, {"mix": np.float32(0.0)})
    assert np.abs(np.asarray(eps0) - plain).max() <= 1e-5


def test_programs_are_cached_by_key(small_models, rng):
    unet = small_models.unet
    latents, timesteps, context = _inputs(rng)
    before = unet.compilations["call_with_hook"]
    unet.graph("call_with_hook", hook=UniformCross())(latents, timesteps, context,
                                                      {"mix": np.float32(0.5)})
    unet.graph("call_with_hook", hook=UniformCross())(latents, timesteps, context,
                                                      {"mix": np.float32(0.25)})
    traced = unet.compilations["call_with_hook"] - before
    assert traced <= 1  # a new hook object with the same key reuses the program
    chain = HookChain(UniformCross(), Recorder())
    assert chain.key != UniformCross().key
    eps, tape = unet.graph("call_with_hook", hook=chain)(
        latents, timesteps, context, chain.chain_inputs([{"mix": np.float32(1.0)}, {}]))
    # the recorder, second in the chain, sees the uniform rows the first one made
    cross = [k for k in tape if k.endswith("/cross")]
    assert cross and all(np.allclose(np.asarray(tape[k]), 1 / 77, atol=1e-6) for k in cross)


def test_sites_of_sd15_config_without_weights():
    from explainer.models.configs import PRESETS

    sites = attention_sites(PRESETS["sd-v1-5"].unet)
    cross = [s for s in sites if s.kind == "cross"]
    # SD v1.5: 2 transformers at each of 3 down levels, 1 in the middle, 3 at each of 3 up levels
    assert len(cross) == 16 and len(sites) == 32
    assert [s.name for s in cross][:3] == ["down0_transformer_0", "down0_transformer_1",
                                           "down1_transformer_0"]
    assert cross[6].name == "mid_transformer" and cross[6].grid(64, 64) == (8, 8)
    assert cross[-1].label(64, 64) == "up 64x64 #2" and cross[0].heads == 8
