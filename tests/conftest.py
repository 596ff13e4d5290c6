"""Shared fixtures: reference models with seeded random weights saved in the diffusers layout."""

from __future__ import annotations

import numpy as np
import pytest

import reference_models as R


@pytest.fixture(scope="session")
def small_reference():
    """(text_encoder, unet, vae) reference PyTorch models in small configs, random weights."""
    return R.text_encoder(R.SMALL_TEXT), R.unet(R.SMALL_UNET), R.vae(R.SMALL_VAE)


@pytest.fixture(scope="session")
def small_folder(tmp_path_factory, small_reference):
    """Those models saved with save_pretrained (safetensors) in a diffusers folder."""
    return R.save_folder(tmp_path_factory.mktemp("small-sd"), *small_reference)


@pytest.fixture(scope="session")
def small_models(small_folder):
    from explainer.weights import load_models

    return load_models(small_folder)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def tiny_pipe():
    """The shipped tiny-shapes pipeline (the embedded default), loaded once per session."""
    import explainer

    return explainer.load_pipeline()
