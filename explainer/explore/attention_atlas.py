"""An attention atlas: every cross-attention layer's map, at every step, for every token.

Lesson 11's maps (attention_maps.py) are summed over heads, layers of one resolution and
steps, as DAAM does. The atlas keeps them apart, so one can ask *where* in the network and
*when* in the loop a word is read: a run with ``capture_attention=AttentionCapture(...)``
(diffusion/attention_capture.py) stores, per selected step and layer, A = softmax(Q Kᵀ/√d)
for each selected token, both guidance branches, as float16.

    atlas = AttentionAtlas(result.trace)                 # image 0 of the run
    atlas.map("circle", layer="up2_transformer_1", step=3)   # [h_l, w_l], x uniform share
    atlas.word_map("circle", layers=..., steps=...)      # averaged, on the latent grid

| name        | symbol | meaning                                                              |
|-------------|--------|----------------------------------------------------------------------|
| ``layers``  | l      | the recorded layers, in call order (down, mid, up)                   |
| ``steps``   | i      | the recorded step indices (0 = the noisiest)                         |
| ``A``       | A      | one pixel's attention over the 77 positions, summing to 1            |
| ``ratio``   | 77·A   | A against the uniform share 1/77: 1 = read as much as an average token |

Every map the atlas returns is ``77·A`` (or its mean over heads, layers, steps): a fixed
scale, the same for every token, layer, step and prompt (a min-to-max stretch would make the
word "a" look as bright as the word "circle").
"""

from __future__ import annotations

import numpy as np

from explainer.explore.attention_maps import (END, START, AttentionMaps, default_steps,
                                              finest_only, token_position)

TOKENS = 77
BRANCHES = ("uncond", "cond")


