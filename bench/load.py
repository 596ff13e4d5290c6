"""Memory and time to load a full-size SD v1.5 folder (random weights, the real layout).

    python bench/load.py [--keep DIR]

Writes the folder with the reference libraries (about 4.3 GB of safetensors in a temporary
directory), then loads it with ``explainer.load_models`` in a fresh process and prints that
process's peak RSS next to the size of the weights. Goal (networks issue): loading the 3.4 GB
UNet needs no more than about twice its size: tensors are streamed one at a time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = str(Path(__file__).resolve().parents[1] / "tests")

WRITE = f"""
import sys; sys.path.insert(0, {TESTS!r})
import reference_models as R
from pathlib import Path
folder = Path(sys.argv[1])
R.save_folder(folder, text=R.text_encoder(R.SD15_TEXT))
R.save_folder(folder, unet_model=R.unet(R.SD15_UNET))
R.save_folder(folder, vae_model=R.vae(R.SD15_VAE))
"""

LOAD = """
import os, resource, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
start = time.perf_counter()
import explainer
from explainer.models.configs import PRESETS
imported = time.perf_counter()
models = explainer.load_models(sys.argv[1], config=PRESETS["sd-v1-5"])
loaded = time.perf_counter()
print(f"import {imported - start:.1f} s, build + load {loaded - imported:.1f} s")
print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", help="write the folder here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp) / "sd-v1-5-random"
        if not (folder / "unet" / "diffusion_pytorch_model.safetensors").is_file():
            subprocess.run([sys.executable, "-c", WRITE, str(folder)], check=True)
        sizes = {p: sum(f.stat().st_size for f in (folder / p).glob("*.safetensors")) / 2**30
                 for p in ("text_encoder", "unet", "vae")}
        print("weights: " + ", ".join(f"{p} {s:.2f} GiB" for p, s in sizes.items())
              + f"; total {sum(sizes.values()):.2f} GiB")
        run = subprocess.run([sys.executable, "-c", LOAD, str(folder)], capture_output=True,
                             text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        print(run.stdout.strip() or run.stderr[-2000:])
        print("ratio peak RSS / weights: see above; the UNet alone is "
              f"{sizes['unet']:.2f} GiB, so the goal is peak <= ~{2 * sizes['unet'] + sizes['text_encoder'] + sizes['vae']:.1f} GiB")


if __name__ == "__main__":
    main()
