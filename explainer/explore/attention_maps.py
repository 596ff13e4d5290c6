"""Which word paints which pixels: the UNet's cross-attention maps, per token.

In every spatial transformer of the UNet, each latent pixel (a query) attends to the 77 token
vectors of the context c (the keys and values): A = softmax(Q Kᵀ/√d), one row of 77 weights
per pixel and head, each row summing to 1. A[:, :, p, k] says how much pixel p reads token k.

Keeping every head of every layer at every step would cost gigabytes for SD v1.5, so the UNet
reduces them on the fly, as DAAM does (Tang et al. 2022, "What the DAAM: interpreting Stable
Diffusion using cross attention"), in ``UNet.call_with_attention``:

1. mean over the heads: ``[B, heads, h_l·w_l, 77] -> [B, h_l, w_l, 77]`` per layer;
2. sum over the layers of one resolution level (down, middle and up blocks alike);
3. upsample each level's sum to the latent grid (bilinear, half-pixel centres, so every
   output pixel is a convex mix of input pixels); DAAM upsamples to the image with bicubic,
   we stay at the latent grid and upsample to the image only to draw or score;
4. the total: the sum of the levels.

So at every latent pixel a level's map sums, over the 77 tokens, to that level's number of
cross-attention layers (and the total to all of them): a distribution over tokens, scaled.
DAAM then sums over the timesteps too; ``AttentionMaps.token`` does that (or picks steps).

| name in the trace                      | shape            | what it is                       |
|----------------------------------------|------------------|----------------------------------|
| ``steps.i.cross_attention``            | [B, 77, h, w]    | the total over all levels        |
| ``steps.i.cross_attention_levels.RxR`` | [B, 77, h, w]    | one level, native grid R x R     |

Only the prompt's half of the guidance batch is kept (the unconditional half reads the empty
prompt). Capture is off by default, and free when off: ``UNet.call`` traces a graph without
any of these ops. ``text_to_image(..., capture_attention=True)`` turns it on.

The start token (position 0) is the same vector for every prompt (CLIP's mask is causal, it
sees only itself); models often park attention there, a "sink" that carries no prompt
information. Padding positions (the end token repeated) have read the whole prompt.
"""

from __future__ import annotations

import numpy as np

START = "<start>"
END = "<end>"


