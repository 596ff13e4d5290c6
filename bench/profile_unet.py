"""Where one SD v1.5 UNet call spends its time: a per-op profile, and the floor this CPU allows.

    python bench/profile_unet.py [--dtype float32|bfloat16] [--batch 2] [--side 64] [--reference]

Random weights at SD v1.5's real shapes (time does not depend on the values). One warm-up call
(it traces the graph), one plain call, then one call under TensorFlow's profiler. The profile
(an XSpace protobuf) is read back here: each op's wall time on TensorFlow's compute threads,
grouped into classes. Each class's work is counted from the traced graph itself (the static
shapes of every Conv2D, MatMul and BatchMatMul), so the table shows time, TFLOP, achieved
GFLOP/s and the share of this CPU's matmul peak, measured in the same process by a large matrix
multiply. The floor is the time the counted work would take at that peak.

``--reference`` also profiles diffusers' UNet (float32, torch threads = cores) with
torch.profiler and groups its ops into the same classes, so the two can be compared class by
class. (torch's FlopCounterMode counts 1.354 TFLOP for a batch-2 call at 64x64 but leaves out
the attention products, which it runs as one fused scaled_dot_product_attention.)
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402

CLASSES = ("convolution", "dense (matmul)", "attention (QKᵀ, AV)", "softmax",
           "norms and element-wise", "casts", "other")


def tf_class(op_type: str) -> str:
    t = op_type.replace("_MklNative", "").replace("_Mkl", "").replace("_Fused", "")
    if "Conv2D" in t:
        return "convolution"
    if t.startswith("BatchMatMul"):
        return "attention (QKᵀ, AV)"
    if "MatMul" in t:
        return "dense (matmul)"
    if "Softmax" in t:
        return "softmax"
    if t == "Cast":  # mixed precision: weights cast to the compute type on every call
        return "casts"
    if t in {"Mean", "SquaredDifference", "Rsqrt", "Mul", "AddV2", "Add", "Sub", "Neg", "BiasAdd",
             "Swish", "Erf", "Erfc", "AddN", "Sigmoid", "FusedBatchNormV3", "Tanh"}:
        return "norms and element-wise"
    return "other"


def torch_class(name: str) -> str:
    if "convolution" in name:
        return "convolution"
    if name in {"aten::addmm", "aten::mm", "aten::bmm"}:
        return "dense (matmul)"
    if "scaled_dot_product" in name:
        return "attention (QKᵀ, AV)"  # torch fuses QKᵀ, softmax and AV in one op
    if "softmax" in name:
        return "softmax"
    if any(k in name for k in ("norm", "mul", "add", "gelu", "silu", "div", "sub", "copy_")):
        return "norms and element-wise"
    return "other"


def graph_flops(concrete) -> dict[str, float]:
    """FLOPs (2 x multiply-adds) of every Conv2D, MatMul and BatchMatMul in the traced graph."""
    flops = collections.Counter()
    for op in concrete.graph.get_operations():
        if op.type == "Conv2D":
            out, kernel = op.outputs[0].shape, op.inputs[1].shape
            flops["convolution"] += 2.0 * np.prod(out) * np.prod(kernel[:3])
        elif op.type == "MatMul":
            a, out = op.inputs[0].shape, op.outputs[0].shape
            k = a[0] if op.get_attr("transpose_a") else a[1]
            flops["dense (matmul)"] += 2.0 * np.prod(out) * k
        elif op.type.startswith("BatchMatMul"):
            a, out = op.inputs[0].shape, op.outputs[0].shape
            k = a[-2] if op.get_attr("adj_x") else a[-1]
            flops["attention (QKᵀ, AV)"] += 2.0 * np.prod(out) * k
    return dict(flops)


def read_xspace(logdir: str) -> tuple[dict[str, float], list[tuple[float, str]], float]:
    """Per-class op time (s), the slowest single ops, and the wall span of all ops."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    path = sorted(glob.glob(f"{logdir}/plugins/profile/*/*.xplane.pb"))[-1]
    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(path).read_bytes())
    plane = next(p for p in space.planes if p.name.startswith("/host:CPU"))
    by_class, ops, starts, ends = collections.Counter(), [], [], []
    for line in plane.lines:
        if not line.name.startswith("tf_Compute"):
            continue
        for event in line.events:
            name = plane.event_metadata[event.metadata_id].name  # "scope/node:OpType"
            if ":" not in name or "::" in name:  # executor bookkeeping, not an op
                continue
            seconds = event.duration_ps / 1e12
            by_class[tf_class(name.rsplit(":", 1)[1])] += seconds
            ops.append((seconds, name))
            start = line.timestamp_ns * 1e-9 + event.offset_ps / 1e12
            starts.append(start)
            ends.append(start + seconds)
    return dict(by_class), sorted(ops, reverse=True), max(ends) - min(starts)


def matmul_peak(dtype: str) -> float:
    import tensorflow as tf

    a = tf.cast(tf.random.normal((4096, 4096)), dtype)
    f = tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, a)[:1], tf.float32)))
    f()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        f().numpy()
        times.append(time.perf_counter() - start)
    return 2 * 4096**3 / min(times)


def profile_ours(dtype: str, batch: int, side: int) -> None:
    import tensorflow as tf

    import explainer  # noqa: F401  (sets the Keras backend)
    from explainer.models.precision import set_compute_dtype
    from explainer.models.configs import PRESETS
    from explainer.models.unet import UNet

    rng = np.random.default_rng(0)
    latents = rng.standard_normal((batch, side, side, 4)).astype(np.float32)
    t = np.full((batch,), 500.0, np.float32)
    context = rng.standard_normal((batch, 77, 768)).astype(np.float32)
    unet = UNet(PRESETS["sd-v1-5"].unet)
    set_compute_dtype(unet, dtype)
    fn = unet.graph()
    flops = graph_flops(fn.compiled.get_concrete_function(latents, t, context))
    fn(latents, t, context)  # warm-up: traces the graph
    start = time.perf_counter()
    fn(latents, t, context)
    plain = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        fn(latents, t, context).numpy()
        profiled = time.perf_counter() - start
        tf.profiler.experimental.stop()
        by_class, ops, span = read_xspace(logdir)
    peak = matmul_peak(dtype)
    total_flops = sum(flops.values())
    print(f"ours, UNet compute {dtype}, batch {batch}, {side}x{side} latents: call {plain:.2f} s "
          f"(profiled call {profiled:.2f} s, ops span {span:.2f} s, ops summed "
          f"{sum(by_class.values()):.2f} s)")
    print(f"this CPU's {dtype} matmul peak (4096^3 in TensorFlow): {peak / 1e9:.0f} GFLOP/s")
    print(f"{'class':26s} {'time (s)':>9s} {'share':>6s} {'TFLOP':>7s} {'GFLOP/s':>8s} "
          f"{'of peak':>8s}")
    for name in CLASSES:
        seconds, work = by_class.get(name, 0.0), flops.get(name, 0.0)
        rate = f"{work / seconds / 1e9:8.0f} {work / seconds / peak:8.0%}" if work else ""
        print(f"{name:26s} {seconds:9.2f} {seconds / span:6.0%} "
              f"{work / 1e12:7.3f} {rate}" if work else
              f"{name:26s} {seconds:9.2f} {seconds / span:6.0%}")
    print(f"counted work {total_flops / 1e12:.3f} TFLOP: at the measured peak the call could take "
          f"no less than {total_flops / peak:.2f} s (the floor); this call is "
          f"{plain / (total_flops / peak):.2f}x the floor")
    print("slowest single ops:")
    for seconds, name in ops[:8]:
        print(f"  {seconds * 1e3:7.1f} ms  {name}")


def profile_reference(batch: int, side: int) -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile

    import reference_models as R

    torch.set_num_threads(os.cpu_count())
    unet = R.unet(R.SD15_UNET).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 4, side, side, generator=g)
    t = torch.full((batch,), 500.0)
    context = torch.randn(batch, 77, 768, generator=g)
    with torch.inference_mode():
        unet(x, t, context)  # warm-up
        start = time.perf_counter()
        unet(x, t, context)
        plain = time.perf_counter() - start
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            unet(x, t, context)
    by_class = collections.Counter()
    for event in prof.key_averages():
        by_class[torch_class(event.key)] += event.self_cpu_time_total / 1e6
    total = sum(by_class.values())
    print(f"\ndiffusers (torch {torch.__version__}, {torch.get_num_threads()} threads, float32, "
          f"NCHW), batch {batch}, {side}x{side}: call {plain:.2f} s (ops summed {total:.2f} s)")
    for name in CLASSES:
        print(f"{name:26s} {by_class.get(name, 0.0):9.2f} {by_class.get(name, 0.0) / total:6.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--reference", action="store_true", help="also profile diffusers' UNet")
    args = parser.parse_args()
    profile_ours(args.dtype, args.batch, args.side)
    if args.reference:
        profile_reference(args.batch, args.side)


if __name__ == "__main__":
    main()
