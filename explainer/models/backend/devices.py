"""Device questions and switches: the backend's name, the GPU (if any), the attention
kernel, peak memory, full-precision matmuls, and the versions a trace records."""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from explainer.models.backend.quiet import keras

def name() -> str:
    """The Keras backend in use: "tensorflow" (the default), "jax" or "torch"."""
    return keras.backend.backend()


@contextlib.contextmanager
def highest_matmul_precision():
    """Full float32 matrix products inside this block (no TF32 on a GPU), for parity checks."""
    backend = name()
    if backend == "jax":
        import jax

        with jax.default_matmul_precision("highest"):
            yield
    elif backend == "torch":
        import torch

        saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    else:
        import tensorflow as tf

        saved = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(False)
        try:
            yield
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(saved)


@functools.lru_cache(maxsize=None)
def accelerator() -> str | None:
    """The GPU Keras computes on (its name), or None on a CPU."""
    backend = name()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return None if device.platform == "cpu" else device.device_kind
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name") if gpus else None


FUSED_ATTENTION: bool | None = None  # None: fused_attention() decides; set_fused_attention


def set_fused_attention(choice: bool | None) -> bool | None:
    """Force the fused kernel (True), the written-out formula (False), or let
    ``fused_attention()`` decide (None); returns the previous choice. Takes effect at a
    network's next call on every backend: the kernel is part of each compiled call's key."""
    global FUSED_ATTENTION
    if choice is not None and not isinstance(choice, bool):
        raise TypeError(f"set_fused_attention takes True, False or None, got {choice!r}")
    previous, FUSED_ATTENTION = FUSED_ATTENTION, choice
    return previous


def fused_attention() -> bool:
    """Whether ``Attention`` calls the backend's fused kernel instead of the written-out
    softmax(Q Kᵀ/√d) V: ``keras.ops.dot_product_attention``, which is cuDNN's flash attention
    under JAX on a GPU (float16/bfloat16) and PyTorch's ``scaled_dot_product_attention``, so
    a 512² UNet never stores its [B, heads, 4096, 4096] scores. Chosen on a GPU under JAX or
    PyTorch. On a CPU the written-out formula measured as fast or faster (SD v1.5 UNet, batch
    2, 64² latents, 2-core Xeon: fused 1.2× slower under JAX; under TensorFlow, which has no
    fused kernel, its formula computes the scores in float32: 1.28× slower in bfloat16).
    Both give the same numbers within float32 round-off (tests/models/test_unet.py).
    ``set_fused_attention`` forces one (bench/gpu.py times both).
    """
    if FUSED_ATTENTION is not None:
        return FUSED_ATTENTION
    return name() != "tensorflow" and accelerator() is not None


def peak_memory() -> int | None:
    """Peak bytes the backend has held on the GPU so far in this process (None on a CPU)."""
    if accelerator() is None:
        return None
    backend = name()
    if backend == "jax":
        import jax

        return int(jax.devices()[0].memory_stats()["peak_bytes_in_use"])
    if backend == "torch":
        import torch

        return int(torch.cuda.max_memory_allocated())
    import tensorflow as tf

    return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])


def versions() -> dict[str, str]:
    """The versions a trace records: this package, Keras, its backend, numpy."""
    import importlib

    from explainer.version import __version__

    backend = name()
    return {"explainer": __version__, "keras": keras.__version__, "backend": backend,
            backend: importlib.import_module(backend).__version__, "numpy": np.__version__}
