"""explainer: how Stable Diffusion turns a prompt into a picture, one inspectable stage at a time.

The public API is re-exported here. Importing the package is cheap: TensorFlow loads only
when a network is first built.
"""

import os

# Keras 3 runs on TensorFlow here (graph mode on CPU, oneDNN on, as TensorFlow ships it).
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from explainer.tokenizer import PromptTruncatedWarning, Tokenizer, Tokens, tokenize

__version__ = "0.1.0"

__all__ = [
    "AttentionMaps", "Comparison", "LatentTrajectory", "compare", "PRESETS", "Models", "Pipeline", "Precision", "PromptTruncatedWarning", "Result", "StepRecord",
    "TextEncoder", "Tokenizer", "Tokens", "Trace", "UNet", "VAE", "WeightsError",
    "apply_guidance", "download", "load_models", "load_pipeline", "tokenize", "__version__",
]


def __getattr__(name):
    # Heavy parts (TensorFlow) load on first use, so `import explainer` stays fast.
    if name in ("load_models", "download", "Models", "WeightsError"):
        from explainer import weights

        return getattr(weights, name)
    if name in ("TextEncoder", "UNet", "VAE"):
        from explainer.text_encoder import TextEncoder
        from explainer.unet import UNet
        from explainer.vae import VAE

        return {"TextEncoder": TextEncoder, "UNet": UNet, "VAE": VAE}[name]
    if name in ("PRESETS",):
        from explainer.presets import PRESETS

        return PRESETS
    if name in ("load_pipeline", "Pipeline", "Result"):
        from explainer import pipeline

        return getattr(pipeline, name)
    if name in ("Trace", "StepRecord"):
        from explainer import trace

        return getattr(trace, name)
    if name == "AttentionMaps":
        from explainer.attention_maps import AttentionMaps

        return AttentionMaps
    if name in ("Comparison", "compare"):
        from explainer import comparison

        return getattr(comparison, name)
    if name == "LatentTrajectory":
        from explainer.trajectory import LatentTrajectory

        return LatentTrajectory
    if name == "Precision":
        from explainer.precision import Precision

        return Precision
    if name == "apply_guidance":
        from explainer.guidance import apply_guidance

        return apply_guidance
    raise AttributeError(f"module 'explainer' has no attribute {name!r}")
