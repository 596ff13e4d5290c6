"""Lower precision (bfloat16, float16) and XLA: the quality guards against float32."""

from __future__ import annotations

import numpy as np
import pytest

import explainer
from explainer.models.precision import Precision, compile_choice
from explainer.shapes import all_attributes, score
from explainer.drawn.dataset import caption
from explainer.shapes.evaluate import subset


def relative_error(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def psnr(a, b) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def eps_errors(pipe, dtype, prompt, num_steps=6, **size):
    """Run float32, then re-predict ε at every step's x_t in ``dtype``: relative errors."""
    pipe.set_precision("float32")
    trace = pipe.text_to_image(prompt, seed=0, num_steps=num_steps, scheduler="ddim",
                               guidance_scale=7.5, **size).trace
    pipe.set_precision(dtype)
    try:
        errors = []
        for step in trace.steps:
            x_in = pipe.scheduler.scale_model_input(step.latents_in, step.timestep)
            _, eps_text = pipe.predict_noise(x_in, step.timestep, trace.uncond_context,
                                             trace.context)
            errors.append(relative_error(eps_text, step.eps_text))
    finally:
        pipe.set_precision("float32")
    return errors


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_eps_per_step_on_random_weights(small_folder, dtype):
    """Random SD-style weights (the small reference models): ε at each step's x_t, in the lower
    precision, within 2e-2 relative error of float32 (the issue's bound; bfloat16 keeps 8
    significant bits, so ~4e-3 per op, and errors partly cancel over the sums)."""
    pipe = explainer.load_pipeline(weights=small_folder)
    errors = eps_errors(pipe, dtype, "a photograph of an astronaut riding a horse",
                        height=64, width=64)
    assert max(errors) <= 2e-2, errors
    assert min(errors) > 0  # the lower precision really ran


def test_compute_dtype_is_what_was_asked(small_folder):
    pipe = explainer.load_pipeline(weights=small_folder, dtype="bfloat16")
    assert pipe.precision == Precision(unet="bfloat16")
    assert pipe.unet.conv_in.compute_dtype == "bfloat16"
    assert pipe.unet.conv_in.kernel.dtype == "float32"          # weights kept as loaded
    assert pipe.vae.dtype_policy.name == "float32"
    assert pipe.text_encoder.dtype_policy.name == "float32"
    result = pipe.text_to_image("a red circle", num_steps=2, height=64, width=64)
    assert result.trace.steps[0].eps.dtype == np.float32         # ε comes back in float32
    assert result.trace.metadata["precision"]["unet"] == "bfloat16"
    pipe.set_precision("float32")
    assert pipe.unet.conv_in.compute_dtype == "float32"


def test_bad_options_fail_before_loading(tmp_path):
    with pytest.raises(ValueError, match="bfloat16"):
        explainer.load_pipeline(weights=tmp_path / "nowhere", dtype="int8")
    with pytest.raises(ValueError, match="keys must be among"):
        explainer.load_pipeline(weights=tmp_path / "nowhere", jit_compile={"vea": True})
    with pytest.raises(TypeError, match="jit_compile"):
        compile_choice("yes")
    assert compile_choice({"vae": True}) == {"text_encoder": None, "unet": None, "vae": True}


def test_tiny_shapes_in_bfloat16(tiny_pipe):
    """tiny-shapes pictures in bfloat16 against float32 from the same noise: every picture at
    PSNR >= 30 dB (the issue's bound; ~44 dB worst, ~50 dB mean measured), and adherence on the
    CI subset the same within sampling noise. bfloat16 moves a few pixels of borderline
    pictures, which can flip a verdict (measured: 30 vs 32 of 34 right on all four), so the
    bound is the one tests/shapes/test_evaluate.py uses: 3 binomial standard errors + one image."""
    from sampling import sampling_tolerance

    attrs = subset(24) + [a for a in all_attributes() if a.held_out][::3]
    prompts = [caption(a) for a in attrs]
    seeds = [1000] * len(prompts)
    tiny_pipe.set_precision("float32")
    reference = tiny_pipe.text_to_image(prompts, seed=seeds, keep=()).images
    tiny_pipe.set_precision("bfloat16")
    try:
        low = tiny_pipe.text_to_image(prompts, seed=seeds, keep=()).images
    finally:
        tiny_pipe.set_precision("float32")
    values = [psnr(a, b) for a, b in zip(low, reference)]
    assert min(values) >= 30, sorted(values)[:5]
    for name in ("colour", "size", "shape", "position", "all"):
        ours = np.mean([getattr(score(im, a), name) for im, a in zip(low, attrs)])
        theirs = np.mean([getattr(score(im, a), name) for im, a in zip(reference, attrs)])
        assert abs(ours - theirs) <= sampling_tolerance(theirs, len(attrs)), (name, ours, theirs)


def test_xla_gives_the_same_trace(tiny_pipe):
    """XLA on every network: the same run within float32 round-off (XLA fuses and reorders)."""
    plain = tiny_pipe.text_to_image("a large red circle on the left", seed=4, num_steps=6)
    compiled = explainer.Pipeline(tiny_pipe.models, tiny_pipe.config, jit_compile=True)
    fast = compiled.text_to_image("a large red circle on the left", seed=4, num_steps=6)
    for name in ("eps_text", "pred_x0", "latents_out"):
        a, b = plain.trace.stack(name), fast.trace.stack(name)
        assert np.abs(a - b).max() <= 1e-4 * max(1.0, np.abs(a).max()), name
    assert np.abs(plain.images.astype(int) - fast.images).max() <= 2  # uint8 rounding


def test_low_memory_stores_the_unet_in_bfloat16(small_folder):
    """low_memory=True: the UNet's variables are bfloat16 (half the bytes) and its ε stays within
    the issue's 2e-2 of float32 at every step's x_t. Against the mixed path it loses nothing
    beyond bfloat16's own noise: the matrices are rounded as mixed precision rounds them per
    call, but the norms' scales/offsets and the biases are rounded too (mixed keeps them
    float32), so low_memory's error may differ from mixed's; measured 1.2-1.7e-2 for both.
    Bound: no more than 1.5x mixed's error at any step."""
    reference = explainer.load_pipeline(weights=small_folder)
    mixed = explainer.load_pipeline(weights=small_folder, dtype="bfloat16")
    low = explainer.load_pipeline(weights=small_folder, dtype="bfloat16", low_memory=True)
    assert {str(v.dtype) for v in low.unet.weights} == {"bfloat16"}
    assert {str(v.dtype) for v in low.text_encoder.weights + low.vae.weights} == {"float32"}
    assert low.precision == Precision(unet="bfloat16", low_memory=True)
    trace = reference.text_to_image("a photograph of an astronaut riding a horse", seed=0,
                                    num_steps=5, scheduler="ddim", guidance_scale=7.5,
                                    height=64, width=64).trace
    low_error, mixed_error = [], []
    for step in trace.steps:
        x_in = reference.scheduler.scale_model_input(step.latents_in, step.timestep)
        args = (x_in, step.timestep, trace.uncond_context, trace.context)
        low_error.append(relative_error(low.predict_noise(*args)[1], step.eps_text))
        mixed_error.append(relative_error(mixed.predict_noise(*args)[1], step.eps_text))
    assert max(low_error) <= 2e-2, low_error
    assert all(a <= 1.5 * b for a, b in zip(low_error, mixed_error)), (low_error, mixed_error)
    run = low.text_to_image("a red circle", num_steps=2, height=64, width=64)
    assert run.trace.metadata["precision"]["low_memory"] is True
    with pytest.raises(ValueError, match="low_memory"):
        low.set_precision("float32")  # would compute float32 on rounded weights: refused
    assert low.unet.conv_in.compute_dtype == "bfloat16"  # and nothing changed
    with pytest.raises(ValueError, match="every network computes in float32"):
        explainer.load_pipeline(weights=small_folder / "nowhere", low_memory=True)
