"""``load_pipeline``: a ready ``Pipeline`` from a preset name and/or a diffusers folder."""

from __future__ import annotations

from pathlib import Path


def load_pipeline(preset: str | None = None, weights: str | Path | None = None,
                  variant: str | None = None, jit_compile: bool | dict | None = None,
                  dtype="float32", low_memory: bool = False) -> Pipeline:
    """A ``Pipeline`` for a preset and/or a diffusers weights folder.

    - ``load_pipeline(weights=DIR)``: any SD v1-style diffusers folder, built from its configs;
    - ``load_pipeline("sd-v1-5", weights=DIR)``: the same, checking the folder is SD v1.5-shaped;
    - ``load_pipeline("tiny-shapes")`` (or no argument): the model shipped in assets/.

    ``dtype`` ("float32", "bfloat16", "float16") is the UNet's compute type (precision.py);
    ``low_memory=True`` stores the weights of the networks that compute in a lower precision
    in that type as well (SD v1.5's UNet: 1.7 GB instead of 3.4 GB), rounded once as they are
    read; they cannot go back to float32 without loading again.
    ``jit_compile``: None (default), each backend's compiled form (a TensorFlow graph, JAX's
    XLA, PyTorch op by op); True, XLA (not on PyTorch); False, op by op; or per network, e.g.
    ``{"vae": True}``. The trace records what ran ("graph", "xla", "eager").
    """
    from explainer.models.precision import Precision, compile_choice
    from explainer.diffusion.pipeline import Pipeline
    from explainer.models.configs import PRESETS
    from explainer.weights import load_models
    from explainer.weights.loader import has_weights

    precision = Precision.for_pipeline(dtype, low_memory)
    compile_choice(jit_compile)  # both checked before any loading
    if preset is None and weights is None:
        preset = "tiny-shapes"  # the embedded default: runs anywhere, no download
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    if weights is None and preset is not None and PRESETS[preset].assets:
        from explainer.assets import asset_path

        weights = asset_path(PRESETS[preset].assets)
        if not has_weights(weights):
            raise FileNotFoundError(f"the {preset} weights are missing from {weights}; train "
                                    "them with `python -m explainer.shapes.train --out DIR` and "
                                    "copy DIR/tiny-shapes there")
    if weights is None:
        if preset is None:
            raise ValueError("give a preset (one of %s) or weights=DIR, a diffusers folder"
                             % sorted(PRESETS))
        raise ValueError(f"preset {preset!r} needs weights=DIR: its diffusers folder. Get it "
                         f"with `explainer download {preset} --to DIR` on a machine with "
                         "internet access.")
    models = load_models(weights, variant=variant,               # models.config: resolved
                         config=PRESETS[preset] if preset is not None else None,
                         weight_dtypes=precision.weight_dtypes())
    return Pipeline(models, jit_compile=jit_compile, dtype=precision)
