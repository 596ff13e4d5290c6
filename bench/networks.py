"""The three networks at SD v1.5 shapes: Keras (graph mode) against diffusers/transformers.

    python bench/networks.py [--repeats 3] [--only unet]

Random weights (timing does not depend on the values). For each network: a warm-up call,
then the median of ``--repeats`` calls, ours (``model.graph()``: a tf.function, not eager
op-by-op) and the reference (PyTorch CPU, torch threads = cores, channels_last tried for the
convolutional ones). Prints times, the ratio ours/reference, peak RSS, and the UNet's
achieved GFLOP/s from an analytic FLOP count (cross-checked with torch's FlopCounterMode).
Goal from the networks issue: UNet batch 2 at 64x64 latents, ours <= 0.7x the reference.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up (traces the graph function / allocates)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def unet_flops(config, batch: int, side: int, tokens: int = 77) -> float:
    """Multiply-adds x 2 of convolutions, dense layers and attention matmuls of one UNet call."""
    c = config
    total = 0.0

    def conv(h, cin, cout, k=3, stride=1):
        return 2.0 * (h // stride) ** 2 * cin * cout * k * k

    def transformer(h, ch):
        n = h * h
        f = 2.0 * n * ch * ch * 2                         # proj_in, proj_out
        per_block = (2.0 * n * ch * ch * 4                # self-attn q, k, v, out
                     + 2.0 * n * n * ch * 2               # QKᵀ and AV
                     + 2.0 * n * ch * ch * 2              # cross-attn q, out
                     + 2.0 * tokens * c.context_width * ch * 2   # cross-attn k, v
                     + 2.0 * n * tokens * ch * 2          # QKᵀ and AV over 77 tokens
                     + 2.0 * n * ch * 8 * ch + 2.0 * n * 4 * ch * ch)  # GEGLU MLP
        return f + c.transformer_depth * per_block

    def resnet(h, cin, cout):
        f = conv(h, cin, cout) + conv(h, cout, cout) + 2.0 * c.time_width * cout  # + time proj
        return f + (2.0 * h * h * cin * cout if cin != cout else 0.0)

    side0, ch = side, c.block_channels
    total += conv(side0, c.in_channels, ch[0])
    h, width, skips = side0, ch[0], [ch[0]]
    for i, out in enumerate(ch):
        for _ in range(c.layers_per_block):
            total += resnet(h, width, out) + (transformer(h, out) if c.attention_levels[i] else 0)
            width = out
            skips.append(out)
        if i < len(ch) - 1:
            total += conv(h, out, out, stride=2)
            h //= 2
            skips.append(out)
    total += 2 * resnet(h, width, width) + transformer(h, width)
    for i, out in enumerate(reversed(ch)):
        level = len(ch) - 1 - i
        for _ in range(c.layers_per_block + 1):
            total += resnet(h, width + skips.pop(), out)
            total += transformer(h, out) if c.attention_levels[level] else 0
            width = out
        if level > 0:
            h *= 2
            total += conv(h, out, out)
    total += conv(h, ch[0], c.out_channels)
    return batch * total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["text", "unet", "vae"], action="append")
    args = parser.parse_args()
    only = set(args.only or ["text", "unet", "vae"])

    import tensorflow as tf
    import torch

    import explainer  # noqa: F401  (sets the Keras backend)
    from explainer.models.configs import PRESETS
    from explainer.models.text_encoder import TextEncoder
    from explainer.models.unet import UNet
    from explainer.models.vae import VAE
    import reference_models as R

    torch.set_num_threads(os.cpu_count())
    cfg = PRESETS["sd-v1-5"]
    rng = np.random.default_rng(0)
    print(f"CPU cores: {os.cpu_count()}; torch threads: {torch.get_num_threads()}; "
          f"TensorFlow {tf.__version__}, torch {torch.__version__}; median of {args.repeats}")
    rows = []

    if "text" in only:
        ids = rng.integers(0, 49407, (2, 77)).astype(np.int32)
        ours = TextEncoder(cfg.text)
        t_ours = median_time(lambda: ours.graph()(ids), args.repeats)
        del ours
        ref = R.text_encoder(R.SD15_TEXT)
        ids_t = torch.from_numpy(ids).long()
        with torch.inference_mode():
            t_ref = median_time(lambda: ref(ids_t), args.repeats)
        del ref
        rows.append(("text encoder, batch 2 x 77", t_ours, t_ref, ""))

    if "unet" in only:
        latents = rng.standard_normal((2, 64, 64, 4)).astype(np.float32)
        t = np.array([500.0, 500.0], np.float32)
        ctx = rng.standard_normal((2, 77, 768)).astype(np.float32)
        flops = unet_flops(cfg.unet, batch=2, side=64)
        ours = UNet(cfg.unet)
        t_ours = median_time(lambda: ours.graph()(latents, t, ctx), args.repeats)
        del ours
        ref = R.unet(R.SD15_UNET)
        x, tt, c = torch.from_numpy(latents.transpose(0, 3, 1, 2).copy()), torch.from_numpy(t), \
            torch.from_numpy(ctx)
        with torch.inference_mode():
            from torch.utils.flop_counter import FlopCounterMode

            counter = FlopCounterMode(display=False)
            with counter:
                ref(x, tt, c)
            torch_flops = counter.get_total_flops()
            t_ref = median_time(lambda: ref(x, tt, c), args.repeats)
            ref = ref.to(memory_format=torch.channels_last)
            xc = x.to(memory_format=torch.channels_last)
            t_ref_cl = median_time(lambda: ref(xc, tt, c), args.repeats)
        del ref
        best = min(t_ref, t_ref_cl)
        note = (f"analytic {flops / 1e12:.3f} TFLOP (torch counts {torch_flops / 1e12:.3f}); "
                f"ours {flops / t_ours / 1e9:.0f} GFLOP/s; reference NCHW {t_ref:.2f} s, "
                f"channels_last {t_ref_cl:.2f} s")
        rows.append(("UNet, batch 2, 64x64 latents", t_ours, best, note))

    if "vae" in only:
        z = rng.standard_normal((1, 64, 64, 4)).astype(np.float32)
        ours = VAE(cfg.vae)
        t_ours = median_time(lambda: ours.graph("decode")(z), args.repeats)
        t_ours_xla = median_time(lambda: ours.graph("decode", jit_compile=True)(z),
                                 args.repeats)
        del ours
        ref = R.vae(R.SD15_VAE)
        zt = torch.from_numpy(z.transpose(0, 3, 1, 2).copy())
        with torch.inference_mode():
            t_ref = median_time(lambda: ref.decode(zt), args.repeats)
            ref = ref.to(memory_format=torch.channels_last)
            zc = zt.to(memory_format=torch.channels_last)
            t_ref_cl = median_time(lambda: ref.decode(zc), args.repeats)
        del ref
        rows.append(("VAE decode, 1 x 512x512", min(t_ours, t_ours_xla), min(t_ref, t_ref_cl),
                     f"ours graph {t_ours:.2f} s, graph+XLA {t_ours_xla:.2f} s; reference NCHW "
                     f"{t_ref:.2f} s, channels_last {t_ref_cl:.2f} s"))

    print(f"{'network':32s} {'ours (s)':>9s} {'ref (s)':>9s} {'ours/ref':>9s}")
    for name, a, b, note in rows:
        print(f"{name:32s} {a:9.2f} {b:9.2f} {a / b:9.2f}")
        if note:
            print(f"    {note}")
    print(f"peak RSS of this process: {peak_rss_gib():.1f} GiB")


if __name__ == "__main__":
    main()
