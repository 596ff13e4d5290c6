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


def diffusers_attention_probs(unet, latents, timesteps, context, kinds=("attn1", "attn2")):
    """softmax(QKᵀ/√d) of the attention layers of a diffusers UNet whose name holds one of
    ``kinds`` ("attn1": self, "attn2": cross), recorded by a processor in call order:
    a list of ``(layer name, heads, probs [B·heads, N, M] torch)``."""
    import torch
    from diffusers.models.attention_processor import AttnProcessor

    recorded = []

    class Recorder(AttnProcessor):
        def __init__(self, name):
            self.name = name

        def __call__(self, attn, *args, **kwargs):
            original = attn.get_attention_scores

            def scores(query, key, mask=None):
                probs = original(query, key, mask)                 # [B·heads, N, M]
                recorded.append((self.name, attn.heads, probs))
                return probs

            attn.get_attention_scores = scores
            try:
                return super().__call__(attn, *args, **kwargs)
            finally:
                del attn.get_attention_scores

    before = dict(unet.attn_processors)
    unet.set_attn_processor({name: Recorder(name) if any(f".{k}." in name for k in kinds)
                             else AttnProcessor() for name in unet.attn_processors})
    try:
        with torch.no_grad():
            unet(to_torch_nchw(latents), torch.from_numpy(timesteps), torch.from_numpy(context))
    finally:
        unet.set_attn_processor(before)
    return recorded
