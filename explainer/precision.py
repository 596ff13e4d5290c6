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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

DTYPES = ("float32", "bfloat16", "float16")
NETWORKS = ("text_encoder", "unet", "vae")


def check_dtype(dtype, name: str = "dtype") -> str:
    if dtype not in DTYPES:
        raise ValueError(f"{name}={dtype!r}: choose one of {list(DTYPES)} (bfloat16 is the fast "
                         "one on CPUs with AVX512_BF16; float16 is for GPUs)")
    return str(dtype)


@dataclass(frozen=True)
class Precision:
    """The compute dtype of each network; variables stay as loaded (float32)."""

    text_encoder: str = "float32"
    unet: str = "float32"
    vae: str = "float32"

    def __post_init__(self):
        for name in NETWORKS:
            check_dtype(getattr(self, name), name)

    @classmethod
    def for_pipeline(cls, dtype: str | "Precision" = "float32") -> "Precision":
        """The default split: the UNet in ``dtype``, the text encoder and VAE in float32."""
        if isinstance(dtype, Precision):
            return dtype
        return cls(unet=check_dtype(dtype))

    def get_config(self) -> dict:
        return asdict(self)

    def apply(self, models) -> None:
        """Set each network's layers to its compute dtype (and drop its traced graphs)."""
        for name in NETWORKS:
            set_compute_dtype(getattr(models, name), getattr(self, name))


def set_compute_dtype(model, dtype: str) -> None:
    """Every layer of ``model`` computes in ``dtype`` from now on; weights are not changed."""
    policy = "float32" if check_dtype(dtype) == "float32" else f"mixed_{dtype}"
    changed = [layer for layer in model._flatten_layers(include_self=True, recursive=True)
               if layer.dtype_policy.name != policy]
    for layer in changed:
        layer.dtype_policy = policy
    if changed:  # a Pipeline built on models already in this dtype keeps their traced graphs
        model.__dict__.pop("_graph_functions", None)  # graphs traced for the old dtype


def compile_choice(jit_compile) -> dict[str, bool]:
    """``jit_compile`` as one flag per network: a bool for all, or a dict naming some of
    ``text_encoder``, ``unet``, ``vae`` (the rest stay False). Measured on this project's 2-core
    CPU: XLA made the UNet slower and the VAE decoder faster; on a GPU, XLA usually helps all
    three (not measured here)."""
    if isinstance(jit_compile, bool):
        return {name: jit_compile for name in NETWORKS}
    if isinstance(jit_compile, dict):
        unknown = sorted(set(jit_compile) - set(NETWORKS))
        bad = {k: v for k, v in jit_compile.items() if not isinstance(v, bool)}
        if unknown or bad:
            raise ValueError(f"jit_compile={jit_compile!r}: keys must be among {list(NETWORKS)} "
                             "and values True or False, e.g. {'vae': True}")
        return {name: jit_compile.get(name, False) for name in NETWORKS}
    raise TypeError(f"jit_compile must be True, False or a dict per network, got {jit_compile!r}")
