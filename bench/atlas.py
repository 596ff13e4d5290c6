"""The attention atlas: its size before the run, and what recording it costs.

    python bench/atlas.py                                  # tiny-shapes on this machine
    python bench/atlas.py --weights FOLDER --size 512 --steps 20   # SD v1.5 (a GPU session)

First prints the size of the default atlas (every cross-attention layer, step and token, both
guidance branches, mean over heads, float16) for SD v1.5 at 512², 20 steps, read from the
config alone (no weights), then times warm runs of the chosen pipeline with and without the
atlas, interleaved, and prints the medians and the overhead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=None, help="an SD v1.5 folder (default: tiny-shapes)")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import explainer
    from explainer.diffusion.attention_capture import AttentionCapture
    from explainer.models.configs import PRESETS

    capture = AttentionCapture()
    print("before any run, from the config:")
    print("  sd-v1-5 " + capture.describe(PRESETS["sd-v1-5"].unet, 512, 512, 20))
    pipe = explainer.load_pipeline("sd-v1-5", weights=args.weights) if args.weights else \
        explainer.load_pipeline()
    size = args.size or pipe.default_size
    run = dict(prompt="a large red circle on the left and a small blue square", seed=0,
               num_steps=args.steps, height=size, width=size, scheduler="ddim")
    print(f"  {pipe.preset} " + capture.describe(pipe.unet.config, size, size, args.steps))
    pipe.text_to_image(**run)                                    # warm-up: both programs
    pipe.text_to_image(**run, capture_attention=capture)
    times = {"without": [], "with the atlas": []}
    for _ in range(args.repeats):  # interleaved, so drift hits both alike
        for label, chosen in (("without", False), ("with the atlas", capture)):
            start = time.perf_counter()
            result = pipe.text_to_image(**run, capture_attention=chosen)
            times[label].append(time.perf_counter() - start)
            if chosen:
                nbytes = result.trace.metadata["atlas"]["nbytes"]
    plain, atlas = (statistics.median(v) for v in times.values())
    print(f"{pipe.preset} {size}x{size}, {args.steps} DDIM steps, batch 1, warm, median of "
          f"{args.repeats}:")
    for label, values in times.items():
        print(f"  {label:15s} {statistics.median(values):8.3f} s")
    print(f"  atlas recorded: {nbytes / 1e6:.1f} MB; overhead {100 * (atlas / plain - 1):+.1f} %")


if __name__ == "__main__":
    main()
