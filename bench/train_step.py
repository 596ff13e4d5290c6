"""tiny-shapes training speed: seconds per step of each stage, and the full run it implies.

    python bench/train_step.py [--steps 20] [--no-determinism]

A full training run takes about an hour; this measures its parts in about two minutes, so a
change to the networks or the training step can be judged before a full run:

- VAE step (batch 32) and diffusion step (batch 128: text encoder + UNet, Adam with EMA): each
  stage runs ``3 + --steps`` steps through the training code (``train_vae`` /
  ``train_diffusion``), which records each step's wall time; the median of the steps after the
  first 3 (those build the graph) is the cost of a step;
- drawing and encoding the diffusion stage's image pool (timed on 2,048 images, scaled to the
  recipe's pool);
- the projected wall time of the recipe with the VAE trained from scratch and with it
  fine-tuned (``--vae-from``, the shipped recipe), plus the time measured here for graph
  building.

Read the projection as a lower bound with a wide spread: full runs take longer than their
projection (checkpoints and slower stretches that a median of 20 steps leaves out), and the
CPU matters: a step on a 2-core AMD EPYC 7003 (AVX2) takes about twice as long as on the
AVX-512 machines the first recipe was timed on.

Run it once per backend (``KERAS_BACKEND=tensorflow|jax|torch``): the training code is the
same ``keras.ops`` on all three, and the fastest here trains the shipped model.

``--no-determinism`` leaves the backend's deterministic kernels off (the training command turns it on:
a run is deterministic from its seed), to show what determinism costs on this CPU.
Budget (tiny-shapes 2 issue): the full run about 100 min on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

RECIPES = {"VAE from scratch": {}, "VAE fine-tuned, --vae-from (the shipped recipe)": "fine-tune"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per stage")
    parser.add_argument("--no-determinism", action="store_true")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error(f"--steps {args.steps}: give 1 or more")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")      # as the training command does

    import keras

    from explainer.models.configs import PRESETS
    from explainer.models.backend import name
    from explainer.drawn.scenes import SceneDataset
    from explainer.shapes.train import (FINE_TUNE_VAE, TrainConfig, encode_pool, latent_scale,
                                        seed_everything, train_diffusion, train_vae)
    from explainer.models.text_encoder import TextEncoder
    from explainer.tokenizer import default_tokenizer
    from explainer.models.unet import UNet
    from explainer.models.vae import VAE

    if args.no_determinism:
        keras.utils.set_random_seed(0)
    else:
        seed_everything(0)
    preset, full = PRESETS["tiny-shapes"], TrainConfig()
    folder = Path(tempfile.mkdtemp())
    warm = 3

    vae = VAE(preset.vae, name="vae")
    start, seconds = time.perf_counter(), []
    train_vae(vae, replace(full, vae_steps=warm + args.steps, checkpoint_every=10**9),
              folder / "vae.npz", False, False, step_seconds=seconds)
    vae_step = statistics.median(seconds[warm:])
    building = time.perf_counter() - start - sum(seconds[warm:])

    start = time.perf_counter()
    images, _, _, _ = SceneDataset(seed=1).batch(0, 2048)                 # drawing the pool
    draw = time.perf_counter() - start
    encode_pool(vae, images[:256])                                          # build the graph
    start = time.perf_counter()
    encode_pool(vae, images)
    pool = (time.perf_counter() - start + draw) * full.pool / len(images)
    start = time.perf_counter()
    latent_scale(vae, 0)
    scale = time.perf_counter() - start

    text, unet = TextEncoder(preset.text, name="text_encoder"), UNet(preset.unet, name="unet")
    start, seconds = time.perf_counter(), []
    train_diffusion(text, unet, vae, default_tokenizer(),
                    replace(full, steps=warm + args.steps, pool=256, checkpoint_every=10**9),
                    folder / "diffusion.npz", step_seconds=seconds)
    diffusion_step = statistics.median(seconds[warm:])
    building += time.perf_counter() - start - sum(seconds[warm:])

    print(f"backend: {name()}; deterministic kernels: "
          f"{'off' if args.no_determinism else 'on (as the training command)'}")
    print(f"VAE step (batch {full.vae_batch}):        {vae_step * 1000:7.0f} ms  "
          f"(median of {args.steps} steps after the first {warm})")
    print(f"diffusion step (batch {full.batch}): {diffusion_step * 1000:7.0f} ms")
    print(f"drawing and encoding the {full.pool:,}-image pool: {pool:5.1f} s; latent scale {scale:4.1f} s; "
          f"graph building and first steps {building:4.1f} s")
    for recipe, change in RECIPES.items():
        cfg = replace(full, **(FINE_TUNE_VAE if change == "fine-tune" else change))
        total = cfg.vae_steps * vae_step + cfg.steps * diffusion_step + pool + scale + building
        print(f"projected full run, {recipe} (VAE {cfg.vae_steps:,} + diffusion {cfg.steps:,} "
              f"steps): {total / 60:5.1f} min  (budget: about 100)")


if __name__ == "__main__":
    main()
