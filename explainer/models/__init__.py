"""The three networks, Keras 3 on any backend: text encoder, UNet, VAE.

- ``configs.py``: config dataclasses and ``PRESETS`` ("sd-v1-5", "tiny-shapes");
- ``backend/``: the ONLY place that knows the Keras backend (quiet import, compiled calls,
  training steps, versions);
- ``attention.py``: the one attention formula; ``unet_blocks.py``: the UNet's and VAE's blocks;
- ``text_encoder.py``, ``unet.py``, ``vae.py``: the networks; ``precision.py``: their dtypes.

Importing this folder is cheap; Keras loads with the first network module.
"""
