"""resize: RGB images to a model's size, e.g. the 64 px shapes drawings for SD v1.5's 512 px.

Image-to-image and inpainting take the input picture at the size the run uses (a multiple of
the pipeline's ``size_multiple``); the drawings of ``explainer.shapes`` are 64x64. Resampling
is bicubic (Pillow), which keeps a drawing's colours and smooths its edges when enlarged.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np


def resize(images, size) -> np.ndarray:
    """uint8 RGB ``[H, W, 3]`` or ``[B, H, W, 3]`` -> the same rank at ``size`` (an int for a
    square, or ``(height, width)``), bicubic. Same size in, an unchanged copy out."""
    from PIL import Image

    array = np.asarray(images)
    if array.dtype != np.uint8 or array.ndim not in (3, 4) or array.shape[-1] != 3:
        raise ValueError(f"resize takes uint8 RGB images [H, W, 3] or [B, H, W, 3], got "
                         f"{array.dtype} {array.shape}")
    height, width = size if isinstance(size, (tuple, list)) and len(size) == 2 else (size, size)
    if not all(isinstance(v, Integral) and not isinstance(v, bool) and v > 0
               for v in (height, width)):
        raise ValueError(f"size={size!r} must be a positive int or (height, width) of ints")
    batch = array if array.ndim == 4 else array[None]                       # [B, H, W, 3]
    if batch.shape[1:3] == (height, width):
        out = batch.copy()
    else:
        out = np.stack([np.asarray(Image.fromarray(im).resize((int(width), int(height)),
                                                              Image.Resampling.BICUBIC))
                        for im in batch])                                   # [B, h', w', 3]
    return out if array.ndim == 4 else out[0]
