"""Train tiny-shapes: the VAE, then the text encoder and UNet together. A laptop CPU is enough.

    python -m explainer.shapes.train --out DIR            # the full run (~62 min on 2 cores)
    python -m explainer.shapes.train --out DIR --quick    # a few steps of each, for CI
    python -m explainer.shapes.train --out DIR --resume   # continue from DIR/checkpoints
    python -m explainer.shapes.train --out DIR --vae-steps 1300 --steps 1800
                                                # under an hour (54 min), a weaker model: see
                                                # assets/tiny-shapes/MODEL_CARD.md

Same classes as SD v1.5, same objective (Rombach et al. 2022; Ho et al. 2020):

1. VAE: x -> (μ, log σ²) -> z = μ + σ·n -> x̂; loss |x̂ − x| + (x̂ − x)² + λ_KL·KL(q(z|x) ‖ N(0, I)).
   Afterwards the latent scaling factor is set to 1/std(μ), as SD's 0.18215 was.
2. Diffusion: x_0 = scale · μ(image); t ~ U{0..999}; x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε;
   loss w_t·‖ε − ε_θ(x_t, t, c)‖² (w_t = min(SNR_t, 5)/SNR_t, Min-SNR-γ), with c = text_encoder(caption), and 10% of captions replaced
   by "" so the same model also predicts ε_θ(x_t, t, ∅) for classifier-free guidance.
   The optimizer keeps an exponential moving average of the weights; the EMA is saved.

Deterministic from ``--seed``: the data stream, the noise and the timesteps are drawn from
seeded generators indexed by step (so a resumed run continues the same stream).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    vae_steps: int = 1500        # small shapes need it: round-trip shape 99% at 1500 (18 min)
    vae_batch: int = 32
    vae_lr: float = 2e-3
    kl_weight: float = 1e-4
    shape_weight: float = 10.0  # extra loss weight on lit pixels (the shape), see train_vae
    pool: int = 20000           # images encoded once by the trained VAE for stage 2
    steps: int = 2000            # ~1.1 s per step here: VAE 22 min + diffusion 40 min
    batch: int = 128
    lr: float = 1e-3
    warmup: int = 200
    uncond_prob: float = 0.1
    ema: float = 0.995           # time constant ~200 steps: 0.999 kept ~55% of the random init after 600 steps
    snr_gamma: float | None = 5.0  # Min-SNR-γ loss weights (Hang et al. 2023); None: plain ε-MSE
    checkpoint_every: int = 500
    xla: bool = False           # XLA-compiled steps: measured slower on this CPU (2.0 vs 1.4 s)


QUICK = TrainConfig(vae_steps=6, vae_batch=8, pool=64, steps=6, batch=8, warmup=2,
                    checkpoint_every=3)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and TensorFlow, and make TensorFlow's ops deterministic."""
    from explainer.models.backend import keras, require_tensorflow

    require_tensorflow("seed_everything (tiny-shapes training)")
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _optimizer(lr: float, steps: int, warmup: int, ema: float | None):
    from explainer.models.backend import keras

    schedule = keras.optimizers.schedules.CosineDecay(
        lr * 0.01, max(steps - warmup, 1), alpha=0.05, warmup_target=lr, warmup_steps=warmup)
    # Adam, no weight decay: per-variable decay re-evaluates the schedule for every variable,
    # which makes the training graph slow to build.
    return keras.optimizers.Adam(schedule, use_ema=ema is not None, ema_momentum=ema or 0.99,
                                 ema_overwrite_frequency=None)


def _save_checkpoint(path: Path, step: int, variables, optimizer) -> None:
    arrays = {f"v{k}": np.asarray(v) for k, v in enumerate(variables)}
    arrays.update({f"o{k}": np.asarray(v) for k, v in enumerate(optimizer.variables)})
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, step=np.int64(step), **arrays)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, variables, optimizer) -> int:
    with np.load(path, allow_pickle=False) as data:
        for k, v in enumerate(variables):
            v.assign(data[f"v{k}"])
        for k, v in enumerate(optimizer.variables):
            v.assign(data[f"o{k}"])
        return int(data["step"])


