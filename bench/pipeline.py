"""SD v1.5 end to end on this CPU: 512x512, 20 steps, DPM-Solver++ 2M, guidance on, batch 1.

    python bench/pipeline.py [--steps 20] [--only ours-float32 ours-bfloat16 ours-bfloat16-lowmem diffusers]

Random weights at SD v1.5's real shapes (timing does not depend on the values). Each run is a
fresh process, so peak RSS is its own:

- ours, float32 and bfloat16 (the UNet's compute type; text encoder and VAE float32), and
  bfloat16 with ``low_memory`` (the UNet's weights stored in bfloat16 too), networks as
  TensorFlow graphs, one warm-up run first (it traces the graphs), then a timed run;
- diffusers (float32, channels_last, torch threads = cores), a warm-up run, then a timed run.

Prints per-stage times (text encoding, UNet calls, scheduler steps, VAE decode), end to end,
peak RSS, ours/diffusers, and the UNet's achieved GFLOP/s (1.354 TFLOP per batch-2 call, by
torch's FlopCounterMode) against this CPU's achievable peak, measured here by large float32 and
bfloat16 matrix multiplies in TensorFlow. Goals (speed issue): bfloat16 end to end <= 60 s,
float32 <= 0.6x diffusers, peak RSS <= 6 GiB (bfloat16) and <= 8 GiB (float32).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNET_TFLOP = 1.354  # one SD v1.5 UNet call, batch 2, 64x64 latents (torch FlopCounterMode)
PROMPT = "a photograph of an astronaut riding a horse"

TIMER = """
stages, calls = {}, {}
def timed(owner, method, name):  # wrap owner.method so its calls add up in stages[name]
    inner = getattr(owner, method)
    stages[name], calls[name] = 0.0, 0
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        out = inner(*args, **kwargs)
        stages[name] += time.perf_counter() - start
        calls[name] += 1
        return out
    setattr(owner, method, wrapper)
"""

OURS = """
import json, resource, time
import numpy as np
import explainer
from explainer.models.configs import PRESETS
from explainer.models.text_encoder import TextEncoder
from explainer.tokenizer import default_tokenizer
from explainer.models.unet import UNet
from explainer.models.vae import VAE
from explainer.weights.loader import Models
from explainer.diffusion.pipeline import Pipeline
from explainer.models.precision import created_in

cfg = PRESETS["sd-v1-5"]
with created_in({dtype!r} if {low_memory!r} else "float32"):  # as load_pipeline(low_memory=...)
    unet = UNet(cfg.unet)
models = Models(TextEncoder(cfg.text), unet, VAE(cfg.vae), default_tokenizer(), cfg)
pipe = Pipeline(models, dtype={dtype!r})
{timer}
for name in ("encode_text", "predict_noise", "step", "decode"):
    timed(pipe, name, name)
run = lambda: pipe.text_to_image({prompt!r}, seed=0, num_steps={steps}, guidance_scale=7.5,
                                 scheduler="dpm++2m", keep=())
start = time.perf_counter(); run(); warmup = time.perf_counter() - start
for k in stages: stages[k], calls[k] = 0.0, 0
start = time.perf_counter(); result = run(); total = time.perf_counter() - start
print(json.dumps({{"total": total, "warmup": warmup, "stages": stages, "calls": calls,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}}))
"""

DIFFUSERS = """
import json, os, resource, sys, time
sys.path.insert(0, {tests!r})
import torch
import reference_models as R
from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline
from transformers import CLIPTokenizer
import tempfile
torch.set_num_threads(os.cpu_count())
tok_dir = tempfile.mkdtemp()
R.save_folder(__import__("pathlib").Path(tok_dir))  # just the tokenizer files
unet = R.unet(R.SD15_UNET).to(memory_format=torch.channels_last)
vae = R.vae(R.SD15_VAE).to(memory_format=torch.channels_last)
text = R.text_encoder(R.SD15_TEXT)
scheduler = DPMSolverMultistepScheduler.from_config(R.SD15_SCHEDULER, algorithm_type="dpmsolver++",
                                                    solver_order=2)
pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=CLIPTokenizer.from_pretrained(tok_dir + "/tokenizer"),
                               unet=unet, scheduler=scheduler, safety_checker=None,
                               feature_extractor=None, requires_safety_checker=False)
pipe.set_progress_bar_config(disable=True)
{timer}
timed(text, "forward", "encode_text"); timed(unet, "forward", "predict_noise"); timed(vae, "decode", "decode")
run = lambda: pipe({prompt!r}, num_inference_steps={steps}, guidance_scale=7.5, height=512, width=512,
                   generator=torch.Generator().manual_seed(0), output_type="np")
with torch.inference_mode():
    start = time.perf_counter(); run(); warmup = time.perf_counter() - start
    for k in stages: stages[k], calls[k] = 0.0, 0
    start = time.perf_counter(); run(); total = time.perf_counter() - start
print(json.dumps({{"total": total, "warmup": warmup, "stages": stages, "calls": calls,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}}))
"""

PEAK = """
import json, time
import tensorflow as tf
out = {}
for dtype in ("float32", "bfloat16"):
    a = tf.random.normal((4096, 4096), dtype="float32")
    a = tf.cast(a, dtype)
    f = tf.function(lambda x: tf.matmul(x, x))
    f(a).numpy()
    best = 1e9
    for _ in range(5):
        start = time.perf_counter(); f(a).numpy(); best = min(best, time.perf_counter() - start)
    out[dtype] = 2 * 4096 ** 3 / best / 1e9
print(json.dumps(out))
"""


def run(code: str) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"a benchmark process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    runs = ["ours-float32", "ours-bfloat16", "ours-bfloat16-lowmem", "diffusers"]
    parser.add_argument("--only", nargs="+", default=runs, choices=runs)
    args = parser.parse_args()

    peak = run(PEAK)
    print(f"CPU cores: {os.cpu_count()}. Matrix multiply 4096^3 in TensorFlow: float32 "
          f"{peak['float32']:.0f} GFLOP/s, bfloat16 {peak['bfloat16']:.0f} GFLOP/s")
    results = {}
    for name in args.only:
        if name == "diffusers":
            code = DIFFUSERS.format(tests=str(ROOT / "tests"), prompt=PROMPT, steps=args.steps,
                                    timer=TIMER)
        else:
            code = OURS.format(dtype=name.split("-")[1], low_memory=name.endswith("lowmem"),
                               prompt=PROMPT, steps=args.steps, timer=TIMER)
        results[name] = run(code)

    print(f"SD v1.5 shapes, random weights, 512x512, {args.steps} steps DPM-Solver++ 2M, "
          "guidance 7.5, batch 1 (timed run after a warm-up run)")
    print(f"{'run':20s} {'total s':>8s} {'text':>6s} {'UNet':>7s} {'per call':>9s} {'sched':>6s} "
          f"{'decode':>7s} {'GFLOP/s':>8s} {'peak RSS':>9s}")
    for name, r in results.items():
        s, c = r["stages"], r["calls"]
        per_call = s["predict_noise"] / max(c["predict_noise"], 1)
        gflops = UNET_TFLOP * 1e3 / per_call
        compute = "bfloat16" if "bfloat16" in name else "float32"
        print(f"{name:20s} {r['total']:8.1f} {s['encode_text']:6.2f} {s['predict_noise']:7.1f} "
              f"{per_call:9.2f} {s.get('step', float('nan')):6.2f} {s['decode']:7.2f} "
              f"{gflops:8.0f} {r['rss']:7.2f} GiB   ({gflops / peak[compute]:.0%} of the "
              f"{compute} matmul peak; warm-up run {r['warmup']:.0f} s)")
    if "diffusers" in results:
        for name in results:
            if name != "diffusers":
                print(f"{name} / diffusers: {results[name]['total'] / results['diffusers']['total']:.2f}")


if __name__ == "__main__":
    main()
