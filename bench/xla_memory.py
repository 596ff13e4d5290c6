"""XLA's memory plan for every network call the pipeline makes, at SD v1.5 shapes (JAX).

    KERAS_BACKEND=jax python bench/xla_memory.py                 # 512², float16 + low_memory
    KERAS_BACKEND=jax python bench/xla_memory.py --dtype float32 --size 512
    KERAS_BACKEND=jax python bench/xla_memory.py --preset tiny-shapes   # seconds (CI)

Each call is compiled for its shapes and not run (``BlockModel.memory_plan``), so no weights
are read and no GPU is needed: the networks are built from the SD v1.5 configs with zero
weights. The table gives, per program, the bytes of its arguments (weights + inputs), its
outputs, and its temporaries: the activations XLA keeps alive at once, the figure that decides
whether a call fits a learner's GPU. XLA plans differently per device (the GPU compiler
fuses and rematerialises more), so run it on the GPU for the GPU's plan; the CPU's shows
which call is the large one. Issue 18 asks which call XLA wanted ~130 GB for.
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np



def shown(n: int) -> str:
    """Bytes as MiB below a GiB, else GiB."""
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


def build(preset: str, dtype: str, low_memory: bool):
    """The three networks of a preset's configs, with zero weights (nothing is read)."""
    from explainer.models.block import weights_to_be_loaded
    from explainer.models.configs import PRESETS
    from explainer.models.precision import Precision, created_in
    from explainer.models.text_encoder import TextEncoder
    from explainer.models.unet import UNet
    from explainer.models.vae import VAE

    configs = PRESETS[preset].text, PRESETS[preset].unet, PRESETS[preset].vae
    precision = Precision.for_pipeline(dtype, low_memory)
    stored = precision.weight_dtypes()
    with weights_to_be_loaded():
        with created_in(stored["text_encoder"]):
            text_encoder = TextEncoder(configs[0], name="text_encoder")
        with created_in(stored["unet"]):
            unet = UNet(configs[1], name="unet")
        with created_in(stored["vae"]):
            vae = VAE(configs[2], name="vae")
    models = SimpleNamespace(text_encoder=text_encoder, unet=unet, vae=vae)
    precision.apply(models)
    return models, configs


def calls(models, configs, size: int, images: int):
    """(label, network, method, input specs) for every call a text-to-image run makes."""
    text, unet, vae = configs
    f = vae.downscale
    latent = size // f
    spec = lambda *shape, dtype="float32": SimpleNamespace(shape=shape, dtype=np.dtype(dtype))
    rows = [("text encoder, 2 prompts", models.text_encoder, "call", [spec(2, 77, dtype="int32")])]
    for b in sorted({1, images}):
        unet_in = [spec(2 * b, latent, latent, unet.in_channels), spec(2 * b),
                   spec(2 * b, 77, text.width)]
        rows += [(f"UNet, {b} image(s) with guidance (batch {2 * b})", models.unet, "call", unet_in),
                 (f"UNet + attention capture, batch {2 * b}", models.unet, "call_with_attention",
                  unet_in)]
    for b in sorted({1, images}):
        rows.append((f"VAE decode, {b} image(s)", models.vae, "decode",
                     [spec(b, latent, latent, vae.latent_channels)]))
    rows.append(("VAE encode, 1 image", models.vae, "encode", [spec(1, size, size, 3)]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="sd-v1-5", help="whose configs (sd-v1-5)")
    parser.add_argument("--size", type=int, help="image side in pixels (the preset's default)")
    parser.add_argument("--images", type=int, default=3, help="the larger batch to plan (3)")
    parser.add_argument("--dtype", default="float16", help="the UNet's compute type")
    args = parser.parse_args(argv)
    from explainer.models import backend

    low_memory = args.dtype != "float32"
    models, configs = build(args.preset, args.dtype, low_memory)
    side = args.size or configs[2].sample_size
    where = backend.accelerator() or "CPU"
    print(f"XLA memory plans on {where} ({backend.name()}), {side}², UNet in {args.dtype}"
          f"{' (low_memory)' if low_memory else ''}"
          + f", {args.preset} shapes")
    print("| call | arguments | outputs | temporaries | compile |")
    print("|---|---|---|---|---|")
    for label, network, method, specs in calls(models, configs, side, args.images):
        start = time.perf_counter()
        plan = network.memory_plan(method, *specs)
        seconds = time.perf_counter() - start
        print(f"| {label} | {shown(plan['arguments'])} | {shown(plan['outputs'])} "
              f"| {shown(plan['temporaries'])} | {seconds:.0f} s |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
