"""Channels-last numpy <-> channels-first torch, for comparing with the reference."""

import numpy as np


def to_torch_nchw(x: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def to_numpy_nhwc(t) -> np.ndarray:
    return t.detach().numpy().transpose(0, 2, 3, 1)


def max_abs_diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def as_numpy(x) -> np.ndarray:
    """A Keras network's output as numpy, on any backend (a torch tensor may require grad)."""
    from explainer.models.backend import ops

    return ops.convert_to_numpy(x)
