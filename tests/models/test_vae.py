"""VAE: parity with diffusers' AutoencoderKL, and the latent scaling inside encode/decode."""

from __future__ import annotations

import numpy as np
import torch

from torch_io import as_numpy, max_abs_diff, to_numpy_nhwc, to_torch_nchw


def test_encode_parity_small(small_reference, small_models, rng):
    vae_ref, vae = small_reference[2], small_models.vae
    images = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    with torch.no_grad():
        dist = vae_ref.encode(to_torch_nchw(images)).latent_dist
    ours_mean = as_numpy(vae.encode(images))
    assert ours_mean.shape == (2, 16, 16, 4)  # f = 2 for this 2-level config
    expected = to_numpy_nhwc(dist.mean) * vae.config.scaling_factor  # scaled inside encode
    # float32 both sides; ~1e-7 observed. 1e-4 is the bound.
    assert max_abs_diff(ours_mean, expected) <= 1e-4
    mean, logvar = vae.encode_distribution(images)
    assert max_abs_diff(as_numpy(logvar), to_numpy_nhwc(dist.logvar)) <= 1e-4


def test_decode_parity_small(small_reference, small_models, rng):
    vae_ref, vae = small_reference[2], small_models.vae
    latents = rng.standard_normal((2, 4, 4, 4)).astype(np.float32)
    with torch.no_grad():
        ref = vae_ref.decode(to_torch_nchw(latents) / vae.config.scaling_factor).sample
    ours = as_numpy(vae.decode(latents))
    assert ours.shape == (2, 8, 8, 3)
    assert np.abs(ours).max() > 0.5
    assert max_abs_diff(ours, to_numpy_nhwc(ref)) <= 1e-4  # float32; ~2e-6 observed


def test_scaling_factor_is_applied_inside(small_models, rng):
    vae = small_models.vae
    images = rng.uniform(-1, 1, (1, 16, 16, 3)).astype(np.float32)
    mean, _ = vae.encode_distribution(images)
    np.testing.assert_allclose(as_numpy(vae.encode(images)),
                               as_numpy(mean) * 0.18215, rtol=1e-6)
    latents = as_numpy(vae.encode(images))
    np.testing.assert_allclose(as_numpy(vae.decode(latents)),
                               as_numpy(vae.decoder(latents / 0.18215)), rtol=1e-5, atol=1e-6)
