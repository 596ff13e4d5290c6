"""Convert CLIP's ``bpe_simple_vocab_16e6.txt.gz`` into ``vocab.json`` + ``merges.txt``.

The vocabulary of the CLIP ViT-L/14 text encoder (the one Stable Diffusion v1 uses) ships
inside the ``open_clip_torch`` wheel as ``open_clip/bpe_simple_vocab_16e6.txt.gz`` (MIT
licence, copyright OpenAI and the OpenCLIP authors). This script rebuilds, from that one
file, the two files a diffusers ``tokenizer/`` folder holds, and writes them to
``assets/clip-tokenizer/`` with a PROVENANCE.md. It is run once by a maintainer; the
package at run time needs neither open_clip nor torch.

    python scripts/convert_clip_vocab.py                       # fetches the wheel with pip
    python scripts/convert_clip_vocab.py --wheel open_clip_torch-3.3.0-py3-none-any.whl

The vocabulary is built exactly as CLIP's ``SimpleTokenizer`` builds it:
256 byte symbols, the same 256 with the end-of-word mark ``</w>``, the first 48,894 merges
joined, then ``<|startoftext|>`` (49406) and ``<|endoftext|>`` (49407): 49,408 entries.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from explainer.tokenizer import _bytes_to_unicode  # noqa: E402  (the one copy of the byte map)

VOCAB_MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
LICENSE_MEMBER_SUFFIX = "licenses/LICENSE"
N_MERGES = 49152 - 256 - 2  # 48,894: CLIP keeps merges[1 : 49152 - 256 - 2 + 1]
WHEEL_SPEC = "open-clip-torch==3.3.0"


def build(bpe_gz: bytes) -> tuple[dict[str, int], list[str]]:
    lines = gzip.decompress(bpe_gz).decode("utf-8").split("\n")
    merges = lines[1 : N_MERGES + 1]  # line 0 is the "#version" header
    byte_symbols = list(_bytes_to_unicode().values())
    tokens = byte_symbols + [s + "</w>" for s in byte_symbols]
    tokens += ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    if len(vocab) != 49408 or len(merges) != N_MERGES:
        raise SystemExit(f"unexpected sizes: vocab {len(vocab)}, merges {len(merges)}")
    return vocab, merges


def find_wheel(path: str | None, workdir: str) -> Path:
    if path:
        return Path(path)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", workdir, WHEEL_SPEC],
        check=True,
    )
    return Path(glob.glob(f"{workdir}/open_clip_torch-*.whl")[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", help="a downloaded open_clip_torch wheel (default: pip download)")
    root = Path(__file__).resolve().parents[1]
    parser.add_argument("--out", default=str(root / "assets" / "clip-tokenizer"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        wheel = find_wheel(args.wheel, tmp)
        with zipfile.ZipFile(wheel) as z:
            bpe_gz = z.read(VOCAB_MEMBER)
            licence_name = next(n for n in z.namelist() if n.endswith(LICENSE_MEMBER_SUFFIX))
            licence = z.read(licence_name).decode("utf-8")
    vocab, merges = build(bpe_gz)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    (out / "LICENSE-open_clip.txt").write_text(licence, encoding="utf-8")
    sha = hashlib.sha256(bpe_gz).hexdigest()
    (out / "PROVENANCE.md").write_text(
        PROVENANCE.format(wheel=wheel.name, member=VOCAB_MEMBER, sha=sha), encoding="utf-8"
    )


PROVENANCE = """# CLIP tokenizer vocabulary: provenance

- Source: `{member}` inside `{wheel}` (PyPI package `open_clip_torch`).
- sha256 of that `.txt.gz`: `{sha}`
- Licence: MIT; the wheel's licence is copied here as `LICENSE-open_clip.txt`
  (Copyright (c) 2012-2021 Gabriel Ilharco, Mitchell Wortsman, Nicholas Carlini, Rohan Taori,
  Achal Dave, Vaishaal Shankar, John Miller, Hongseok Namkoong, Hannaneh Hajishirzi, Ali Farhadi,
  Ludwig Schmidt; the vocabulary itself is OpenAI's, released with CLIP under MIT).
- Made by `python scripts/convert_clip_vocab.py` (this repository); rerun it to check.
- Contents: `vocab.json` (49,408 entries: 256 byte symbols, the same with `</w>`, 48,894
  merges, `<|startoftext|>` = 49406, `<|endoftext|>` = 49407) and `merges.txt` (a
  `#version: 0.2` header and the 48,894 merges, in rank order). These are the same two files
  as the `tokenizer/` folder of a diffusers Stable Diffusion v1.5 checkout.
"""


if __name__ == "__main__":
    main()
