"""tiny-shapes end to end on each Keras backend: load, first run, warm batch 1 and batch 8.

    python bench/tiny.py [--repeats 5] [--backends tensorflow jax torch]

One fresh process per backend (Keras picks its backend once per process) that imports
explainer, loads the shipped model (``load``), makes the first 64x64 image with 25 steps and
guidance (``first run``: compiling included), then times the same call warm at batch 1 and
batch 8 (median of ``--repeats``). The last column says whether its picture is the same as
TensorFlow's (every pixel within 1/255). Goals (issues 5 and 18): warm batch 1 <= 0.3 s,
cold <= 8 s, ``load_pipeline()`` <= 1 s on TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

CHILD = """
import json, statistics, sys, time
start = time.perf_counter()
import explainer
from explainer.models import backend
backend.keras  # Keras and its backend imported
imported = time.perf_counter()
pipe = explainer.load_pipeline("tiny-shapes")
loaded = time.perf_counter()
run = lambda batch: pipe.text_to_image(["a small red circle on the left"] * batch, seed=list(range(batch)), num_steps=25)
first = run(1)
ran = time.perf_counter()
warm = {}
for batch in (1, 8):
    run(batch)
    times = []
    for _ in range(int(sys.argv[2])):
        t = time.perf_counter(); run(batch); times.append(time.perf_counter() - t)
    warm[batch] = statistics.median(times)
import numpy as np
np.save(sys.argv[1], first.images)
print(json.dumps({"import": imported - start, "load": loaded - imported, "first run": ran - loaded,
                  "warm 1": warm[1], "warm 8": warm[8]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    args = parser.parse_args()
    results, images = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.backends:
            path = os.path.join(tmp, f"{name}.npy")
            done = subprocess.run([sys.executable, "-c", CHILD, path, str(args.repeats)],
                                  capture_output=True, text=True,
                                  env={**os.environ, "KERAS_BACKEND": name})
            if done.returncode:
                results[name] = {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
                continue
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
            images[name] = np.load(path).astype(int)
    print("tiny-shapes, 64x64, 25 steps, guidance on; seconds, one fresh process per backend")
    print(f"| backend | import | load | first run | warm batch 1 | warm batch 8 | same picture |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        if "error" in r:
            print(f"| {name} | failed: {r['error']} | | | | | |")
            continue
        same = ("reference" if name == "tensorflow" else
                f"{(np.abs(images[name] - images['tensorflow']) <= 1).mean():.2%} of pixels "
                "within 1/255" if "tensorflow" in images else "?")
        print(f"| {name} | {r['import']:.1f} | {r['load']:.2f} | {r['first run']:.1f} | "
              f"{r['warm 1']:.2f} | {r['warm 8']:.2f} | {same} |")


if __name__ == "__main__":
    main()
