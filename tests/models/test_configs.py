"""The real SD v1.5 configs (published config.json values) with random weights.

One forward per network proves that the key mapping covers every tensor of a real SD v1.5
checkpoint (a missing or unexpected key fails loading) and that each network computes what
the reference computes at full width and depth. Spatial sizes are kept small (the weights do
not depend on them) so the test stays within a few minutes and well within memory.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch

import explainer
import reference_models as R
from explainer.models.configs import PRESETS
from explainer.weights import load_models
from torch_io import max_abs_diff, to_numpy_nhwc, to_torch_nchw


@pytest.fixture(scope="module")
def sd15(tmp_path_factory):
    """Reference outputs computed as each reference model is made, then the loaded models."""
    folder = tmp_path_factory.mktemp("sd-v1-5-random")
    rng = np.random.default_rng(15)
    inputs = {
        "ids": np.stack([explainer.tokenize("a photograph of an astronaut riding a horse").array(),
                         explainer.tokenize("").array()]),
        "latents": rng.standard_normal((1, 16, 16, 4)).astype(np.float32),
        "timesteps": np.array([801.0], np.float32),
        "context": rng.standard_normal((1, 77, 768)).astype(np.float32),
        "images": rng.uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32),
        "z": rng.standard_normal((1, 8, 8, 4)).astype(np.float32),
    }
    expected = {}
    with torch.no_grad():
        text = R.text_encoder(R.SD15_TEXT, seed=10)
        expected["context"] = text(torch.from_numpy(inputs["ids"]).long()).last_hidden_state.numpy()
        R.save_folder(folder, text=text)
        del text
        unet = R.unet(R.SD15_UNET, seed=11)
        expected["eps"] = to_numpy_nhwc(unet(to_torch_nchw(inputs["latents"]),
                                             torch.from_numpy(inputs["timesteps"]),
                                             torch.from_numpy(inputs["context"])).sample)
        R.save_folder(folder, unet_model=unet)
        del unet
        vae = R.vae(R.SD15_VAE, seed=12)
        expected["mean"] = to_numpy_nhwc(vae.encode(to_torch_nchw(inputs["images"])).latent_dist.mean)
        expected["decoded"] = to_numpy_nhwc(vae.decode(to_torch_nchw(inputs["z"]) / 0.18215).sample)
        R.save_folder(folder, vae_model=vae)
        del vae
    gc.collect()
    models = load_models(folder, config=PRESETS["sd-v1-5"])  # also checks SD v1.5 shape
    return models, inputs, expected


def test_text_encoder_full_size(sd15):
    models, inputs, expected = sd15
    ours = np.asarray(models.text_encoder(inputs["ids"]))
    assert ours.shape == (2, 77, 768)
    assert np.abs(expected["context"]).max() > 0.5
    # 12 layers in float32; ~1e-6 observed. The 1e-4 holds unchanged.
    assert max_abs_diff(ours, expected["context"]) <= 1e-4


def test_unet_full_size(sd15):
    models, inputs, expected = sd15
    ours = np.asarray(models.unet(inputs["latents"], inputs["timesteps"], inputs["context"]))
    assert ours.shape == (1, 16, 16, 4)
    scale = float(np.abs(expected["eps"]).max())
    assert scale > 0.1
    # 860M parameters, ~60 layers deep, float32 sums over up to 11,520 terms per output: the
    # bound is 1e-4 relative to the output's scale (it is 1e-4 absolute when the scale is 1).
    assert max_abs_diff(ours, expected["eps"]) <= 1e-4 * max(1.0, scale)


def test_vae_full_size(sd15):
    models, inputs, expected = sd15
    mean = np.asarray(models.vae.encode(inputs["images"])) / 0.18215
    decoded = np.asarray(models.vae.decode(inputs["z"]))
    assert mean.shape == (1, 8, 8, 4) and decoded.shape == (1, 64, 64, 3)
    for ours, ref in ((mean, expected["mean"]), (decoded, expected["decoded"])):
        scale = float(np.abs(ref).max())
        assert scale > 0.1
        # float32 both sides; relative to the output scale, as for the UNet.
        assert max_abs_diff(ours, ref) <= 1e-4 * max(1.0, scale)


def test_attention_capture_at_64x64(sd15):
    """SD v1.5's UNet at its real latent size (512 px images): the maps come back at the
    latent grid for all four resolution levels, each pixel's 77 weights per level sum to
    that level's number of cross-attention layers. One step of maps in a trace is then 4 levels
    + the total of [1, 77, 64, 64] float32 = 6.3 MB, whatever the heads and layers."""
    models, _, _ = sd15
    unet = models.unet
    rng = np.random.default_rng(64)
    latents = rng.standard_normal((2, 64, 64, 4)).astype(np.float32)   # batch 2: one guided step
    context = rng.standard_normal((2, 77, 768)).astype(np.float32)
    eps, maps = unet.graph("call_with_attention")(latents, np.array([500.0, 500.0], np.float32),
                                                  context)
    assert np.asarray(eps).shape == (2, 64, 64, 4)
    assert unet.attention_resolutions == (0, 1, 2, 3)
    # levels 0-2: 2 down + 3 up transformers each; level 3 (8x8): the middle block's one
    for k, m, layers in zip(unet.attention_resolutions, maps, (5, 5, 5, 1)):
        m = np.asarray(m)
        assert m.shape == (2, 64, 64, 77), k
        assert np.allclose(m.sum(axis=-1), layers, atol=1e-3), k
