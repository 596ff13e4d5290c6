"""Exercises for lessons 06-09, where the answer is a picture or a number about one: the
drawn shapes' scorer (explainer/drawn/scorer.py) reads what tiny-shapes drew."""

from __future__ import annotations

import copy

import numpy as np

from explainer.drawn.dataset import COLOURS
from explainer.drawn.scorer import measure
from explainer.exercises.feedback import Attempt, Feedback, compare, right, unanswered, wrong
from explainer.schedulers.timesteps import strength_start


def _said(image) -> str:
    m = measure(image)
    return "nothing (a black picture)" if m is None else \
        f"a {m.size} {m.colour} {m.shape} ({m.position})"


def check_latent_shape(preset: str, height: int, width: int, answer) -> Feedback:
    """06.1: the latent's shape (h, w, channels) for an image of ``height`` × ``width``."""
    from explainer.models.configs import PRESETS

    ex = "06.1 · the latent's shape"
    if (waiting := unanswered(ex, answer)):
        return waiting
    config = PRESETS[preset]
    f = config.vae.downscale
    want = (height // f, width // f, config.vae.latent_channels)
    if tuple(np.ravel(answer).tolist()) == want:
        return right(ex, f"{height}×{width}×3 pixels -> {want[0]}×{want[1]}×{want[2]}: each side "
                     f"/ f = {f} (the VAE halves the side {len(config.vae.block_channels) - 1} "
                     f"times), and {want[2]} channels.")
    return wrong(ex, f"{answer} is not it. The VAE's factor f is 2^(levels − 1) = {f} along each "
                 "side, and the latent has 4 channels, channels last.")


def check_latent_scale(function) -> Feedback:
    """06.2: ``function(latents)`` -> k, the factor that gives the latents unit variance."""
    ex = "06.2 · the latent scale k"
    rng = np.random.default_rng(7)
    latents = (rng.standard_normal((16, 8, 8, 4)) * 2.7 + 0.4).astype(np.float32)
    got, failed = Attempt(ex, function)(latents)
    if failed:
        return failed
    want = 1.0 / latents.std()
    if np.isclose(float(np.asarray(got)), latents.std(), rtol=1e-3):
        return wrong(ex, "that is the standard deviation itself; k multiplies the latents so "
                     "that their std becomes 1")
    failed = compare(ex, np.asarray(got, np.float64).reshape(()), want, "k", rtol=1e-3)
    if failed:
        return failed
    return right(ex, f"k = 1/std = {want:.3f} for these latents. SD v1.5's 0.18215 and tiny-shapes' "
                 "own k were found the same way, from their VAEs' latents of training images.")


def check_loop(pipe, function, prompt: str = "a large red circle on the left", seed: int = 0,
               steps: int = 6) -> Feedback:
    """07.1: ``function(pipe, prompt, seed, steps)`` -> the image [H, W, 3] uint8, written as
    the loop of lesson 07 (stage by stage), equal to ``pipe.text_to_image``'s."""
    ex = "07.1 · the loop, by hand"
    got, failed = Attempt(ex, function)(pipe, prompt, seed, steps)
    if failed:
        return failed
    want = pipe.text_to_image(prompt, seed=seed, num_steps=steps).images[0]
    got = np.asarray(got)
    if got.ndim == 4 and got.shape[0] == 1:
        got = got[0]
    if got.shape != want.shape:
        return wrong(ex, f"the image has shape {got.shape}; it should be {want.shape} (decode the "
                     "final latents with pipe.decode)")
    diff = int(np.abs(got.astype(int) - want.astype(int)).max())
    if diff > 1:  # one level: batch layout can move float32 round-off by one unit of 1/255
        return wrong(ex, f"your picture differs from pipe.text_to_image's by up to {diff}/255; "
                     f"yours shows {_said(got)}, the pipeline's {_said(want)}. Check the "
                     "initial noise scale, scale_model_input, the guidance scale and the "
                     "scheduler's set_timesteps.")
    return right(ex, f"the same picture ({_said(want)}): the loop is tokenize, encode, x_T, then "
                 "per timestep predict, guide, step, and finally decode. Nothing else happens.")


def check_fewest_steps(pipe, prompt: str, seed: int, steps: int) -> Feedback:
    """07.2: the fewest steps at which ``prompt`` from ``seed`` still draws what it asks."""
    from explainer.drawn.scorer import score

    ex = "07.2 · how few steps are enough"
    if (waiting := unanswered(ex, steps)):
        return waiting
    asked = _asked(prompt)
    if asked is None:
        return wrong(ex, f"{prompt!r} does not state all four attributes the scorer reads; use "
                     "'a {size} {colour} {shape} {position}', e.g. 'a small blue square at the top'")
    if not isinstance(steps, (int, np.integer)) or steps < 2:
        return wrong(ex, f"steps={steps!r}: answer with a whole number of at least 2")
    now = pipe.text_to_image(prompt, seed=seed, num_steps=int(steps)).images[0]
    fewer = pipe.text_to_image(prompt, seed=seed, num_steps=int(steps) - 1).images[0]
    ok_now, ok_fewer = score(now, asked).all, score(fewer, asked).all
    if not ok_now:
        return wrong(ex, f"at {steps} steps the picture shows {_said(now)}, not what the prompt "
                     "asks: try more steps")
    if ok_fewer:
        return wrong(ex, f"{steps - 1} steps are still enough ({_said(fewer)}): try fewer")
    return right(ex, f"{steps} steps draw it, {steps - 1} do not ({_said(fewer)}). Each step "
                 "is a jump down the noise levels; with too few, the first x̂₀ guesses are "
                 "never corrected.")


def _asked(prompt: str):
    from explainer.drawn.dataset import POSITION_PHRASES, SHAPES, SIZES, Attributes

    words = prompt.lower()
    pick = {}
    for name, options in (("shape", SHAPES), ("colour", COLOURS), ("size", SIZES)):
        found = [o for o in options if f" {o}" in f" {words}"]
        if len(found) != 1:
            return None
        pick[name] = found[0]
    places = [p for p, phrases in POSITION_PHRASES.items() if any(ph in words for ph in phrases)]
    if len(places) != 1:
        return None
    return Attributes(pick["shape"], pick["colour"], pick["size"], places[0])


def check_seed_for(pipe, prompt: str, colour: str, seed) -> Feedback:
    """08.1: a seed for which ``prompt`` (which leaves the colour open) draws ``colour``."""
    ex = "08.1 · a seed chooses what the prompt leaves open"
    if (waiting := unanswered(ex, seed)):
        return waiting
    if colour not in COLOURS:
        return wrong(ex, f"colour={colour!r}; choose one of {list(COLOURS)}")
    if any(c in prompt.lower().split() for c in COLOURS):
        return wrong(ex, f"{prompt!r} already names a colour; the point is a prompt that leaves "
                     "it open, e.g. 'a large circle on the left'")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        return wrong(ex, f"seed={seed!r}: answer with a whole number ≥ 0")
    image = pipe.text_to_image(prompt, seed=int(seed)).images[0]
    m = measure(image)
    if m is None or m.colour != colour:
        return wrong(ex, f"seed {seed} draws {_said(image)}. Try other seeds: draw eight at once "
                     "with pipe.text_to_image(prompt, seed=list(range(8))) and look.")
    return right(ex, f"seed {seed} draws {_said(image)}. The prompt fixed the rest; the seed's "
                 "x_T decided the colour, and it decides it the same way on every machine.")


def check_negative_prompt(pipe, prompt: str, negative: str, seeds=tuple(range(8))) -> Feedback:
    """08.2: a negative prompt after which no picture of ``prompt`` (seeds 0-7) is red."""
    ex = "08.2 · a negative prompt that removes red"
    if (waiting := unanswered(ex, negative)):
        return waiting
    if not isinstance(negative, str) or not negative.strip():
        return wrong(ex, f"negative={negative!r}: write a negative prompt, a few words of what "
                     "guidance should push away from")
    if "red" in prompt.lower().split():
        return wrong(ex, "the prompt itself asks for red; use one that leaves the colour open")
    plain = pipe.text_to_image(prompt, seed=list(seeds)).images
    steered = pipe.text_to_image(prompt, negative_prompt=negative, seed=list(seeds)).images
    red_before = [s for s, im in zip(seeds, plain) if (m := measure(im)) and m.colour == "red"]
    red_after = [s for s, im in zip(seeds, steered) if (m := measure(im)) and m.colour == "red"]
    if red_after:
        return wrong(ex, f"with negative prompt {negative!r}, seeds {red_after} are still red")
    empty = [s for s, im in zip(seeds, steered) if measure(im) is None]
    if empty:
        return wrong(ex, f"no red, but seeds {empty} draw nothing at all; a gentler negative "
                     "prompt keeps the shape")
    return right(ex, f"no red in seeds {list(seeds)} (red before: seeds {red_before}). The negative "
                 "prompt replaced c_∅, so guidance pushed away from it at every step.")


def check_first_timestep(pipe, strength: float, steps: int, answer) -> Feedback:
    """09.1: the first timestep image-to-image runs for ``strength`` and ``steps``."""
    ex = "09.1 · where image-to-image starts"
    if (waiting := unanswered(ex, answer)):
        return waiting
    scheduler = copy.deepcopy(pipe.scheduler)
    scheduler.set_timesteps(steps)
    start = strength_start(steps, strength)
    want = int(scheduler.timesteps[start])
    if answer == want:
        return right(ex, f"it skips the first {start} of {steps} steps and starts at t = {want}: "
                     "the picture is noised to that level, so less strength keeps more of it.")
    return wrong(ex, f"{answer} is not it. The run skips k = n − ⌊n·strength⌋ steps of "
                 "pipe.scheduler.timesteps (after set_timesteps(n)) and starts at the next one.")