class AttentionMaps:
    """The cross-attention maps of one image of a run, looked up by word.

    ``maps = AttentionMaps(result.trace)``; ``maps.token("red")`` is the word map of "red",
    ``[h, w]``: the preset's most faithful choice of level and steps (``default``); ``maps.token(
    "red", steps="all", level="all")`` is DAAM's, summed over every level and step;
    ``maps.token("red", steps=[0])`` at the first step only; ``maps.over_steps("red")`` is
    ``[steps, h, w]``; ``maps.upsampled(m, 64)`` is a map at the image's resolution.

    The default comes from the run (``trace.metadata["word_maps"]``, the preset's
    ``PipelineConfig.word_maps``). For tiny-shapes it is the finest level's layers (the latent
    grid) over the second half of the steps: measured against the true masks of two-shape
    scenes, its maps overlap their own shape better than DAAM's sum (shapes/faithfulness.py,
    the model card). A preset without a measurement (SD v1.5) sums everything, as DAAM does.
    """

    def __init__(self, trace, image: int = 0):
        if not trace.steps or trace.steps[0].cross_attention is None:
            raise ValueError("this trace has no cross-attention maps; run with "
                             "capture_attention=True (and keep=None or a keep= that includes "
                             "'cross_attention')")
        batch = trace.steps[0].cross_attention.shape[0]
        if not 0 <= image < batch:
            raise ValueError(f"image={image} is out of range for a batch of {batch}")
        self.trace, self.image = trace, image
        self.tokens = trace.tokens[image]
        self.maps = trace.stack("cross_attention")[:, image]                  # [steps, 77, h, w]
        self.levels = {name: np.stack([s.cross_attention_levels[name][image]
                                       for s in trace.steps])
                       for name in (trace.steps[0].cross_attention_levels or {})}  # [steps, 77, h, w]
        self.choice = trace.metadata.get("word_maps") or {}

    @property
    def default(self) -> tuple[list[int] | None, str | None]:
        """The word maps' default ``(steps, level)``: None means all steps / every level."""
        steps = default_steps(self.choice, len(self.trace.steps))
        level = None
        if finest_only(self.choice) and self.levels:
            level = max(self.levels, key=lambda name: int(name.split("x")[0]))
        return steps, level

    def describe_default(self) -> str:
        """The default in words: ``"level 8x8, steps 13-25"`` or ``"every level and step"``."""
        steps, level = self.default
        if steps is None and level is None:
            return "every level and step"
        return ", ".join([f"level {level}" if level else "every level",
                          f"steps {steps[0]}-{steps[-1]}" if steps else "every step"])

    def _choose(self, steps, level):
        """Resolve ``steps``/``level``: None -> the default, "all" -> everything."""
        d_steps, d_level = self.default
        steps = d_steps if steps is None else None if isinstance(steps, str) and \
            self._all(steps, "steps") else steps
        level = d_level if level is None else None if self._all(level, "level") else level
        return steps, level

    @staticmethod
    def _all(value, name) -> bool:
        if isinstance(value, str) and value == "all":
            return True
        if name == "steps" and isinstance(value, str):
            raise ValueError(f"steps={value!r}: give step indices, 'all' or None (the default)")
        return False

    @property
    def words(self) -> list[str]:
        """The prompt's readable pieces, start and end tokens included (positions 0..n_real-1)."""
        return list(self.tokens.pieces[: self.tokens.n_real])

    def position(self, which) -> int:
        """A token position from an int, ``"<start>"``, ``"<end>"`` or a word of the prompt
        (its first occurrence; a word split into subwords gives its first piece)."""
        return token_position(self.tokens, which)

    def over_steps(self, which, level: str | None = None) -> np.ndarray:
        """One token's map at every step: float32 ``[steps, h, w]`` (the total, or one level
        such as ``"8x8"``)."""
        k = self.position(which)
        if level is None:
            return self.maps[:, k]
        return self.levels[self._level(level)][:, k]

    def token(self, which, steps=None, level: str | None = None) -> np.ndarray:
        """One token's map summed over ``steps`` at ``level`` (None: the word maps' default,
        ``"all"``: every step / every level): float32 ``[h, w]``."""
        steps, level = self._choose(steps, level)
        per_step = self.over_steps(which, level)
        chosen = per_step if steps is None else per_step[np.asarray(steps, dtype=int)]
        return chosen.sum(axis=0)

    def relative(self, which, steps=None, level: str | None = None) -> np.ndarray:
        """One token's map over ``steps`` as a multiple of the uniform share: at each pixel,
        the token's attention divided by that pixel's total over the 77 positions / 77.
        float32 ``[h, w]``; 1 = read as much as an average token, 4 = four times that. A fixed
        scale across tokens, steps and prompts (a min-to-max stretch makes every map look
        alike, a word that is hardly read included). ``steps``/``level`` as ``token``."""
        steps, level = self._choose(steps, level)
        k = self.position(which)
        per_step = self.maps if level is None else self.levels[self._level(level)]
        chosen = per_step if steps is None else per_step[np.asarray(steps, dtype=int)]
        summed = chosen.astype(np.float64).sum(axis=0)                        # [77, h, w]
        uniform = summed.sum(axis=0) / summed.shape[0]                         # [h, w]
        return (summed[k] / np.maximum(uniform, 1e-12)).astype(np.float32)

    def _level(self, level: str) -> str:
        if level not in self.levels:
            raise ValueError(f"no level {level!r}; this run has {sorted(self.levels)}")
        return level

    def shares(self, steps=None) -> np.ndarray:
        """Each position's share of all the attention (summed over pixels and ``steps``):
        float64 ``[77]``, summing to 1. Where the pixels look, on average."""
        chosen = self.maps if steps is None else self.maps[np.asarray(steps, dtype=int)]
        per_token = chosen.astype(np.float64).sum(axis=(0, 2, 3))            # [77]
        return per_token / per_token.sum()

    @staticmethod
    def upsampled(values, size: int | tuple[int, int]) -> np.ndarray:
        """A map ``[h, w]`` resized bilinearly (half-pixel centres) to ``size``."""
        values = np.asarray(values, np.float64)
        out_h, out_w = (size, size) if isinstance(size, (int, np.integer)) else size
        rows = _interpolation_matrix(values.shape[0], out_h)                    # [H, h]
        cols = _interpolation_matrix(values.shape[1], out_w)                    # [W, w]
        return (rows @ values @ cols.T).astype(np.float32)                      # [H, W]

    @staticmethod
    def top_mask(values, fraction: float = 0.2) -> np.ndarray:
        """Boolean mask of the ``fraction`` of pixels with the highest values."""
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction={fraction} must be in (0, 1]")
        flat = np.asarray(values).ravel()
        count = max(1, int(round(fraction * flat.size)))
        mask = np.zeros(flat.size, bool)
        mask[np.argsort(-flat, kind="stable")[:count]] = True
        return mask.reshape(np.shape(values))

    @staticmethod
    def iou(a, b) -> float:
        """Intersection over union of two boolean masks (``iou`` below)."""
        return iou(a, b)


def default_steps(choice: dict, num_steps: int) -> list[int] | None:
    """The steps of a run's word-map ``choice`` (``trace.metadata["word_maps"]``): the second
    half of ``num_steps``, or None (every step)."""
    return list(range(num_steps // 2, num_steps)) if choice.get("steps") == "second half" \
        else None


def finest_only(choice: dict) -> bool:
    """Whether a run's word-map ``choice`` keeps only the finest grid's layers."""
    return choice.get("level") == "finest"


def token_position(tokens, which) -> int:
    """The position in ``tokens`` (a ``Tokens``) of an int, ``"<start>"``, ``"<end>"`` or a
    word of the prompt (its first occurrence; a word split into subwords: its first piece)."""
    if isinstance(which, (int, np.integer)):
        if not 0 <= which < len(tokens.ids):
            raise ValueError(f"token position {which} is out of range 0..76")
        return int(which)
    if which == START:
        return 0
    if which == END:
        return tokens.n_real - 1
    wanted = str(which).lower().strip()
    for k in range(1, tokens.n_real - 1):
        if tokens.pieces[k].lower().rstrip("@") == wanted:
            return k
    raise ValueError(f"{which!r} is not a token of the prompt {tokens.prompt!r}; its tokens "
                     f"are {list(tokens.pieces[1: tokens.n_real - 1])} (or use '<start>', "
                     "'<end>' or a position 0..76)")


def iou(a, b) -> float:
    """Intersection over union of two boolean masks (0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def _interpolation_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] weights of 1-D linear interpolation with half-pixel centres (as
    tf.image.resize and torch's align_corners=False), edges clamped."""
    centres = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    centres = np.clip(centres, 0, n_in - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, n_in - 1)
    frac = centres - low
    weights = np.zeros((n_out, n_in))
    weights[np.arange(n_out), low] += 1 - frac
    weights[np.arange(n_out), high] += frac
    return weights
