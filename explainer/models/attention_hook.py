"""The one documented way into the UNet's attention weights: read them, or change them.

Every attention layer of the UNet computes A = softmax(Q Kᵀ/√d) (attention.py). A hook sees
A at each layer, as the network runs, and returns the A the layer then uses:

    class Sharpen(AttentionHook):                  # any subclass; two methods to know
        key = ("sharpen",)                         # what it does to the program (hashable)
        def __call__(self, probs, site, inputs, tape):
            if site.kind != "cross":
                return probs                       # self-attention untouched
            tape[site.name] = ops.mean(probs, axis=1)   # keep something: comes back by name
            return probs * inputs["gain"]          # change A with a per-call input

    eps, tape = unet.graph("call_with_hook", hook=Sharpen())(latents, t, context,
                                                             {"gain": np.float32(1.2)})

| argument | what it is |
|---|---|
| ``probs`` | A of one layer: ``[2B, heads, N, M]`` in the pipeline's guidance batch (rows 0..B-1 read the unconditional context c_∅, rows B..2B-1 the prompt's c); N = the layer's latent pixels h_l·w_l, M = 77 tokens (cross) or N (self) |
| ``site`` | an ``AttentionSite``: where this layer is (its name, part, level, kind, heads) |
| ``inputs`` | the dict of arrays given to this call (per-step values: a mix weight, a token map) |
| ``tape`` | a dict; what the hook puts in it is returned next to ε, by key |

The hook runs *inside* the compiled program (a TensorFlow graph, JAX's jit, PyTorch op by
op), so it must use ``keras.ops`` only, and what it does may depend only on its ``key`` and on
``inputs``: the program is traced once per key and reused for every call with that key (a new
hook object with the same key runs the old program). Without a hook the UNet's ``call`` has
none of these ops and may use the fused attention kernel; with one, every UNet attention layer
computes A explicitly (the text encoder and the VAE never see a hook).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AttentionSite:
    """Where an attention layer sits in the UNet. Static: known before any input is seen.

    ``name`` is the spatial transformer's Keras name (``"down0_transformer_0"``,
    ``"mid_transformer"``, ``"up1_transformer_2"``), with ``"/block_k"`` added when the
    transformers are more than one block deep; ``part`` is "down", "mid" or "up"; ``level`` k
    is the resolution level (the layer's grid is the latent grid / 2^k); ``index`` the
    transformer's place within its part's level; ``kind`` "self" or "cross".
    """

    name: str
    part: str
    level: int
    index: int
    kind: str
    heads: int

    def grid(self, latent_height: int, latent_width: int) -> tuple[int, int]:
        """This layer's grid (h_l, w_l) for a latent of the given size (ceil division, as the
        stride-2 convolutions)."""
        return -(-latent_height // 2 ** self.level), -(-latent_width // 2 ** self.level)

    def label(self, latent_height: int | None = None, latent_width: int | None = None) -> str:
        """A short readable name: ``"down 8x8 #0"`` (with a latent size), else ``"down L0 #0"``."""
        if latent_height is None:
            where = f"L{self.level}"
        else:
            h, w = self.grid(latent_height, latent_width or latent_height)
            where = f"{h}x{w}"
        return f"{self.part} {where}" + ("" if self.part == "mid" else f" #{self.index}")


class AttentionHook:
    """Base class: sees A at every UNet attention layer and returns it, changed or not.

    Subclasses set ``key`` (hashable; everything that changes the traced program) and
    override ``__call__``. The base hook changes nothing and records nothing.
    """

    key: tuple = ()

    def wants(self, site: AttentionSite) -> bool:
        """Whether this hook sees ``site`` at all (a layer it skips keeps its fastest kernel;
        must depend only on ``key``). The base hook sees every layer."""
        return True

    def __call__(self, probs, site: AttentionSite, inputs: dict, tape: dict):
        return probs


class HookChain(AttentionHook):
    """Several hooks in order: each sees the A the previous one returned; one shared tape."""

    def __init__(self, *hooks: AttentionHook):
        self.hooks = tuple(h for h in hooks if h is not None)
        self.key = ("chain",) + tuple((type(h).__name__, h.key) for h in self.hooks)

    def wants(self, site):
        return any(hook.wants(site) for hook in self.hooks)

    def __call__(self, probs, site, inputs, tape):
        for k, hook in enumerate(self.hooks):
            if hook.wants(site):
                probs = hook(probs, site, inputs.get(f"hook{k}", {}), tape)
        return probs

    def chain_inputs(self, per_hook: list[dict]) -> dict:
        """The chain's inputs from each hook's own, in order: ``{"hook0": ..., "hook1": ...}``."""
        return {f"hook{k}": dict(v) for k, v in enumerate(per_hook)}


class HookCall:
    """One forward pass's view of a hook: the hook, this call's inputs and its tape."""

    def __init__(self, hook: AttentionHook, inputs: dict | None):
        self.hook, self.inputs, self.tape = hook, dict(inputs or {}), {}

    def wants(self, site: AttentionSite) -> bool:
        return site is not None and self.hook.wants(site)

    def __call__(self, probs, site: AttentionSite):
        return self.hook(probs, site, self.inputs, self.tape)
