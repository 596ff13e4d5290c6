"""What capturing cross-attention maps costs: tiny-shapes end to end, and SD v1.5's UNet.

    python bench/attention.py [--repeats 7] [--baseline REV] [--sd15]

- tiny-shapes, 64x64, 25 steps, batch 1, warm: ``capture_attention`` off and on, interleaved,
  median and spread of ``--repeats``. With ``--baseline REV`` (e.g. the commit before capture
  existed) the same capture-off run is timed from a git worktree of REV in a subprocess, so
  "off is unchanged" is measured, not assumed.
- the graph each path runs: number of ops in the traced UNet function, off and on (off must
  equal the baseline's: capture is a Python flag, so the off graph has no extra op).
- ``--sd15``: SD v1.5's UNet (random weights, float32) at 64x64 latents, batch 2 (one guided
  step), in two fresh processes (off, on): seconds per call and peak RSS, and the bytes one
  step of maps adds to a trace.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

PROMPT = "a large red circle on the left"

WARM = """
import statistics, sys, time
import explainer
pipe = explainer.load_pipeline("tiny-shapes")
pipe.text_to_image({prompt!r}, seed=0, num_steps=25)
times = []
for _ in range({repeats}):
    start = time.perf_counter()
    pipe.text_to_image({prompt!r}, seed=0, num_steps=25)
    times.append(time.perf_counter() - start)
print(" ".join(f"{{t:.5f}}" for t in times))
"""

SD15 = """
import resource, time
import numpy as np
from explainer.models.configs import UNetConfig
from explainer.models.unet import UNet
unet = UNet(UNetConfig())
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 64, 64, 4)).astype(np.float32)
t = np.array([500.0, 500.0], np.float32)
c = rng.standard_normal((2, 77, 768)).astype(np.float32)
fn = unet.graph("call_with_attention" if {capture} else "call")
out = fn(x, t, c)
start = time.perf_counter()
out = fn(x, t, c)
seconds = time.perf_counter() - start
maps = out[1] if {capture} else ()
bytes_per_step = sum(int(np.asarray(m)[1:].nbytes) for m in maps)
bytes_per_step += int(np.asarray(maps[0])[1:].nbytes) if maps else 0   # + the total
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, bytes_per_step)
"""


def spread(times) -> str:
    q = statistics.quantiles(times, n=4) if len(times) >= 4 else (min(times), 0, max(times))
    return f"{statistics.median(times) * 1e3:.0f} ms (quartiles {q[0] * 1e3:.0f}-{q[2] * 1e3:.0f})"


def op_count(fn, *args) -> int:
    return len(fn.compiled.get_concrete_function(*args).graph.get_operations())  # TensorFlow


def baseline_times(rev: str, repeats: int, env) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "baseline")
        subprocess.run(["git", "worktree", "add", "--detach", tree, rev], check=True,
                       capture_output=True)
        try:
            run = subprocess.run([sys.executable, "-c", WARM.format(prompt=PROMPT, repeats=repeats)],
                                 capture_output=True, text=True, check=True, cwd=tree,
                                 env={**env, "PYTHONPATH": tree})
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", tree], capture_output=True)
    return [float(v) for v in run.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline", default=None, help="a git revision to time capture-off at")
    parser.add_argument("--sd15", action="store_true", help="also SD v1.5's UNet at 64x64")
    args = parser.parse_args()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    os.environ.update(env)

    import numpy as np

    import explainer

    pipe = explainer.load_pipeline("tiny-shapes")
    for capture in (False, True):
        pipe.text_to_image(PROMPT, seed=0, num_steps=25, capture_attention=capture)  # trace
    times = {False: [], True: []}
    for _ in range(args.repeats):
        for capture in (False, True):
            start = time.perf_counter()
            pipe.text_to_image(PROMPT, seed=0, num_steps=25, capture_attention=capture)
            times[capture].append(time.perf_counter() - start)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print("tiny-shapes, 64x64, 25 steps, batch 1, guidance on, warm")
    print(f"  capture off: {spread(times[False])}")
    print(f"  capture on : {spread(times[True])}  overhead {on / off - 1:+.1%}")
    if args.baseline:  # both in fresh processes, the same script
        base = baseline_times(args.baseline, args.repeats, env)
        now = baseline_times("HEAD", args.repeats, env)
        print(f"  capture off, own process: {args.baseline} (before capture) {spread(base)}; "
              f"HEAD {spread(now)}; HEAD vs then {statistics.median(now) / statistics.median(base) - 1:+.1%}")

    x = np.zeros((2, 8, 8, 4), np.float32)
    t = np.zeros((2,), np.float32)
    c = np.zeros((2, 77, 64), np.float32)
    print(f"  UNet graph ops: off {op_count(pipe.unet.graph(), x, t, c)}, "
          f"on {op_count(pipe.unet.graph('call_with_attention'), x, t, c)}")
    trace = pipe.text_to_image(PROMPT, seed=0, num_steps=25, capture_attention=True).trace
    maps = sum(v.nbytes for s in trace.steps for v in s.attention().values())
    print(f"  trace: {trace.nbytes / 2**20:.2f} MiB with maps, of which maps {maps / 2**20:.2f} MiB")

    if args.sd15:
        print("SD v1.5 UNet (random weights, float32), 64x64 latents, batch 2 (one guided step)")
        for capture in (False, True):
            run = subprocess.run([sys.executable, "-c", SD15.format(capture=capture)],
                                 capture_output=True, text=True, env=env, check=True)
            seconds, rss, size = run.stdout.split()[-3:]
            print(f"  capture {'on ' if capture else 'off'}: {float(seconds):.2f} s per call, "
                  f"peak RSS {float(rss):.2f} GiB" + (f", maps {int(size) / 2**20:.1f} MiB per "
                                                      "step of the trace" if capture else ""))


if __name__ == "__main__":
    main()