def _loop(name, cfg_steps, step_fn, batch_fn, variables, optimizer, ckpt: Path, resume: bool,
          every: int, progress: bool, step_seconds: list[float] | None = None):
    """Run ``step_fn(*batch_fn(step), step)`` for every step, with checkpoints and a bar;
    appends each step's wall time (batch, step, checkpoint) to ``step_seconds`` if given."""
    from tqdm.auto import tqdm

    optimizer.build(variables)
    start = _load_checkpoint(ckpt, variables, optimizer) if resume and ckpt.is_file() else 0
    losses = []
    bar = tqdm(range(start, cfg_steps), desc=name, disable=not progress, initial=start,
               total=cfg_steps)
    for step in bar:
        started = time.perf_counter()
        loss = float(step_fn(*batch_fn(step), np.int64(step)))
        losses.append(loss)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        if (step + 1) % every == 0 or step + 1 == cfg_steps:
            _save_checkpoint(ckpt, step + 1, variables, optimizer)
        if step_seconds is not None:
            step_seconds.append(time.perf_counter() - started)
    return losses


def train_vae(vae, cfg: TrainConfig, ckpt: Path, resume: bool, progress: bool,
              step_seconds: list[float] | None = None) -> list[float]:
    """Train the VAE in place; returns the loss of every step run (and appends each step's
    wall time to ``step_seconds`` if given)."""
    from explainer.models.backend import require_tensorflow

    require_tensorflow("training the VAE")
    import tensorflow as tf

    from explainer.shapes.dataset import ShapesDataset

    data = ShapesDataset(seed=cfg.seed, include_held_out=True)  # the VAE needs no captions
    optimizer = _optimizer(cfg.vae_lr, cfg.vae_steps, cfg.warmup, ema=None)
    variables = vae.trainable_variables

    @tf.function(jit_compile=cfg.xla, autograph=False)  # no tensor-dependent Python control flow
    def step_fn(x, step):
        seed = tf.stack([cfg.seed, tf.cast(step, tf.int32)])
        with tf.GradientTape() as tape:
            mean, logvar = vae.encoder(x)                                   # μ, log σ²
            n = tf.random.stateless_normal(tf.shape(mean), seed)            # n ~ N(0, I)
            z = mean + tf.exp(0.5 * logvar) * n                             # z ~ q(z | x)
            x_hat = vae.decoder(z)
            # The black background is ~95% of a small shape's image: weight the pixels where
            # either image is lit (the shape and its edges) so the loss is about the shape.
            lit = tf.cast(tf.reduce_max(tf.maximum(x, x_hat), axis=-1, keepdims=True) > -0.9,
                          x.dtype)
            weight = 1.0 + cfg.shape_weight * lit
            reconstruction = tf.reduce_mean(weight * (tf.abs(x_hat - x) + tf.square(x_hat - x)))
            kl = 0.5 * tf.reduce_mean(tf.square(mean) + tf.exp(logvar) - 1.0 - logvar)
            loss = reconstruction + cfg.kl_weight * kl
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    def batch_fn(step):
        images, _, _ = data.batch(step, cfg.vae_batch)
        return (images.astype(np.float32) / 127.5 - 1.0,)

    return _loop("vae", cfg.vae_steps, step_fn, batch_fn, variables, optimizer, ckpt, resume,
                 cfg.checkpoint_every, progress, step_seconds)


def latent_scale(vae, seed: int, n: int = 1024) -> float:
    """1 / std of the VAE's latent means over drawn images (how SD's 0.18215 was chosen)."""
    from explainer.shapes.dataset import ShapesDataset

    images, _, _ = ShapesDataset(seed=seed + 7, include_held_out=True).batch(0, n)
    mean, _ = vae.graph("encode_distribution")(images.astype(np.float32) / 127.5 - 1.0)
    return float(1.0 / np.std(np.asarray(mean)))


