"""tiny-shapes end to end: one 64x64 image, 25 steps, guidance on; warm and cold.

    python bench/tiny.py [--repeats 5]

- cold: a fresh ``python -c`` that imports explainer, loads the shipped model and makes one
  image (what a learner waits for the first time), median of 3 processes;
- warm: the same call again in a process that has already run it once (a widget slider),
  batch 1 and batch 8, median of ``--repeats``.
Goals (tiny-shapes issue): warm batch 1 <= 0.3 s, cold <= 8 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COLD = """
import time; start = time.perf_counter()
import explainer
pipe = explainer.load_pipeline("tiny-shapes")
pipe.text_to_image("a small red circle on the left", seed=0, num_steps=25)
print(time.perf_counter() - start)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    os.environ.update(env)

    cold = []
    for _ in range(3):
        wall = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True, env=env,
                             check=True)
        cold.append((time.perf_counter() - wall, float(run.stdout.strip().splitlines()[-1])))

    import explainer

    pipe = explainer.load_pipeline("tiny-shapes")
    warm = {}
    for batch in (1, 8):
        prompts = ["a small red circle on the left"] * batch
        pipe.text_to_image(prompts, seed=0, num_steps=25)  # traces this batch size's graphs
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            pipe.text_to_image(prompts, seed=0, num_steps=25)
            times.append(time.perf_counter() - start)
        warm[batch] = statistics.median(times)
    print("tiny-shapes, 64x64, 25 steps, guidance on (2 UNet rows per image)")
    print(f"  cold, fresh process (interpreter + import + load + 1 image): "
          f"{statistics.median(c[0] for c in cold):.2f} s "
          f"(inside Python: {statistics.median(c[1] for c in cold):.2f} s), median of 3")
    for batch, t in warm.items():
        print(f"  warm, batch {batch}: {t * 1e3:.0f} ms ({t / batch * 1e3:.0f} ms per image), "
              f"median of {args.repeats}")


if __name__ == "__main__":
    main()