class AttentionAtlas:
    """The atlas of one image of a run, looked up by word, layer, step and guidance branch."""

    def __init__(self, trace, image: int = 0):
        plan = trace.metadata.get("atlas")
        if plan is None:
            raise ValueError("this trace has no attention atlas; run with capture_attention="
                             "AttentionCapture() (every layer, step and token) or a selection")
        batch = len(trace.tokens)
        if not 0 <= image < batch:
            raise ValueError(f"image={image} is out of range for a batch of {batch}")
        self.trace, self.image, self.plan = trace, image, plan
        self.layers: list[str] = list(plan["layers"])
        self.steps: list[int] = list(plan["steps"])
        self.positions: list[int] = list(plan["tokens"])
        self.branches: list[str] = list(plan["branches"])
        self.tokens = trace.tokens[image]
        self.latent_grid = tuple(np.asarray(trace.initial_noise).shape[1:3])

    # -- lookups -----------------------------------------------------------------------------

    @property
    def words(self) -> list[str]:
        """The prompt's pieces, start and end tokens included (positions 0..n_real-1)."""
        return list(self.tokens.pieces[: self.tokens.n_real])

    @property
    def negative_words(self) -> list[str]:
        """The negative prompt's pieces (what the c_∅ branch reads; "" gives start, end)."""
        negative = self._negative()
        return list(negative.pieces[: negative.n_real])

    def position(self, which, branch: str = "cond") -> int:
        """A token position from an int, ``"<start>"``, ``"<end>"`` or a word: of the prompt
        (``branch="cond"``) or of the negative prompt (``"uncond"``)."""
        return token_position(self.tokens if branch == "cond" else self._negative(), which)

    def label(self, which, branch: str = "cond") -> str:
        k = self.position(which, branch)
        tokens = self.tokens if branch == "cond" else self._negative()
        if k == 0:
            return START
        if k >= tokens.n_real - 1:
            return END if k == tokens.n_real - 1 else f"<pad {k}>"
        return tokens.pieces[k]

    def grid(self, layer: str) -> tuple[int, int]:
        return tuple(self._raw(self._layer(layer), self.steps[0]).shape[-2:])

    def layer_label(self, layer: str) -> str:
        """``"up 8x8 #1"``: part, grid and index, from the layer's name."""
        name = self._layer(layer)
        part = "mid" if name.startswith("mid") else name[:name.index("_")].rstrip("0123456789")
        h, w = self.grid(name)
        index = name.split("_")[-1] if part != "mid" else ""
        return f"{part} {h}x{w}" + (f" #{index}" if index else "")

    def map(self, which, layer: str, step: int, branch: str = "cond", head: int | None = None):
        """77·A of one token at one layer and step: float32 ``[h_l, w_l]`` (the mean over heads,
        or one ``head`` when the atlas kept them)."""
        self._branch(branch)
        k = self._token_index(which, branch)
        values = self._raw(self._layer(layer), self._step(step), branch)     # [(H,) T, h, w]
        if values.ndim == 4:                                                # every head kept
            values = values.mean(axis=0) if head is None else values[self._head(values, head)]
        elif head is not None:
            raise ValueError("this atlas kept the mean over heads; capture with "
                             "AttentionCapture(heads=True) to look at one head")
        return values[k].astype(np.float32) * TOKENS

    def default(self) -> tuple[list[str], list[int]]:
        """The word maps' default (layers, steps), as ``AttentionMaps``': the run's preset
        choice (tiny-shapes: the finest grid's layers, the second half of the steps), within
        what was recorded; every recorded layer and step where the preset has none."""
        choice = self.trace.metadata.get("word_maps") or {}
        layers, steps = list(self.layers), list(self.steps)
        if finest_only(choice):
            layers = [x for x in layers if self.grid(x) == self.latent_grid] or layers
        chosen = default_steps(choice, len(self.trace.steps))
        if chosen is not None:
            steps = [s for s in steps if s in chosen] or steps
        return layers, steps

    def word_map(self, which, layers=None, steps=None, branch: str = "cond") -> np.ndarray:
        """77·A of one token averaged over ``layers`` and ``steps`` (None: the word maps'
        default, ``default()``; ``"all"``: every recorded one), each layer's map first resized
        (bilinear) to the latent grid: float32 ``[h, w]``."""
        d_layers, d_steps = self.default()
        layers = d_layers if layers is None else self.layers if layers == "all" else \
            [self._layer(x) for x in layers]
        steps = d_steps if steps is None else self.steps if steps == "all" else \
            [self._step(s) for s in steps]
        total = np.zeros(self.latent_grid, np.float64)
        for layer in layers:
            per_layer = np.mean([self.map(which, layer, s, branch) for s in steps], axis=0)
            total += AttentionMaps.upsampled(per_layer, self.latent_grid)
        return (total / len(layers)).astype(np.float32)

    def shares(self, layer: str, step: int, branch: str = "cond") -> np.ndarray:
        """Each recorded position's share of this layer's attention at this step (mean over
        pixels): float64 ``[T]``; over all 77 positions the shares sum to 1."""
        values = self._raw(self._layer(layer), self._step(step), branch).astype(np.float64)
        if values.ndim == 4:
            values = values.mean(axis=0)
        return values.mean(axis=(1, 2))

    def stack(self, which, branch: str = "cond") -> np.ndarray:
        """One token over every layer and step, each resized to the latent grid:
        float32 ``[layers, steps, h, w]`` of 77·A."""
        return np.stack([[AttentionMaps.upsampled(self.map(which, layer, s, branch),
                                                  self.latent_grid) for s in self.steps]
                         for layer in self.layers])

    # -- checks ------------------------------------------------------------------------------

    def _raw(self, layer: str, step: int, branch: str = "cond") -> np.ndarray:
        self._branch(branch)
        values = self.trace[f"steps.{step}.atlas.{layer}"]           # [nb, B, (H,) T, h, w]
        return values[self.branches.index(branch), self.image]

    def _branch(self, branch: str) -> None:
        if branch not in self.branches:
            raise ValueError(f"branch={branch!r} was not recorded; this atlas has "
                             f"{self.branches} ('uncond': the negative prompt's half of the "
                             "guidance batch, 'cond': the prompt's)")

    def _layer(self, layer: str) -> str:
        if layer not in self.layers:
            raise ValueError(f"no layer {layer!r} in this atlas; it has {self.layers}")
        return layer

    def _step(self, step) -> int:
        n = len(self.trace.steps)
        if not isinstance(step, (int, np.integer)) or not -n <= step < n:
            raise ValueError(f"step={step!r} is not a step of this run (0..{n - 1})")
        step = int(step) % n
        if step not in self.steps:
            raise ValueError(f"step {step} was not recorded; the atlas has steps {self.steps}")
        return step

    def _negative(self):
        from types import SimpleNamespace

        entry = self.plan["negative_tokens"][self.image]
        pieces = list(entry["pieces"]) + [entry["pieces"][-1]] * (TOKENS - entry["n_real"])
        return SimpleNamespace(pieces=pieces, n_real=entry["n_real"], ids=pieces,
                               prompt=" ".join(entry["pieces"][1:-1]))

    def _token_index(self, which, branch: str = "cond") -> int:
        k = self.position(which, branch)
        if k not in self.positions:
            raise ValueError(f"token position {k} ({which!r}) was not recorded; the atlas has "
                             f"positions {self.positions}")
        return self.positions.index(k)

    @staticmethod
    def _head(values, head) -> int:
        if not isinstance(head, (int, np.integer)) or not 0 <= head < values.shape[0]:
            raise ValueError(f"head={head!r} is out of range 0..{values.shape[0] - 1}")
        return int(head)
