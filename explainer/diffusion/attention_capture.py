"""What an attention atlas records, what it costs, and the hook that records it.

``text_to_image(..., capture_attention=AttentionCapture(...))`` records the cross-attention
probabilities A = softmax(Q Kᵀ/√d) of the selected UNet layers, at the selected steps, for
the selected token positions and for both halves of the guidance batch, as float16:

| name in the trace              | shape                                 | what it is           |
|--------------------------------|---------------------------------------|----------------------|
| ``steps.i.atlas.<layer>``      | [2, B, T, h_l, w_l] float16           | branch (0: c_∅, 1: c), image, token, the layer's own grid; mean over heads |
| (``heads=True``)               | [2, B, heads, T, h_l, w_l] float16    | every head           |

T is the number of selected positions (``trace.metadata["atlas"]["tokens"]`` lists them);
each pixel's row over all 77 positions sums to 1, so 1/77 is the uniform share. Layers are
named by the spatial transformer they sit in (``"down0_transformer_0"``,
``"mid_transformer"``, ``"up1_transformer_2"``; ``models.unet.attention_sites``).

The size is known before the run: ``capture.nbytes(unet_config, height, width, steps,
batch)`` (no weights needed, so SD v1.5's can be read on a laptop), and a run whose selection
would not fit is refused before any step: above ``budget_mb`` when one is given, or above
the memory this machine has available. The default selection (every layer, step and token,
both branches, mean over heads) for SD v1.5 at 512², 20 steps, batch 1 is 166 MB
(``describe``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explainer.models.attention_hook import AttentionHook
from explainer.models.backend import ops
from explainer.models.unet import attention_sites

BRANCHES = ("uncond", "cond")
TOKENS = 77


@dataclass(frozen=True)
class AttentionCapture:
    """A selection of cross-attention to record: which layers, steps, tokens, heads, branches.

    Args:
        layers: layer names (``"down0_transformer_0"``), or parts (``"down"``, ``"mid"``,
            ``"up"``), or part+level prefixes (``"up1"``); None = every cross-attention layer.
        steps: step indices (0 = the first, noisiest step; negative counts from the end);
            None = every step.
        tokens: token positions 0..76; None = all 77.
        heads: keep every head (``True``) or their mean (``False``, the default).
        branches: ``("uncond", "cond")`` (default) or one of them: the unconditional (negative
            prompt) half of the guidance batch, the prompt's half, or both.
        budget_mb: refuse a run whose atlas would exceed this many MB (None: only the machine's
            available memory limits it).
    """

    layers: tuple[str, ...] | None = None
    steps: tuple[int, ...] | None = None
    tokens: tuple[int, ...] | None = None
    heads: bool = False
    branches: tuple[str, ...] = BRANCHES
    budget_mb: float | None = None

    def __post_init__(self):
        for name in ("layers", "steps", "tokens", "branches"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, (list, tuple)):
                value = (value,)
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        if self.tokens is not None:
            bad = [k for k in self.tokens if not isinstance(k, (int, np.integer))
                   or not 0 <= k < TOKENS]
            if bad or not self.tokens:
                raise ValueError(f"AttentionCapture: tokens={self.tokens} must be positions "
                                 f"0..{TOKENS - 1} (a non-empty list), e.g. tokens=(0, 1, 2)")
            object.__setattr__(self, "tokens", tuple(int(k) for k in self.tokens))
        if self.steps is not None:
            if not self.steps or not all(isinstance(k, (int, np.integer)) for k in self.steps):
                raise ValueError(f"AttentionCapture: steps={self.steps} must be step indices "
                                 "(ints; a non-empty list), e.g. steps=(0, 5, 10)")
            object.__setattr__(self, "steps", tuple(int(k) for k in self.steps))
        if not self.branches or set(self.branches) - set(BRANCHES):
            raise ValueError(f"AttentionCapture: branches={self.branches} must be a non-empty "
                             f"selection of {BRANCHES}")
        object.__setattr__(self, "branches",
                           tuple(b for b in BRANCHES if b in self.branches))  # c_∅ first
        if not isinstance(self.heads, bool):
            raise TypeError(f"AttentionCapture: heads={self.heads!r} must be True or False")
        if self.budget_mb is not None and not self.budget_mb > 0:
            raise ValueError(f"AttentionCapture: budget_mb={self.budget_mb} must be > 0 or None")

    # -- what is selected ------------------------------------------------------------------

    def sites(self, unet_config) -> list:
        """The selected cross-attention sites of a UNet with this config, in call order."""
        cross = [s for s in attention_sites(unet_config) if s.kind == "cross"]
        if self.layers is None:
            return cross
        chosen = [s for s in cross if any(_matches(s, key) for key in self.layers)]
        unknown = [key for key in self.layers if not any(_matches(s, key) for s in cross)]
        if unknown:
            raise ValueError(f"AttentionCapture: layers {unknown} match no cross-attention "
                             f"layer; the layers are {[s.name for s in cross]} (or a part: "
                             "'down', 'mid', 'up', or a prefix such as 'up1')")
        return chosen

    def step_indices(self, num_steps: int) -> list[int]:
        """The selected steps of a run of ``num_steps`` (negative indices counted from the end)."""
        if self.steps is None:
            return list(range(num_steps))
        bad = [k for k in self.steps if not -num_steps <= k < num_steps]
        if bad:
            raise ValueError(f"AttentionCapture: steps {bad} are out of range for a run of "
                             f"{num_steps} steps (0..{num_steps - 1}, or negative from the end)")
        return sorted({k % num_steps for k in self.steps})

    def token_positions(self) -> list[int]:
        return list(range(TOKENS)) if self.tokens is None else list(self.tokens)

    # -- what it costs ---------------------------------------------------------------------

    def nbytes(self, unet_config, height: int, width: int, num_steps: int, batch: int = 1,
               latent_factor: int = 8) -> int:
        """Bytes of the atlas of a run (float16), from the config alone."""
        h, w = height // latent_factor, width // latent_factor
        per_step = sum(np.prod(s.grid(h, w)) * (s.heads if self.heads else 1)
                       for s in self.sites(unet_config))
        values = per_step * len(self.branches) * batch * len(self.token_positions())
        return int(values * 2 * len(self.step_indices(num_steps)))

    def describe(self, unet_config, height: int, width: int, num_steps: int,
                 batch: int = 1, latent_factor: int = 8) -> str:
        """One line: what is selected and its size, e.g. for printing before a run."""
        size = self.nbytes(unet_config, height, width, num_steps, batch, latent_factor)
        layers = len(self.sites(unet_config))
        return (f"attention atlas: {layers} cross-attention layers x "
                f"{len(self.step_indices(num_steps))} steps x {len(self.token_positions())} "
                f"tokens x {len(self.branches)} branch{'es' if len(self.branches) > 1 else ''}"
                f" x {batch} image{'s' if batch > 1 else ''}"
                f"{', every head' if self.heads else ', mean over heads'}, float16, "
                f"{height}x{width}: {size / 1e6:,.1f} MB")

    def check_fits(self, nbytes: int, available: int | None = None) -> None:
        """Refuse (MemoryError) an atlas above ``budget_mb`` or the available memory."""
        if self.budget_mb is not None and nbytes > self.budget_mb * 1e6:
            raise MemoryError(f"this attention atlas would take {nbytes / 1e6:,.1f} MB, over "
                              f"budget_mb={self.budget_mb:g}; select fewer layers, steps or "
                              "tokens (e.g. layers=('up',), steps=(0, 10, 19), tokens=(1, 2, 3))"
                              ", heads=False or one branch, or raise the budget")
        available = available_memory() if available is None else available
        if available is not None and nbytes > available:
            raise MemoryError(f"this attention atlas would take {nbytes / 1e6:,.1f} MB but this "
                              f"machine has {available / 1e6:,.1f} MB available; select fewer "
                              "layers, steps or tokens, heads=False or one branch")


def available_memory() -> int | None:
    """Bytes of memory available now (Linux's MemAvailable; None where it cannot be read)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _matches(site, key: str) -> bool:
    return key in (site.name, site.part) or (
        len(key) > len(site.part) and site.name.startswith(key + "_"))


class CaptureHook(AttentionHook):
    """Records the selected cross-attention layers' A on the tape; changes nothing.

    Tape entries: ``atlas.<layer>`` ``[branches·B, (heads,) N, T]`` (head-mean unless
    ``heads``), rows in the guidance batch's order (c_∅ rows first)."""

    def __init__(self, capture: AttentionCapture, unet_config):
        self.names = frozenset(s.name for s in capture.sites(unet_config))
        self.tokens = None if capture.tokens is None else tuple(capture.tokens)
        self.heads, self.branches = capture.heads, capture.branches
        self.key = (tuple(sorted(self.names)), self.tokens, self.heads, self.branches)

    def wants(self, site) -> bool:
        return site.kind == "cross" and site.name in self.names

    def __call__(self, probs, site, inputs, tape):
        kept = probs                                                     # [2B, heads, N, 77]
        if self.tokens is not None:
            kept = ops.take(kept, np.asarray(self.tokens, "int32"), axis=-1)  # [2B, heads, N, T]
        if not self.heads:
            kept = ops.mean(ops.cast(kept, "float32"), axis=1)            # [2B, N, T]
        if len(self.branches) == 1:
            half = ops.shape(kept)[0] // 2
            kept = kept[half:] if self.branches == ("cond",) else kept[:half]
        tape[f"atlas.{site.name}"] = kept   # float16 on the host (TensorFlow's CPU kernels
        return probs                        # log a complaint about float16 casts)


def atlas_from_tape(tape: dict, capture: AttentionCapture, batch: int, latent_hw,
                    unet_config) -> dict[str, np.ndarray]:
    """The tape's ``atlas.<layer>`` entries as the trace keeps them:
    ``[branches, B, (heads,) T, h_l, w_l]`` float16, by layer name."""
    out = {}
    for site in capture.sites(unet_config):
        values = np.asarray(tape[f"atlas.{site.name}"])                   # [nb·B, (heads,) N, T]
        h, w = site.grid(*latent_hw)
        values = values.reshape(len(capture.branches), batch, *values.shape[1:-2], h, w,
                                values.shape[-1])                         # [nb, B, (H,) h, w, T]
        out[site.name] = np.moveaxis(values, -1, -3).astype(np.float16)  # [nb, B, (H,) T, h, w]
    return out
