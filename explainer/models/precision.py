"""Precision: a network's arithmetic in bfloat16 or float16, its weights kept as loaded.

| dtype      | mantissa | range    | where it pays                                          |
|------------|----------|----------|--------------------------------------------------------|
| float32    | 23 bits  | ±3e38    | everywhere; the reference, and the default             |
| bfloat16   | 7 bits   | ±3e38    | CPUs with AVX512_BF16 / AMX (through oneDNN), recent GPUs |
| float16    | 10 bits  | ±65504   | GPUs (tensor cores); slow on most CPUs (emulated)      |

This is Keras' mixed precision ("mixed_bfloat16"): every layer keeps its variables in float32 and
casts its inputs and weights to the compute type on the fly, so switching back costs nothing
and loses nothing. Reductions that need range stay in float32 inside Keras (the norms' moments);
the UNet returns ε in float32, and the cross-attention maps are averaged in float32.

Which parts: ``Precision.for_pipeline(dtype)`` puts the **UNet** (over 95 % of a run's time) in
the chosen type and keeps the **text encoder** (one call per prompt; CLIP's activations have
outliers in the hundreds) and the **VAE** (one call per image; a colour shift there is visible)
in float32. The scheduler's arithmetic is numpy float32 and is never touched. Each can be set
per network with ``Precision(unet=..., text_encoder=..., vae=...)``.

``low_memory=True`` (at load: ``load_pipeline(..., dtype="bfloat16", low_memory=True)``) also
stores each lower-precision network's weights in its compute type, so SD v1.5's UNet takes 1.7 GB
instead of 3.4 GB and no per-call cast of every weight is needed. The weights are rounded once,
at load, as mixed precision rounds them on every call; the norms' scales and the biases are
rounded too (mixed keeps those float32), so ε differs from the mixed path's by about as much as
either differs from float32 (~1.5e-2 on random SD weights, tests/models/test_precision.py). What is
lost: that network cannot go back to float32 without loading again.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, replace

DTYPES = ("float32", "bfloat16", "float16")
NETWORKS = ("text_encoder", "unet", "vae")


def check_dtype(dtype, name: str = "dtype") -> str:
    if dtype not in DTYPES:
        raise ValueError(f"{name}={dtype!r}: choose one of {list(DTYPES)} (bfloat16 is the fast "
                         "one on CPUs with AVX512_BF16; float16 is for GPUs)")
    return str(dtype)


@dataclass(frozen=True)
class Precision:
    """The compute dtype of each network, and whether lower-precision weights are stored so."""

    text_encoder: str = "float32"
    unet: str = "float32"
    vae: str = "float32"
    low_memory: bool = False  # weights of the networks not in float32 stored in their type

    def __post_init__(self):
        for name in NETWORKS:
            check_dtype(getattr(self, name), name)
        if self.low_memory and all(getattr(self, n) == "float32" for n in NETWORKS):
            raise ValueError("low_memory=True stores weights in the compute type, but every "
                             "network computes in float32; pass dtype='bfloat16' (or "
                             "'float16') too, or drop low_memory")

    @classmethod
    def for_pipeline(cls, dtype: str | "Precision" = "float32",
                     low_memory: bool = False) -> "Precision":
        """The default split: the UNet in ``dtype``, the text encoder and VAE in float32."""
        if isinstance(dtype, Precision):
            return replace(dtype, low_memory=True) if low_memory else dtype
        return cls(unet=check_dtype(dtype), low_memory=bool(low_memory))

    def weight_dtypes(self) -> dict[str, str]:
        """The dtype each network's variables are created in when loading with this precision."""
        return {name: getattr(self, name) if self.low_memory else "float32" for name in NETWORKS}

    def get_config(self) -> dict:
        return asdict(self)

    def apply(self, models) -> None:
        """Set each network's layers to its compute dtype (and drop its traced graphs).

        Raises before changing anything if a network's weights are stored in a lower precision
        (``low_memory``) and a different compute type is asked for."""
        for name in NETWORKS:
            stored, asked = weight_dtype(getattr(models, name)), getattr(self, name)
            if stored != "float32" and stored != asked:
                raise ValueError(
                    f"{name}={asked!r}: its weights are stored in {stored} (loaded with "
                    f"low_memory=True), so it computes in {stored} only; load the pipeline "
                    f"again without low_memory to compute it in {asked}")
        for name in NETWORKS:
            set_compute_dtype(getattr(models, name), getattr(self, name))


def weight_dtype(model) -> str:
    """The dtype a network's variables are stored in (float32 unless loaded with low_memory)."""
    lower = {str(v.dtype) for v in model.weights} & {"bfloat16", "float16"}
    return lower.pop() if lower else "float32"


@contextlib.contextmanager
def created_in(dtype: str):
    """Keras layers built inside this ``with`` block keep their variables in ``dtype``."""
    from explainer.models.backend import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(check_dtype(dtype))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def set_compute_dtype(model, dtype: str) -> None:
    """Every layer of ``model`` computes in ``dtype`` from now on; weights are not changed."""
    policy = "float32" if check_dtype(dtype) == "float32" else f"mixed_{dtype}"
    changed = [layer for layer in model._flatten_layers(include_self=True, recursive=True)
               if layer.dtype_policy.name != policy]
    for layer in changed:
        layer.dtype_policy = policy
    if changed:  # a Pipeline built on models already in this dtype keeps their traced graphs
        model.forget_compiled()  # traced for the old dtype


def compile_choice(jit_compile) -> dict[str, bool | None]:
    """``jit_compile`` as one choice per network: None (each backend's compiled default: a
    TensorFlow graph, JAX's XLA, PyTorch op by op), True (XLA; refused on PyTorch), False (op
    by op on every backend), or a dict naming some of ``text_encoder``, ``unet``, ``vae``
    (the rest None). Checked here, before any loading (backend/compiled.py runs them).
    Measured on this project's 2-core CPU: XLA made the UNet slower and the VAE decoder
    faster under TensorFlow; on a GPU, XLA usually helps all three (not measured here)."""
    from explainer.models.backend import resolve_mode

    if jit_compile is None or isinstance(jit_compile, bool):
        choice = {name: jit_compile for name in NETWORKS}
    elif isinstance(jit_compile, dict):
        unknown = sorted(set(jit_compile) - set(NETWORKS))
        bad = {k: v for k, v in jit_compile.items() if v is not None and not isinstance(v, bool)}
        if unknown or bad:
            raise ValueError(f"jit_compile={jit_compile!r}: keys must be among {list(NETWORKS)} "
                             "and values None, True or False, e.g. {'vae': True}")
        choice = {name: jit_compile.get(name) for name in NETWORKS}
    else:
        raise TypeError(f"jit_compile must be None, True, False or a dict per network, got "
                        f"{jit_compile!r}")
    for value in set(choice.values()):
        resolve_mode(value)                              # True on PyTorch: a clear error now
    return choice
