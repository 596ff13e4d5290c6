"""The Trace: every tensor of one run, by name, so a lesson can replay, plot and animate it.

Notation (one table for the whole package; the schedulers' files add their own symbols):

| name in the trace      | symbol             | shape               | what it is                        |
|------------------------|--------------------|---------------------|-----------------------------------|
| ``tokens``             |                    | B x Tokens          | the prompts' 77 ids and pieces    |
| ``context``            | c                  | [B, 77, C]          | text encoder output for the prompt |
| ``uncond_context``     | c_∅                | [B, 77, C]          | same for "" or the negative prompt |
| ``initial_noise``      | x_T (unit variance) | [B, h, w, 4]       | the seed's noise, before init σ   |
| ``steps.i.timestep``   | t                  | int                 | the UNet's timestep at step i     |
| ``steps.i.coefficients``| ᾱ_t, σ_t, ...     | dict of floats      | what the scheduler used           |
| ``steps.i.latents_in`` | x_t                | [B, h, w, 4]        | latents entering step i           |
| ``steps.i.eps_uncond`` | ε_θ(x_t, c_∅)      | [B, h, w, 4]        | noise predicted without the prompt |
| ``steps.i.eps_text``   | ε_θ(x_t, c)        | [B, h, w, 4]        | noise predicted with the prompt   |
| ``steps.i.eps``        | ε̃                 | [B, h, w, 4]        | guided noise (guidance.py)        |
| ``steps.i.pred_x0``    | x̂_0               | [B, h, w, 4]        | the clean latent predicted at step i |
| ``steps.i.latents_out``| x_{t-1}            | [B, h, w, 4]        | latents leaving step i            |
| ``steps.i.cross_attention`` | Σ_layers mean_heads A | [B, 77, h, w] | optional: which token each latent |
|                        |                    |                     | pixel read (attention_maps.py)    |
| ``steps.i.cross_attention_levels.RxR`` | same, one level | [B, 77, h, w] | per resolution level  |
| ``steps.i.atlas.<layer>`` | A, one layer      | [2, B, T, h_l, w_l] | optional, float16: an attention   |
|                        |                    |                     | atlas (attention_capture.py)      |
| ``final_latents``      | x_0                | [B, h, w, 4]        | latents after the last step       |
| ``images``             |                    | [B, H, W, 3] uint8  | the decoded pictures              |
| ``previews.<row>``     | VAE(x_t), VAE(x̂_0) | [steps, H, W, 3] uint8 | optional: image 0's per-step    |
|                        |                    |                     | tensor ``<row>`` decoded (reports) |

``keep=`` bounds memory: a tuple of the per-step names to record (``keep=()`` records only the
timesteps and coefficients, ``keep=None`` everything). The cross-attention maps exist only when
a run captured them (``capture_attention=True``); they are kept under ``keep=None`` or when keep
names ``"cross_attention"`` (the total) or ``"cross_attention_levels"``; an atlas
(``capture_attention=AttentionCapture(...)``) under ``keep=None`` or a keep with ``"atlas"``,
at the steps it selected.
``trace["steps.12.eps_text"]`` looks a
tensor up by name; ``trace.names()`` lists them all.

``previews`` (optional, empty by default) maps a per-step tensor name (``"latents_in"``,
``"pred_x0"``) to its pictures for image 0, one per step, decoded by the real VAE when the run
happened (``explainer explain`` fills it). A saved trace carries them as ``previews.<row>``, so
a report can be rebuilt from the file alone, without any model; traces without them load too.

What recording costs on a GPU (on paper; no GPU was available to measure it). In this loop
every recorded tensor is already on the host, because the schedulers are numpy (every
coefficient visible to the learner): after each UNet call ε for both halves of the guidance
batch comes down (128 KB for SD v1.5 at batch 1) and x_{t-1} goes back up (64 KB), ~20 µs at
10 GB/s, plus the device idling during the numpy step (~0.1 ms), against a UNet step of ~50 ms
on a recent GPU in float16 (< 0.5 %). Recording adds no device traffic, only host memory;
captured attention maps add a copy of 6.3 MB a step (~0.6 ms, ~1 %). A loop that kept the
scheduler on the device could hand the trace device tensors instead: every accessor goes
through ``_host``, so they would be converted on access or all at once at the end
(``Trace.materialize``). On this CPU, ``bench/trace.py`` measures the whole trace against
``keep=()`` (goal <= 3 %).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

STEP_TENSORS = ("latents_in", "eps_uncond", "eps_text", "eps", "pred_x0", "latents_out")
ATTENTION_TENSORS = ("cross_attention", "cross_attention_levels", "atlas")  # when captured
RUN_TENSORS = ("context", "uncond_context", "initial_noise", "final_latents", "images")


def _host(x):
    """A device tensor (or anything array-like) as a numpy array; numpy passes through."""
    return None if x is None else np.asarray(x)


@dataclass
class StepRecord:
    """One denoising step. Tensor fields are None when ``keep`` left them out."""

    index: int
    timestep: int | float  # float for σ-space schedulers' fractional timesteps (e.g. 832.5)
    coefficients: dict[str, float] = field(default_factory=dict)
    latents_in: Any = None
    eps_uncond: Any = None
    eps_text: Any = None
    eps: Any = None
    pred_x0: Any = None
    latents_out: Any = None
    cross_attention: Any = None                  # [B, 77, h, w] when captured
    cross_attention_levels: dict | None = None   # "RxR" -> [B, 77, h, w] when captured
    atlas: dict | None = None                    # layer -> [2, B, T, h_l, w_l] float16

    def tensors(self) -> dict[str, np.ndarray]:
        """The latent-shaped tensors ``[B, h, w, 4]`` that were kept, by name."""
        return {k: _host(getattr(self, k)) for k in STEP_TENSORS if getattr(self, k) is not None}

    def attention(self) -> dict[str, np.ndarray]:
        """The cross-attention maps that were kept, by trace name (``"cross_attention"``,
        ``"cross_attention_levels.8x8"``, ...); empty when the run did not capture them."""
        out = {} if self.cross_attention is None else {"cross_attention": _host(self.cross_attention)}
        out.update({f"cross_attention_levels.{k}": _host(v)
                    for k, v in (self.cross_attention_levels or {}).items()})
        out.update({f"atlas.{k}": _host(v) for k, v in (self.atlas or {}).items()})
        return out


@dataclass
class Trace:
    """Everything one run computed; see the module docstring for the names."""

    metadata: dict[str, Any] = field(default_factory=dict)
    tokens: list = field(default_factory=list)
    context: Any = None
    uncond_context: Any = None
    initial_noise: Any = None
    steps: list[StepRecord] = field(default_factory=list)
    final_latents: Any = None
    images: Any = None
    keep: tuple[str, ...] | None = None
    previews: dict[str, np.ndarray] = field(default_factory=dict)  # row -> uint8 [steps, H, W, 3]

    def __post_init__(self):
        if self.keep is not None:
            self.keep = tuple(self.keep)
            unknown = sorted(set(self.keep) - set(STEP_TENSORS + ATTENTION_TENSORS))
            if unknown:
                raise ValueError(f"keep= names unknown step tensors {unknown}; choose from "
                                 f"{list(STEP_TENSORS + ATTENTION_TENSORS)} (or keep=None for "
                                 "all, () for none)")
        unknown = sorted(set(self.previews) - set(STEP_TENSORS))
        if unknown:
            raise ValueError(f"previews= names unknown step tensors {unknown}; use per-step "
                             f"names such as 'latents_in' or 'pred_x0'")

    # -- recording ---------------------------------------------------------------------------

    def record(self, index: int, timestep, latents_in, eps_uncond, eps_text, eps, out,
               attention=None, atlas=None) -> StepRecord:
        """Record one step; ``out`` is the scheduler's StepOutput (prev_sample, pred_x0, ...);
        ``attention`` is None or ``(total [B, 77, h, w], {"RxR": [B, 77, h, w]})``; ``atlas``
        None or ``{layer: [branches, B, (heads,) T, h_l, w_l]}`` (attention_capture.py)."""
        values = dict(latents_in=latents_in, eps_uncond=eps_uncond, eps_text=eps_text, eps=eps,
                      pred_x0=out.pred_x0, latents_out=out.prev_sample)
        if attention is not None:
            values.update(cross_attention=attention[0], cross_attention_levels=dict(attention[1]))
        if atlas is not None:
            values["atlas"] = dict(atlas)
        kept = {k: v for k, v in values.items() if self.keep is None or k in self.keep}
        record = StepRecord(index=int(index), timestep=np.asarray(timestep).item(),
                            coefficients={k: float(v) for k, v in out.coefficients.items()}, **kept)
        self.steps.append(record)
        return record

    def materialize(self) -> "Trace":
        """Convert every recorded tensor to numpy now (one batch at the end of a run)."""
        for name in RUN_TENSORS:
            setattr(self, name, _host(getattr(self, name)))
        for step in self.steps:
            for name in STEP_TENSORS + ("cross_attention",):
                setattr(step, name, _host(getattr(step, name)))
            if step.cross_attention_levels:
                step.cross_attention_levels = {k: _host(v) for k, v in
                                               step.cross_attention_levels.items()}
            if step.atlas:
                step.atlas = {k: _host(v) for k, v in step.atlas.items()}
        return self

    # -- looking things up -------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every tensor name in this trace, e.g. ``"steps.3.pred_x0"``."""
        out = [n for n in RUN_TENSORS if getattr(self, n) is not None]
        for step in self.steps:
            out += [f"steps.{step.index}.{k}" for k in STEP_TENSORS if getattr(step, k) is not None]
            out += [f"steps.{step.index}.{k}" for k in step.attention()]
        return out

    def __getitem__(self, name: str):
        parts = name.split(".")
        if parts[0] == "steps" and len(parts) == 3 and parts[1].lstrip("-").isdigit():
            step = self.steps[int(parts[1])]
            if parts[2] in STEP_TENSORS or parts[2] in ("timestep", "coefficients", "index"):
                value = getattr(step, parts[2])
                if value is None:
                    raise KeyError(f"{name} was not kept (keep={self.keep}); run again with "
                                   f"keep=None or a keep= that includes {parts[2]!r}")
                return _host(value) if parts[2] in STEP_TENSORS else value
            if parts[2] == "cross_attention":
                if step.cross_attention is None:
                    raise KeyError(f"{name}: this run has no cross-attention maps; run with "
                                   "capture_attention=True")
                return _host(step.cross_attention)
        elif (parts[0] == "steps" and len(parts) == 4 and parts[2] == "cross_attention_levels"
              and parts[1].lstrip("-").isdigit()):
            levels = self.steps[int(parts[1])].cross_attention_levels or {}
            if parts[3] in levels:
                return _host(levels[parts[3]])
            raise KeyError(f"{name}: no such level; this step has {sorted(levels)} (capture "
                           "them with capture_attention=True)")
        elif (parts[0] == "steps" and len(parts) == 4 and parts[2] == "atlas"
              and parts[1].lstrip("-").isdigit()):
            atlas = self.steps[int(parts[1])].atlas or {}
            if parts[3] in atlas:
                return _host(atlas[parts[3]])
            raise KeyError(f"{name}: no such layer at this step; it has {sorted(atlas)} (an "
                           "atlas is captured with capture_attention=AttentionCapture(...), at "
                           "the steps it selects)")
        elif len(parts) == 1 and parts[0] in RUN_TENSORS + ("tokens", "metadata"):
            value = getattr(self, parts[0])
            return _host(value) if parts[0] in RUN_TENSORS else value
        raise KeyError(f"no tensor named {name!r}; trace.names() lists them "
                       "(e.g. 'context', 'steps.0.eps_text')")

    def stack(self, name: str) -> np.ndarray:
        """One per-step tensor over all steps: ``stack("pred_x0")`` -> [steps, B, h, w, 4]."""
        return np.stack([self[f"steps.{k}.{name}"] for k in range(len(self.steps))])

    @property
    def timesteps(self) -> np.ndarray:
        return np.array([s.timestep for s in self.steps])

    @property
    def nbytes(self) -> int:
        """Bytes held by the trace's tensors (what ``keep=`` bounds)."""
        total = sum(_host(getattr(self, n)).nbytes for n in RUN_TENSORS if getattr(self, n) is not None)
        return total + sum(t.nbytes for s in self.steps
                           for t in (*s.tensors().values(), *s.attention().values()))

    # -- save / load -------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write one ``.npz``: every tensor plus a JSON string of metadata, tokens and steps."""
        path = Path(path)
        arrays = {n: _host(getattr(self, n)) for n in RUN_TENSORS if getattr(self, n) is not None}
        for step in self.steps:
            arrays.update({f"steps.{step.index}.{k}": v for k, v in step.tensors().items()})
            arrays.update({f"steps.{step.index}.{k}": v for k, v in step.attention().items()})
        header = {
            "format": "explainer-trace/1",
            "metadata": self.metadata,
            "keep": list(self.keep) if self.keep is not None else None,
            "tokens": [{f.name: getattr(t, f.name) for f in fields(t)} for t in self.tokens],
            "steps": [{"index": s.index, "timestep": s.timestep, "coefficients": s.coefficients}
                      for s in self.steps],
        }
        arrays.update({f"previews.{row}": np.asarray(v, np.uint8)
                       for row, v in self.previews.items()})
        arrays["__header__"] = np.array(json.dumps(header))
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:  # a file handle: np.savez would append .npz to the name
            np.savez_compressed(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Trace":
        """Read a trace written by ``save`` (no pickle: plain arrays and JSON only)."""
        from explainer.tokenizer import Tokens

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"trace file {path} not found")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            header = json.loads(str(arrays.pop("__header__")))
        except (ValueError, KeyError, OSError) as err:
            raise ValueError(f"{path} is not a trace saved by explainer ({err})") from err
        if header.get("format") != "explainer-trace/1":
            raise ValueError(f"{path}: unknown trace format {header.get('format')!r}")
        tokens = [Tokens(t["prompt"], tuple(t["ids"]), tuple(t["pieces"]), t["n_real"],
                         tuple(t["truncated"])) for t in header["tokens"]]
        steps = []
        for s in header["steps"]:
            prefix = f"steps.{s['index']}."
            tensors = {k: arrays.get(prefix + k) for k in STEP_TENSORS + ("cross_attention",)}
            levels = {k[len(prefix + "cross_attention_levels."):]: v for k, v in arrays.items()
                      if k.startswith(prefix + "cross_attention_levels.")}
            atlas = {k[len(prefix + "atlas."):]: v for k, v in arrays.items()
                     if k.startswith(prefix + "atlas.")}
            steps.append(StepRecord(s["index"], s["timestep"], s["coefficients"], **tensors,
                                    cross_attention_levels=levels or None, atlas=atlas or None))
        keep = tuple(header["keep"]) if header["keep"] is not None else None
        previews = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("previews.")}
        return cls(metadata=header["metadata"], tokens=tokens, steps=steps, keep=keep,
                   previews=previews, **{n: arrays.get(n) for n in RUN_TENSORS})
