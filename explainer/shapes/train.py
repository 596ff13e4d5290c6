"""Train tiny-shapes: the VAE, then the text encoder and UNet together. A laptop CPU is enough.

    python -m explainer.shapes.train --out DIR --init-from TINY_SHAPES_1
                                                # the shipped tiny-shapes 2's recipe: every
                                                # network trained on from tiny-shapes 1's
                                                # weights, on scenes (~55 min on 2 cores)
    python -m explainer.shapes.train --out DIR --init-from assets/tiny-shapes
                                                # train on from the shipped weights
    python -m explainer.shapes.train --out DIR            # everything from scratch, on scenes
                                                # (~80 min; a much weaker model: MODEL_CARD.md)
    python -m explainer.shapes.train --out DIR --quick    # a few steps of each, for CI
    python -m explainer.shapes.train --out DIR --resume   # continue from DIR/checkpoints

tiny-shapes 1 (one shape per image, every attribute stated) was trained by this command at
commit 7a51474 (62 min); assets/tiny-shapes/MODEL_CARD.md has both stages.

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
import contextlib
import json
import os
import resource
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from explainer.diffusion.objective import diffusion_loss


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    vae_steps: int = 1500        # small shapes need it: round-trip shape 99% at 1500 (18 min)
    vae_batch: int = 32
    vae_lr: float = 2e-3
    vae_warmup: int = 200
    kl_weight: float = 1e-4
    shape_weight: float = 10.0  # extra loss weight on lit pixels (the shape), see train_vae
    pool: int = 30000           # scenes encoded once by the trained VAE for stage 2
    steps: int = 2000           # ~2.3 s per step on a 2-core AMD EPYC 7003 (oneDNN on)
    batch: int = 128
    lr: float = 1e-3
    warmup: int = 200
    uncond_prob: float = 0.1
    ema: float = 0.995           # time constant ~200 steps: 0.999 kept ~55% of the random init after 600 steps
    snr_gamma: float | None = 5.0  # Min-SNR-γ loss weights (Hang et al. 2023); None: plain ε-MSE
    checkpoint_every: int = 200
    xla: bool = False           # XLA-compiled steps: measured slower on this CPU (2.0 vs 1.4 s)


QUICK = TrainConfig(vae_steps=6, vae_batch=8, pool=64, steps=6, batch=8, warmup=2,
                    vae_warmup=2, checkpoint_every=3)
# --vae-from: fine-tune a trained VAE (tiny-shapes 1's learned single shapes; two-shape scenes
# need only a little more) instead of training one from scratch
FINE_TUNE_VAE = {"vae_steps": 400, "vae_lr": 5e-4, "vae_warmup": 50}


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and the Keras backend, with deterministic kernels (any backend)."""
    from explainer.models.backend import deterministic

    deterministic(seed)


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
    """Run ``step_fn(*batch_fn(step))`` for every step, with checkpoints and a bar; appends
    each step's wall time (batch, step, checkpoint) to ``step_seconds`` if given."""
    from tqdm.auto import tqdm

    start = _load_checkpoint(ckpt, variables, optimizer) if resume and ckpt.is_file() else 0
    losses = []
    bar = tqdm(range(start, cfg_steps), desc=name, disable=not progress, initial=start,
               total=cfg_steps)
    for step in bar:
        started = time.perf_counter()
        loss = step_fn(*batch_fn(step))
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
    from explainer.models.backend import TrainStep
    from explainer.drawn.scenes import SceneDataset

    data = SceneDataset(seed=cfg.seed, include_held_out=True)  # the VAE needs no captions
    optimizer = _optimizer(cfg.vae_lr, cfg.vae_steps, cfg.vae_warmup, ema=None)
    variables = vae.trainable_variables
    step_fn = TrainStep(lambda x, n: vae_loss(vae, x, n, cfg.shape_weight, cfg.kl_weight),
                        variables, optimizer, jit_compile=cfg.xla)
    latent = (vae.config.latent_channels,)

    def batch_fn(step):
        images, _, _, _ = data.batch(step, cfg.vae_batch)
        rng = np.random.default_rng([cfg.seed, 1, step])                     # n ~ N(0, I)
        side = images.shape[1] // vae.config.downscale
        n = rng.standard_normal((len(images), side, side, *latent), np.float32)
        return images.astype(np.float32) / 127.5 - 1.0, n

    return _loop("vae", cfg.vae_steps, step_fn, batch_fn, variables, optimizer, ckpt, resume,
                 cfg.checkpoint_every, progress, step_seconds)