def encode_pool(vae, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """uint8 images [N, 64, 64, 3] -> scaled latents [N, 8, 8, 4], ``batch`` at a time."""
    pixels = images.astype(np.float32) / 127.5 - 1.0
    return np.concatenate([np.asarray(vae.graph("encode")(pixels[k: k + batch]))
                           for k in range(0, len(pixels), batch)])


def train_diffusion(text_encoder, unet, vae, tokenizer, cfg: TrainConfig, ckpt: Path,
                    resume: bool = False, progress: bool = False,
                    step_seconds: list[float] | None = None) -> list[float]:
    """Train the text encoder and UNet together in place (EMA weights at the end); returns
    the loss of every step run. ``vae`` only encodes the image pool. Each step's wall time is
    appended to ``step_seconds`` if given."""
    from explainer.models.backend import require_tensorflow

    require_tensorflow("training the diffusion model")
    import tensorflow as tf

    from explainer.schedulers.base import SchedulerConfig, noise_schedule
    from explainer.shapes.dataset import TEMPLATES, ShapesDataset, caption

    # stage 2 data: a fixed pool of images, encoded once; captions redrawn every step
    data = ShapesDataset(seed=cfg.seed + 1, include_held_out=False)
    images, _, attrs = data.batch(0, cfg.pool)
    latents = encode_pool(vae, images)                                       # [N, 8, 8, 4]
    _, alpha_bar = noise_schedule(SchedulerConfig())                         # ᾱ_t, SD v1's
    alpha_bar = tf.constant(alpha_bar, tf.float32)
    optimizer = _optimizer(cfg.lr, cfg.steps, cfg.warmup, ema=cfg.ema)
    variables = text_encoder.trainable_variables + unet.trainable_variables

    @tf.function(jit_compile=cfg.xla, autograph=False)  # no tensor-dependent Python control flow
    def step_fn(ids, x0, step):
        seed = tf.stack([cfg.seed + 1, tf.cast(step, tf.int32)])
        b = tf.shape(x0)[0]
        t = tf.random.stateless_uniform([b], seed, 0, alpha_bar.shape[0], dtype=tf.int32)
        eps = tf.random.stateless_normal(tf.shape(x0), seed + 1)             # ε ~ N(0, I)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(diffusion_loss(text_encoder, unet, ids, x0, t, eps, alpha_bar,
                                                 cfg.snr_gamma))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    def batch_fn(step):
        rng = np.random.default_rng([cfg.seed, 2, step])
        picks = rng.integers(0, len(latents), cfg.batch)
        texts = [caption(attrs[k], int(rng.integers(len(TEMPLATES))), int(rng.integers(3)))
                 if rng.random() >= cfg.uncond_prob else "" for k in picks]
        return tokenizer.ids(texts), latents[picks]

    losses = _loop("diffusion", cfg.steps, step_fn, batch_fn, variables, optimizer, ckpt, resume,
                   cfg.checkpoint_every, progress, step_seconds)
    optimizer.finalize_variable_values(variables)  # the EMA weights are what we keep
    return losses


