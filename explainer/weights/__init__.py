"""Checkpoints: the ONLY place that knows checkpoint key names and file layouts.

- ``keys.py``: checkpoint key -> Keras variable, for each network;
- ``configs.py``: a folder's config.json files -> our config dataclasses (or a clear refusal);
- ``loader.py``: find, check and stream safetensors into the models (``load_models``);
- ``download.py``: fetch the SD v1.5 folder with huggingface_hub (``download``).
"""

from explainer.weights.configs import UnsupportedConfigError
from explainer.weights.download import DownloadError, download
from explainer.weights.loader import Models, WeightsError, load_models

__all__ = ["DownloadError", "Models", "UnsupportedConfigError", "WeightsError", "download",
           "load_models"]