def vae_loss(vae, x, n, shape_weight: float, kl_weight: float):
    """The VAE's objective on images ``x`` [B, 64, 64, 3] in [-1, 1] with the noise ``n``
    [B, 8, 8, 4] of the reparameterisation: |x̂ − x| + (x̂ − x)², the lit pixels weighted
    ``1 + shape_weight``, plus ``kl_weight``·KL(q(z|x) ‖ N(0, I))."""
    from explainer.models.backend import ops

    mean, logvar = vae.encoder(x)                                           # μ, log σ²
    z = mean + ops.exp(0.5 * logvar) * n                                    # z ~ q(z | x)
    x_hat = vae.decoder(z)
    # The black background is ~95% of a small shape's image: weight the pixels where either
    # image is lit (the shapes and their edges) so the loss is about the shapes.
    lit = ops.cast(ops.max(ops.maximum(x, x_hat), axis=-1, keepdims=True) > -0.9, "float32")
    weight = 1.0 + shape_weight * lit
    reconstruction = ops.mean(weight * (ops.abs(x_hat - x) + ops.square(x_hat - x)))
    kl = 0.5 * ops.mean(ops.square(mean) + ops.exp(logvar) - 1.0 - logvar)
    return reconstruction + kl_weight * kl


def latent_scale(vae, seed: int, n: int = 1024) -> float:
    """1 / std of the VAE's latent means over drawn images (how SD's 0.18215 was chosen)."""
    from explainer.drawn.scenes import SceneDataset

    images, _, _, _ = SceneDataset(seed=seed + 7, include_held_out=True).batch(0, n)
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
    from explainer.models.backend import TrainStep, ops
    from explainer.schedulers.base import SchedulerConfig, noise_schedule
    from explainer.drawn.scenes import SceneDataset

    # stage 2 data: a fixed pool of scenes, encoded once; captions redrawn every step
    data = SceneDataset(seed=cfg.seed + 1, include_held_out=False, uncond_prob=cfg.uncond_prob)
    images, _, scenes, _ = data.batch(0, cfg.pool)
    latents = encode_pool(vae, images)                                       # [N, 8, 8, 4]
    _, alpha_bar = noise_schedule(SchedulerConfig())                         # ᾱ_t, SD v1's
    alpha_bar = np.asarray(alpha_bar, np.float32)
    optimizer = _optimizer(cfg.lr, cfg.steps, cfg.warmup, ema=cfg.ema)
    variables = text_encoder.trainable_variables + unet.trainable_variables

    def loss_fn(ids, x0, t, eps):                      # the mean of w_t·‖ε − ε_θ‖² over a batch
        return ops.mean(diffusion_loss(text_encoder, unet, ids, x0, t, eps, alpha_bar,
                                       cfg.snr_gamma))

    step_fn = TrainStep(loss_fn, variables, optimizer, jit_compile=cfg.xla)

    def batch_fn(step):
        rng = np.random.default_rng([cfg.seed, 2, step])
        picks = rng.integers(0, len(latents), cfg.batch)
        texts = [data.caption(scenes[k], rng)[0] for k in picks]
        x0 = latents[picks]
        t = rng.integers(0, len(alpha_bar), cfg.batch).astype(np.int32)     # t ~ U{0..999}
        eps = rng.standard_normal(x0.shape, np.float32)                      # ε ~ N(0, I)
        return tokenizer.ids(texts), x0, t, eps

    losses = _loop("diffusion", cfg.steps, step_fn, batch_fn, variables, optimizer, ckpt, resume,
                   cfg.checkpoint_every, progress, step_seconds)
    optimizer.finalize_variable_values(variables)  # the EMA weights are what we keep
    return losses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explainer.shapes.train",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for checkpoints and the model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a few steps only (CI)")
    parser.add_argument("--resume", action="store_true", help="continue from --out/checkpoints")
    parser.add_argument("--steps", type=int, help="diffusion steps (default: the full run's)")
    parser.add_argument("--vae-steps", type=int, help="VAE steps (default: the full run's)")
    parser.add_argument("--vae-from", metavar="DIR",
                        help="fine-tune the VAE of this tiny-shapes folder instead of training "
                             "one from scratch (the text encoder and UNet start new)")
    parser.add_argument("--init-from", metavar="DIR",
                        help="start every network from this tiny-shapes folder: its VAE "
                             "fine-tuned (as --vae-from), its text encoder and UNet trained on "
                             "from their weights (tiny-shapes 2's recipe)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    for flag, value in (("--steps", args.steps), ("--vae-steps", args.vae_steps)):
        if value is not None and value < 1:
            parser.error(f"{flag} {value}: give 1 or more steps (leave it out for the full run)")
    if args.vae_from and args.init_from:
        parser.error("--init-from already fine-tunes that folder's VAE: give --init-from or "
                     "--vae-from, not both")
    for flag, folder, parts in (("--vae-from", args.vae_from, ("vae",)),
                                ("--init-from", args.init_from, ("vae", "text_encoder", "unet"))):
        missing = [p for p in parts if folder and not (Path(folder) / p).is_dir()]
        if missing:
            parser.error(f"{flag} {folder}: no {missing[0]}/ folder there; give a tiny-shapes "
                         "folder such as assets/tiny-shapes")
    vae_from = args.vae_from or args.init_from
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # TensorFlow turns oneDNN on by itself only on CPUs with AVX-512 or AMX; on an AVX2 CPU
    # (AMD EPYC 7003) it measured 1.4x faster per step with oneDNN on.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

    from explainer.models.backend import versions
    from explainer.models.configs import PRESETS
    from explainer.models.text_encoder import TextEncoder
    from explainer.tokenizer import default_tokenizer
    from explainer.models.unet import UNet
    from explainer.models.vae import VAE
    from explainer.weights.writer import save_models

    cfg = config_from(args.quick, args.seed, args.steps, args.vae_steps, vae_from)
    out = Path(args.out)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    preset = PRESETS["tiny-shapes"]
    times, started = {}, time.perf_counter()

    start = None
    if vae_from:
        from explainer.weights import load_models

        start = load_models(vae_from, config=preset)
        vae = start.vae
    else:
        vae = VAE(preset.vae, name="vae")
    vae_losses = train_vae(vae, cfg, out / "checkpoints" / "vae.npz", args.resume, not args.quiet)
    scale = latent_scale(vae, cfg.seed)
    vae = _with_scale(vae, scale)
    times["vae_s"] = time.perf_counter() - started

    text_encoder = TextEncoder(preset.text, name="text_encoder")
    unet = UNet(preset.unet, name="unet")
    if args.init_from:                             # trained further from a tiny-shapes' weights
        for target, source in ((text_encoder, start.text_encoder), (unet, start.unet)):
            for to, fro in zip(target.weights, source.weights, strict=True):
                to.assign(fro)
    del start
    losses = train_diffusion(text_encoder, unet, vae, default_tokenizer(), cfg,
                             out / "checkpoints" / "diffusion.npz", args.resume, not args.quiet)
    times["total_s"] = time.perf_counter() - started
    folder = save_models(out / "tiny-shapes", text_encoder, unet, vae, preset.scheduler,
                         dtype="float16")
    report = {"command": " ".join(["python -m explainer.shapes.train", *sys.argv[1:]])
              if argv is None else "python -m explainer.shapes.train " + " ".join(argv),
              "config": cfg.__dict__, "scaling_factor": scale, "vae_from": args.vae_from,
              "init_from": args.init_from,
              "backend": versions(), "cpu": _cpu(),
              "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
              "vae_loss_last_100": _tail_mean(vae_losses),
              "diffusion_loss_last_100": _tail_mean(losses),
              **{k: round(v, 1) for k, v in times.items()},
              "parameters": {"text_encoder": text_encoder.count_params(),
                             "unet": unet.count_params(), "vae": vae.count_params()}}
    (folder / "training.json").write_text(json.dumps(report, indent=2))
    print(folder)
    return 0


def config_from(quick: bool, seed: int, steps: int | None = None,
                vae_steps: int | None = None, vae_from: str | None = None) -> TrainConfig:
    """The recipe a command line asks for: the full run (or ``QUICK``), the VAE fine-tuned
    (``FINE_TUNE_VAE``) when it starts from a trained one, with step counts replaced where
    given."""
    cfg = replace(QUICK if quick else TrainConfig(), seed=seed)
    if vae_from and not quick:
        cfg = replace(cfg, **FINE_TUNE_VAE)
    return replace(cfg, steps=steps or cfg.steps, vae_steps=vae_steps or cfg.vae_steps)


def _cpu() -> str:
    """The CPU's model name (timings are only comparable on the same one)."""
    import platform

    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} x {os.cpu_count()}"
    return f"{platform.processor() or platform.machine()} x {os.cpu_count()}"


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
