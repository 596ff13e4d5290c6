"""explainer: how Stable Diffusion turns a prompt into a picture, one inspectable stage at a time.

The public API is re-exported here from the layers below (see the folders):

    tokenizer.py   tokenize, Tokenizer, Tokens
    models/        TextEncoder, UNet, VAE, PRESETS, Precision   (Keras 3; backend/)
    weights/       load_models, download, Models, WeightsError
    schedulers/    make_scheduler, sigmas_from
    diffusion/     load_pipeline, Pipeline, Result, Trace, StepRecord, apply_guidance, resize
    explore/       AttentionMaps, LatentTrajectory, Comparison, compare, UNetArchitecture,
                   ParameterCounts
    viz/, shapes/  imported as ``explainer.viz``, ``explainer.shapes``

Importing the package is cheap: Keras and its backend load only when a network is first built.
"""

import importlib

# The Keras backend is whatever Keras resolves: KERAS_BACKEND, then ~/.keras/keras.json, then
# TensorFlow (models/backend/). Nothing here writes the environment.
from explainer.tokenizer import PromptTruncatedWarning, Tokenizer, Tokens, tokenize  # noqa: E402
from explainer.version import __version__  # noqa: E402

# name -> the module that defines it, imported on first use (heavy parts load lazily)
_LAZY = {
    "TextEncoder": "explainer.models.text_encoder",
    "UNet": "explainer.models.unet",
    "VAE": "explainer.models.vae",
    "PRESETS": "explainer.models.configs",
    "Precision": "explainer.models.precision",
    "load_models": "explainer.weights",
    "download": "explainer.weights",
    "Models": "explainer.weights",
    "WeightsError": "explainer.weights",
    "make_scheduler": "explainer.schedulers",
    "sigmas_from": "explainer.schedulers",
    "load_pipeline": "explainer.diffusion.loading",
    "Pipeline": "explainer.diffusion.pipeline",
    "Result": "explainer.diffusion.pipeline",
    "Trace": "explainer.diffusion.trace",
    "StepRecord": "explainer.diffusion.trace",
    "apply_guidance": "explainer.diffusion.guidance",
    "resize": "explainer.diffusion.resize",
    "AttentionMaps": "explainer.explore.attention_maps",
    "LatentTrajectory": "explainer.explore.trajectory",
    "Comparison": "explainer.explore.comparison",
    "compare": "explainer.explore.comparison",
    "UNetArchitecture": "explainer.explore.unet_architecture",
    "ParameterCounts": "explainer.explore.parameter_counts",
}

__all__ = sorted([*_LAZY, "PromptTruncatedWarning", "Tokenizer", "Tokens", "tokenize",
                  "__version__"])


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'explainer' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
