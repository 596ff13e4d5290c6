"""LatentPreview: a fast, approximate decode, a linear map from the 4 latent channels to RGB.

The VAE's decoder is a deep network; running it on every step of a filmstrip or at every move
of a slider is slow for SD v1.5 on a CPU. But each latent pixel mostly says what colour its
f x f patch is (f = 8), and a first approximation of that is linear:

    rgb[y, x] ≈ z[y, x] · W + b          z: [4], W: [4, 3], b: [3]   (rgb in [0, 1])

``LatentPreview.fit(pipe)`` finds W and b by least squares against the pipeline's own
decoder: it encodes shapes images (``explainer.shapes``; or the images you pass), optionally
mixes noise into their latents, decodes every latent exactly, averages the decoded pixels over
each f x f patch, and solves for the 15 numbers. Calling the preview is one small matrix
product and a nearest-neighbour upsample, no network at all.

Fit quality, measured with ``evaluate`` on latents not used by the fit (mean absolute error
against the exact decode, 0-255 scale, at full image size; in brackets per f x f patch, what
the fit minimises), next to the best constant colour:

| VAE                                          | latents          | preview     | constant    |
|----------------------------------------------|------------------|-------------|-------------|
| tiny-shapes (its training run's final VAE)   | shapes images    | 13.2 (10.6) | 15.0 (14.5) |
| tiny-shapes                                  | half noise ℓ=0.5 | 30.5 (25.2) | 24.5 (19.1) |
| random-weight small VAE (tests/conftest.py)  | shapes images    | 21.1 (19.5) | 20.8 (19.3) |

So for tiny-shapes the preview is only a rough guide: the right place and size, muddy colours
(red comes out purple, white pink), 8-pixel blocks, and noisy latents are extrapolated badly.
Its exact decode is cheap (64 px, a 1M-parameter VAE): prefer ``pipe.decode`` there. The
preview is for SD v1.5 on a CPU, whose latents are commonly previewed with such a fixed 4 x 3
map (not measured here: no SD weights on this machine). Re-measure any model with
``LatentPreview.fit(pipe).evaluate(pipe)``.
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path

import numpy as np

from explainer.diffusion.inputs import as_array

NOISE_LEVELS = (0.0,)  # shares of noise variance mixed into the latents (0 = clean only)
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class LatentPreview:
    """``preview(latents [B, h, w, C]) -> uint8 [B, h·f, w·f, 3]``, a linear approximate decode.

    Args:
        weights: ``[C, 3]`` latent channel -> RGB (in [0, 1]) coefficients.
        bias: ``[3]``.
        factor: the VAE's f; ``__call__`` upsamples by it so the preview has the decode's size.
        quality: optional measurements (``evaluate``'s dict), kept with ``to_dict``.
    """

    def __init__(self, weights, bias, factor: int = 8, quality: dict | None = None):
        self.weights = np.asarray(weights, np.float32)                     # W  [C, 3]
        self.bias = np.asarray(bias, np.float32)                           # b  [3]
        if self.weights.ndim != 2 or self.weights.shape[1] != 3 or self.bias.shape != (3,):
            raise ValueError(f"weights {self.weights.shape} and bias {self.bias.shape} must be "
                             "[C, 3] and [3]")
        if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
            raise ValueError(f"factor={factor!r} must be a positive int (the VAE's, 8 for SD)")
        self.factor = int(factor)
        self.quality = dict(quality or {})

    # -- using it ------------------------------------------------------------------------------

    def rgb(self, latents) -> np.ndarray:
        """Float RGB in [0, 1] at the latents' own size: ``[..., h, w, C] -> [..., h, w, 3]``."""
        z = as_array(latents, "latents")
        if z.ndim < 3 or z.shape[-1] != self.weights.shape[0]:
            raise ValueError(f"latents of shape {z.shape}; expected [B, h, w, "
                             f"{self.weights.shape[0]}] (or one [h, w, {self.weights.shape[0]}])")
        return np.clip(z @ self.weights + self.bias, 0.0, 1.0)             # [..., h, w, 3]

    def __call__(self, latents, upsample: bool = True) -> np.ndarray:
        """uint8 images ``[B, h·f, w·f, 3]`` (nearest upsampling), or ``[B, h, w, 3]`` with
        ``upsample=False``. One latent ``[h, w, C]`` gives one image ``[H, W, 3]``."""
        rgb = self.rgb(latents)                                             # [B, h, w, 3]
        if upsample and self.factor > 1:
            rgb = rgb.repeat(self.factor, axis=-3).repeat(self.factor, axis=-2)  # [B, H, W, 3]
        return np.round(rgb * 255).astype(np.uint8)

    # -- fitting it ----------------------------------------------------------------------------

    @classmethod
    def fit(cls, pipe, n: int = 16, seed: int = 0, images=None,
            noise_levels=NOISE_LEVELS) -> "LatentPreview":
        """Least-squares fit to ``pipe``'s decoder (see the module docstring).

        Args:
            pipe: a Pipeline (uses ``encode_image``, ``decode``, ``latent_factor``).
            n: how many shapes images to encode (ignored when ``images`` is given).
            seed: the shapes images' and the mixed-in noise's seed.
            images: uint8 ``[N, H, W, 3]`` to fit on instead (H, W multiples of f).
            noise_levels: the latents used are √(1−ℓ)·z + √ℓ·ε for each level ℓ. The
                default, clean latents only, previews x̂_0 best; on tiny-shapes, fitting
                (0, 0.5, 1) helped noisy latents a little (28.6 instead of 30.5 at ℓ = 0.5,
                still worse than a constant) and made clean ones worse (18.1 instead of 13.2).
        """
        z, _, target = _samples(pipe, n, seed, images, noise_levels)  # [M, h, w, C], [M, h, w, 3]
        design = np.concatenate([z.reshape(-1, z.shape[-1]),
                                 np.ones((z[..., 0].size, 1), np.float32)], axis=1)  # [Mhw, C+1]
        solution, *_ = np.linalg.lstsq(design.astype(np.float64),
                                       target.reshape(-1, 3).astype(np.float64), rcond=None)
        return cls(solution[:-1], solution[-1], factor=pipe.latent_factor)  # [C, 3], [3]

    def evaluate(self, pipe, n: int = 8, seed: int = 1, noise_levels=NOISE_LEVELS) -> dict:
        """Mean absolute errors (0-255) against ``pipe.decode`` on latents not used by ``fit``
        (another ``seed``), for this preview and for the best constant colour: at full size
        (``mae_preview``, ``mae_constant``) and per f x f patch mean (``*_native``, what the
        fit minimises). Stored in ``self.quality``."""
        z, exact, patches = _samples(pipe, n, seed, None, noise_levels)
        exact = exact.astype(np.float64)                                    # [M, H, W, 3]
        constant = exact.reshape(-1, 3).mean(axis=0)                        # [3]
        native = self.rgb(z).astype(np.float64) * 255                       # [M, h, w, 3]
        self.quality = {
            "mae_preview": float(np.abs(self(z) - exact).mean()),
            "mae_constant": float(np.abs(constant - exact).mean()),
            "mae_preview_native": float(np.abs(native - patches * 255).mean()),
            "mae_constant_native": float(np.abs(constant - patches * 255).mean()),
            "n_latents": int(len(z)), "size": list(exact.shape[1:3]),
            "noise_levels": list(noise_levels)}
        return dict(self.quality)

    @classmethod
    def for_pipeline(cls, pipe, **fit_options) -> "LatentPreview":
        """The preview fitted to ``pipe``, fitted once and then reused (cached per pipeline)."""
        if pipe not in _CACHE:
            _CACHE[pipe] = cls.fit(pipe, **fit_options)
        return _CACHE[pipe]

    # -- storing it ----------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """Plain JSON-able numbers: ``{"weights", "bias", "factor", "quality"}``."""
        return {"weights": self.weights.tolist(), "bias": self.bias.tolist(),
                "factor": self.factor, "quality": self.quality}

    @classmethod
    def from_dict(cls, d: dict) -> "LatentPreview":
        missing = {"weights", "bias", "factor"} - set(d)
        if missing:
            raise ValueError(f"not a LatentPreview dict: missing {sorted(missing)}")
        return cls(d["weights"], d["bias"], d["factor"], d.get("quality"))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "LatentPreview":
        return cls.from_dict(json.loads(Path(path).read_text()))

    def __repr__(self) -> str:
        q = self.quality.get("mae_preview")
        shown = f", mae {q:.1f}/255" if q is not None else ""
        return f"LatentPreview({self.weights.shape[0]} channels -> RGB, x{self.factor}{shown})"


def _samples(pipe, n, seed, images, noise_levels):
    """Latents z ``[M, h, w, C]`` (clean, and noised per level), their exact decodes
    ``[M, H, W, 3]`` uint8, and those averaged over each f x f patch in [0, 1] ``[M, h, w, 3]``."""
    f = pipe.latent_factor
    if images is None:
        from explainer.drawn.dataset import ShapesDataset

        images, _, _ = ShapesDataset(seed=seed, include_held_out=True).batch(0, n)  # [n, 64, 64, 3]
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] % f or images.shape[2] % f:
        raise ValueError(f"images of shape {images.shape}; expected [N, H, W, 3] with H and W "
                         f"multiples of the VAE factor {f}")
    if not len(noise_levels) or not all(0.0 <= level <= 1.0 for level in noise_levels):
        raise ValueError(f"noise_levels={noise_levels!r}: give one or more shares in [0, 1] "
                         "(0 = clean latents)")
    clean = pipe.encode_image(images)                                       # z  [n, h, w, C]
    rng = np.random.default_rng([seed, 7])
    latents = []
    for level in noise_levels:                                              # √(1−ℓ)·z + √ℓ·ε
        noise = rng.standard_normal(clean.shape).astype(np.float32)
        latents.append(np.sqrt(1.0 - level) * clean + np.sqrt(level) * noise)
    z = np.concatenate(latents).astype(np.float32)                          # [M, h, w, C]
    decoded = np.asarray(pipe.decode(z))                                    # [M, H, W, 3]
    m, h, w = z.shape[:3]
    patches = (decoded.astype(np.float32) / 255.0).reshape(m, h, f, w, f, 3)  # [M, h, f, w, f, 3]
    return z, decoded, patches.mean(axis=(2, 4))                            # ..., [M, h, w, 3]
