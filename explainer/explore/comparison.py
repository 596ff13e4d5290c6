"""Comparison: keyword A/B. Two prompts, the same noise, and where their runs part ways.

``compare(pipe, "a large red circle on the left", "a large blue circle on the left", seed=3)``
runs both prompts from the same x_T (same seed, same scheduler, same guidance), so every
difference between the two traces comes from the words. It returns both traces and:

| attribute                | shape              | what it is                                    |
|--------------------------|--------------------|-----------------------------------------------|
| ``context_distance``     | [77]               | ‖c_a[k] − c_b[k]‖ per token position          |
| ``first_difference``     | int or None        | the first position whose token differs        |
| ``differences[name]``    | [steps, h, w, c]   | a − b per step, for latents_in, eps, pred_x0  |
| ``rms[name]``            | [steps]            | root-mean-square of that difference per step  |
| ``image_difference``     | [H, W, 3] int16    | final picture a − b                           |

CLIP is causal, so the context rows before the first changed token are identical and every row
from it on differs (the padding too). In the loop, the two runs start equal (x_T is shared),
their ε differ from step 0, and the latents drift apart as the steps accumulate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from explainer.diffusion.inputs import one_context, one_tokens

NAMES = ("latents_in", "eps", "pred_x0")


@dataclass
class Comparison:
    """Two runs of one seed with prompts ``a`` and ``b``; see the module table."""

    prompt_a: str
    prompt_b: str
    trace_a: object
    trace_b: object
    images: np.ndarray                          # [2, H, W, 3]: a, b
    context_distance: np.ndarray                # [77]
    first_difference: int | None
    differences: dict = field(default_factory=dict)   # name -> [steps, h, w, c]

    @property
    def rms(self) -> dict[str, np.ndarray]:
        """Per step, the root-mean-square of each difference: name -> ``[steps]``."""
        return {n: np.sqrt(np.mean(d.astype(np.float64) ** 2, axis=(1, 2, 3)))
                for n, d in self.differences.items()}

    @property
    def image_difference(self) -> np.ndarray:
        return self.images[0].astype(np.int16) - self.images[1].astype(np.int16)

    def table(self, every: int | None = None) -> str:
        """A plain-text summary: the context distance per word, then RMS differences per step."""
        tokens = self.trace_a.tokens[0]
        n_real = max(tokens.n_real, self.trace_b.tokens[0].n_real)
        rows = [f"A: {self.prompt_a!r}", f"B: {self.prompt_b!r}",
                f"first differing token position: {self.first_difference}",
                "context distance ‖c_A − c_B‖ per position: " + ", ".join(
                    f"{k}:{self.context_distance[k]:.2f}" for k in range(n_real))]
        n = len(self.trace_a.steps)
        every = every or max(1, n // 5)
        rms = self.rms
        rows.append(f"{'step':>4} {'t':>6} " + " ".join(f"{name:>11}" for name in rms))
        for i in list(range(0, n, every)) + ([n - 1] if (n - 1) % every else []):
            rows.append(f"{i:>4} {self.trace_a.steps[i].timestep:>6g} "
                        + " ".join(f"{rms[name][i]:>#11.2g}" for name in rms))
        return "\n".join(rows)


def per_token_distance(context_a, context_b) -> np.ndarray:
    """‖c_a[k] − c_b[k]‖₂ over the C channels, for each position k: float64 ``[77]``.

    Takes ``[77, C]`` contexts (or batches of one, ``[1, 77, C]``, as ``trace.context``).
    """
    a = one_context(context_a, "context_a")                                # [77, C]
    b = one_context(context_b, "context_b")                                # [77, C]
    if a.shape != b.shape:
        raise ValueError(f"context_a {a.shape} and context_b {b.shape} must have the same "
                         "shape; encode both prompts with the same text encoder")
    diff = a.astype(np.float64) - b.astype(np.float64)                     # [77, C]
    return np.sqrt(np.sum(diff * diff, axis=-1))                           # [77]


def first_difference(tokens_a, tokens_b) -> int | None:
    """The first position whose token ids differ (None when the two are the same)."""
    a, b = one_tokens(tokens_a, "tokens_a"), one_tokens(tokens_b, "tokens_b")
    for k, (i, j) in enumerate(zip(a.ids, b.ids)):
        if i != j:
            return k
    return None


def compare(pipe, prompt_a: str, prompt_b: str, seed: int = 0, **kwargs) -> Comparison:
    """Run ``prompt_a`` and ``prompt_b`` from the same seed (one batched run, so the two see
    exactly the same noise and scheduler) and measure where they differ. ``kwargs`` go to
    ``text_to_image`` (num_steps, guidance_scale, scheduler, capture_attention, ...)."""
    for name, prompt in (("prompt_a", prompt_a), ("prompt_b", prompt_b)):
        if not isinstance(prompt, str):
            raise TypeError(f"{name} must be one prompt (a str), got {type(prompt).__name__}")
    if "latents" in kwargs or "keep" in kwargs:
        raise ValueError("compare() draws the shared noise from seed= and keeps every tensor; "
                         "do not pass latents= or keep=")
    noise = pipe.initial_noise(seed, height=kwargs.get("height"), width=kwargs.get("width"))
    result = pipe.text_to_image([prompt_a, prompt_b], seed=[seed, seed],
                                latents=np.concatenate([noise, noise]), **kwargs)
    trace_a, trace_b = _split(result.trace, 0), _split(result.trace, 1)
    differences = {name: trace_a.stack(name)[:, 0] - trace_b.stack(name)[:, 0] for name in NAMES}
    return Comparison(prompt_a, prompt_b, trace_a, trace_b, np.asarray(result.images),
                      per_token_distance(trace_a.context, trace_b.context),
                      first_difference(trace_a.tokens[0], trace_b.tokens[0]), differences)


def _split(trace, k: int):
    """Image ``k`` of a batched trace as a trace of batch 1 (arrays are views, not copies)."""
    from explainer.diffusion.trace import RUN_TENSORS, StepRecord, Trace

    def one(x):
        return None if x is None else np.asarray(x)[k:k + 1]

    metadata = dict(trace.metadata)
    for key in ("prompts", "negative_prompts", "seeds"):
        if isinstance(metadata.get(key), list):
            metadata[key] = metadata[key][k:k + 1]
    steps = []
    for s in trace.steps:
        tensors = {name: one(v) for name, v in vars(s).items()
                   if name not in ("index", "timestep", "coefficients", "cross_attention_levels")}
        levels = {n: one(v) for n, v in (s.cross_attention_levels or {}).items()} or None
        steps.append(StepRecord(s.index, s.timestep, dict(s.coefficients), **tensors,
                                cross_attention_levels=levels))
    return Trace(metadata=metadata, tokens=trace.tokens[k:k + 1], steps=steps, keep=trace.keep,
                 **{name: one(getattr(trace, name)) for name in RUN_TENSORS})
