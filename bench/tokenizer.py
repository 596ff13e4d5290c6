"""Tokenizer speed: load time (vocabulary files -> ready) and encode time per prompt.

    python bench/tokenizer.py

Prints medians; targets (issue 2): load < 1 s, one prompt well under 1 ms.
"""

from __future__ import annotations

import statistics
import time

from explainer.assets import asset_path
from explainer.tokenizer import Tokenizer


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    folder = asset_path("clip-tokenizer")
    load = median_seconds(lambda: Tokenizer.from_folder(folder), repeats=5)
    tok = Tokenizer.from_folder(folder)
    prompt = "a photograph of an astronaut riding a horse, highly detailed, 8k"
    tok(prompt)  # warm the BPE cache as a notebook session would
    one = median_seconds(lambda: tok(prompt), repeats=2000)
    cold = median_seconds(lambda: Tokenizer.from_folder(folder)(prompt), repeats=3) - load
    batch = [f"a small red circle number {k} on the left" for k in range(64)]
    per_prompt_batch = median_seconds(lambda: tok(batch), repeats=50) / len(batch)
    print(f"tokenizer load (vocab.json + merges.txt -> ready): {load * 1e3:8.1f} ms (median of 5)")
    print(f"encode one prompt, warm cache:                     {one * 1e6:8.1f} us (median of 2000)")
    print(f"encode one prompt, first call after load:          {cold * 1e6:8.1f} us")
    print(f"encode a batch of 64, per prompt:                  {per_prompt_batch * 1e6:8.1f} us")


if __name__ == "__main__":
    main()
