"""Where the shipped assets live (CLIP vocabulary, tiny-shapes weights, sample images).

In a source checkout (``pip install -e .``, what the README's commands do) they are the
repository's top-level ``assets/`` folder. A wheel install puts the same files under
``<prefix>/share/explainer/assets``. ``EXPLAINER_ASSETS`` overrides both.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def assets_dir() -> Path:
    """The folder that holds ``clip-tokenizer/``, ``tiny-shapes/``, ...; raises if none exists."""
    candidates = []
    if os.environ.get("EXPLAINER_ASSETS"):
        candidates.append(Path(os.environ["EXPLAINER_ASSETS"]))
    candidates += [
        Path(__file__).resolve().parents[1] / "assets",
        Path(sys.prefix) / "share" / "explainer" / "assets",
    ]
    for path in candidates:
        if (path / "clip-tokenizer" / "vocab.json").is_file():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(
        f"explainer's assets folder was not found (tried: {tried}). Install the package from "
        "its repository (`make demo` or `pip install -e .`), or set EXPLAINER_ASSETS to the "
        "repository's assets/ folder."
    )


def asset_path(*parts: str) -> Path:
    """A path inside the assets folder, e.g. ``asset_path("clip-tokenizer", "vocab.json")``."""
    return assets_dir().joinpath(*parts)
