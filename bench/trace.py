"""Trace overhead: the denoising loop recording everything vs recording nothing (``keep=()``).

    python bench/trace.py [--steps 25] [--repeats 5]

Runs on the small random-weight configs the tests use (no download needed). Goal (issue 4):
the full trace costs <= 3% of the loop's time. Prints medians and the overhead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    import reference_models as R
    from explainer.diffusion.loading import load_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        folder = R.save_folder(Path(tmp), R.text_encoder(R.SMALL_TEXT), R.unet(R.SMALL_UNET),
                               R.vae(R.SMALL_VAE))
        pipe = load_pipeline(weights=folder)
    run = dict(prompt="a small red circle on the left", seed=0, num_steps=args.steps,
               scheduler="ddim")
    pipe.text_to_image(**run)  # warm-up: traces the graph functions
    times = {"keep=None (everything)": [], "keep=() (timesteps only)": []}
    nbytes = {}
    for _ in range(args.repeats):  # interleaved, so drift hits both alike
        for label, keep in (("keep=None (everything)", None), ("keep=() (timesteps only)", ())):
            start = time.perf_counter()
            result = pipe.text_to_image(**run, keep=keep)
            times[label].append(time.perf_counter() - start)
            nbytes[label] = result.trace.nbytes
    full, lean = (statistics.median(v) for v in times.values())
    print(f"{args.steps} steps, small random-weight configs, median of {args.repeats}:")
    for label, values in times.items():
        print(f"  {label:26s} {statistics.median(values) * 1e3:8.1f} ms   trace "
              f"{nbytes[label] / 1e6:6.2f} MB")
    print(f"  trace overhead: {100 * (full - lean) / lean:+.1f}% (goal <= 3%)")


if __name__ == "__main__":
    main()
