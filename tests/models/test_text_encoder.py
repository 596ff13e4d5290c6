"""CLIP text encoder: parity with transformers' CLIPTextModel on identical weights."""

from __future__ import annotations

import numpy as np
import torch

import explainer
from explainer.models.configs import TextEncoderConfig
from explainer.models.text_encoder import TextEncoder
from torch_io import as_numpy, max_abs_diff

PROMPTS = ["a small red circle on the left", "", "an astronaut riding a horse " * 20]


def test_parity_small(small_reference, small_models):
    ids = explainer.tokenize(PROMPTS[:2])
    ids = np.stack([t.array() for t in ids])
    with torch.no_grad():
        ref = small_reference[0](torch.from_numpy(ids).long()).last_hidden_state.numpy()
    ours = as_numpy(small_models.text_encoder(ids))
    assert ours.shape == (2, 77, 32)
    assert np.abs(ref).max() > 0.5  # outputs of order 1, so the bound below is meaningful
    # float32 on both sides, 2 layers: ~1e-6 observed; 1e-4 is the bound.
    assert max_abs_diff(ours, ref) <= 1e-4


def test_parity_fused_attention(small_reference, small_folder, monkeypatch):
    """The backend's fused kernel with its causal mask (backend.fused_attention), forced on
    the CPU: the same context as transformers, and still nothing leaks back from later tokens."""
    from explainer.models import backend
    from explainer.weights import load_models

    monkeypatch.setattr(backend.devices, "FUSED_ATTENTION", True)
    encoder = load_models(small_folder).text_encoder
    ids = np.stack([t.array() for t in explainer.tokenize(PROMPTS[:2])])
    with torch.no_grad():
        ref = small_reference[0](torch.from_numpy(ids).long()).last_hidden_state.numpy()
    ours = encoder.graph()(ids)
    assert max_abs_diff(ours, ref) <= 1e-4  # float32 both sides, as test_parity_small
    a, b = (explainer.tokenize(p).array() for p in ("a red circle", "a blue circle"))
    ctx = encoder.graph()(np.stack([a, b]))
    np.testing.assert_allclose(ctx[0, :2], ctx[1, :2], atol=1e-6)  # before "red"/"blue"


def test_causal_mask_in_data(small_models):
    """Two prompts that differ at one token: identical vectors before it, different after."""
    a = explainer.tokenize("a small red circle on the left").array()
    b = explainer.tokenize("a small blue circle on the left").array()
    k = int(np.argmax(a != b))  # first differing position ("red" vs "blue")
    ctx = as_numpy(small_models.text_encoder(np.stack([a, b])))
    np.testing.assert_array_equal(ctx[0, :k], ctx[1, :k])  # exact: nothing later leaks back
    assert np.all(np.abs(ctx[0, k:] - ctx[1, k:]).max(axis=-1) > 1e-4)


def test_hidden_states_and_config(small_models):
    enc = small_models.text_encoder
    ids = np.stack([explainer.tokenize("a").array()])
    context, hidden = enc(ids, return_hidden_states=True)
    assert len(hidden) == enc.config.layers + 1
    clone = TextEncoder.from_config(enc.get_config())
    assert clone.config == enc.config
    assert isinstance(enc.config, TextEncoderConfig)
