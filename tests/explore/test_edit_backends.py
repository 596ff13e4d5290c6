"""The same edits on TensorFlow, JAX and PyTorch: prompt-to-prompt (a word swap with local
blending, a re-weighting) run by `python -m explainer.shapes.editing_eval --save-images` in
one process per backend. Heavy (three processes): in `make test`'s second stream."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np


def _edit(backend: str, path) -> np.ndarray:
    done = subprocess.run([sys.executable, "-m", "explainer.shapes.editing_eval",
                           "--save-images", str(path)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "KERAS_BACKEND": backend})
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(path) as data:
        return data["images"]


def test_same_edits_on_every_backend(tmp_path):
    images = {b: _edit(b, tmp_path / f"{b}.npz") for b in ("tensorflow", "jax", "torch")}
    assert images["tensorflow"].shape == (5, 64, 64, 3)
    for backend in ("jax", "torch"):
        diff = np.abs(images[backend].astype(int) - images["tensorflow"])
        # float32 on three backends: round-off moves a pixel by 1/255 now and then (the issue:
        # within 1/255 on >= 99.9 % of pixels)
        assert (diff <= 1).mean() >= 0.999, (backend, (diff <= 1).mean(), diff.max())