def diffusion_loss(text_encoder, unet, ids, x0, t, eps, alpha_bar, snr_gamma=None):
    """The training objective for each example: w_t·‖ε − ε_θ(x_t, t, c)‖² (mean over latent
    elements), where x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε and c = text_encoder(ids).

    ids [B, 77], x0 and eps [B, h, w, 4], t [B] integer timesteps, alpha_bar [1000] (ᾱ).
    ``snr_gamma``: Min-SNR-γ weights w_t = min(SNR_t, γ)/SNR_t (Hang et al. 2023), with
    SNR_t = ᾱ_t/(1 − ᾱ_t): low-noise steps (easy, detail only) stop dominating the gradient,
    and the high-noise steps that decide colour, shape and place get the model's attention.
    None: w_t = 1, the plain ε-MSE of Ho et al. Works eagerly (a lesson) or in a graph.
    """
    from explainer.models.backend import require_tensorflow

    require_tensorflow("diffusion_loss (tiny-shapes training)")
    import tensorflow as tf

    x0 = tf.convert_to_tensor(x0, tf.float32)
    eps = tf.convert_to_tensor(eps, tf.float32)
    a = tf.gather(tf.convert_to_tensor(alpha_bar, tf.float32), t)               # ᾱ_t  [B]
    a4 = tf.reshape(a, [-1, 1, 1, 1])
    x_t = tf.sqrt(a4) * x0 + tf.sqrt(1.0 - a4) * eps                             # q(x_t | x_0)
    context = text_encoder(ids)                                                  # [B, 77, C]
    eps_hat = unet(x_t, tf.cast(t, tf.float32), context)                         # ε_θ(x_t, t, c)
    per_example = tf.reduce_mean(tf.square(eps_hat - eps), axis=[1, 2, 3])      # [B]
    if snr_gamma is None:
        return per_example
    snr = a / (1.0 - a)
    return tf.minimum(snr, snr_gamma) / snr * per_example


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explainer.shapes.train",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for checkpoints and the model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a few steps only (CI)")
    parser.add_argument("--resume", action="store_true", help="continue from --out/checkpoints")
    parser.add_argument("--steps", type=int, help="diffusion steps (default: the full run's)")
    parser.add_argument("--vae-steps", type=int, help="VAE steps (default: the full run's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    for flag, value in (("--steps", args.steps), ("--vae-steps", args.vae_steps)):
        if value is not None and value < 1:
            parser.error(f"{flag} {value}: give 1 or more steps (leave it out for the full run)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from explainer.models.configs import PRESETS
    from explainer.models.text_encoder import TextEncoder
    from explainer.tokenizer import default_tokenizer
    from explainer.models.unet import UNet
    from explainer.models.vae import VAE
    from explainer.weights.writer import save_models

    cfg = config_from(args.quick, args.seed, args.steps, args.vae_steps)
    out = Path(args.out)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    preset = PRESETS["tiny-shapes"]
    times, started = {}, time.perf_counter()

    vae = VAE(preset.vae, name="vae")
    vae_losses = train_vae(vae, cfg, out / "checkpoints" / "vae.npz", args.resume, not args.quiet)
    scale = latent_scale(vae, cfg.seed)
    vae = _with_scale(vae, scale)
    times["vae_s"] = time.perf_counter() - started

    text_encoder = TextEncoder(preset.text, name="text_encoder")
    unet = UNet(preset.unet, name="unet")
    losses = train_diffusion(text_encoder, unet, vae, default_tokenizer(), cfg,
                             out / "checkpoints" / "diffusion.npz", args.resume, not args.quiet)
    times["total_s"] = time.perf_counter() - started
    folder = save_models(out / "tiny-shapes", text_encoder, unet, vae, preset.scheduler,
                         dtype="float16")
    report = {"command": " ".join(["python -m explainer.shapes.train", *sys.argv[1:]])
              if argv is None else "python -m explainer.shapes.train " + " ".join(argv),
              "config": cfg.__dict__, "scaling_factor": scale,
              "vae_loss_last_100": _tail_mean(vae_losses),
              "diffusion_loss_last_100": _tail_mean(losses),
              **{k: round(v, 1) for k, v in times.items()},
              "parameters": {"text_encoder": text_encoder.count_params(),
                             "unet": unet.count_params(), "vae": vae.count_params()}}
    (folder / "training.json").write_text(json.dumps(report, indent=2))
    print(folder)
    return 0


def config_from(quick: bool, seed: int, steps: int | None = None,
                vae_steps: int | None = None) -> TrainConfig:
    """The recipe a command line asks for: the full run (or ``QUICK``), with its step counts
    replaced where given."""
    cfg = replace(QUICK if quick else TrainConfig(), seed=seed)
    return replace(cfg, steps=steps or cfg.steps, vae_steps=vae_steps or cfg.vae_steps)


def _tail_mean(losses: list[float]) -> float | None:
    """Mean of the last 100 losses (None when a resumed run had no step left to do)."""
    return float(np.mean(losses[-100:])) if losses else None


def _with_scale(vae, scale: float):
    """The same VAE with its latent scaling factor set (config is frozen: rebuild, copy)."""
    from explainer.models.vae import VAE

    scaled = VAE(replace(vae.config, scaling_factor=scale), name="vae")
    for target, source in zip(scaled.weights, vae.weights):
        target.assign(source)
    return scaled


if __name__ == "__main__":
    raise SystemExit(main())
