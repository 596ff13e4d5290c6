"""Prompt-to-prompt (Hertz et al. 2022): edit a picture by editing its prompt, keeping the rest.

Two prompts from the same seed usually give two unrelated pictures: change "circle" to
"square" and the position, size, even colour may change too, because every step's noise
prediction depends on every word. Prompt-to-prompt keeps them by reusing the *source* run's
attention in the *target* run, through the UNet's attention hook (models/attention_hook.py):

- **cross-attention**: for the first τ_c of the steps, the target's maps are the source's
  maps, token by token (A_tgt[:, :, p, j] = Σ_i A_src[:, :, p, i] M[i, j], with M the
  alignment of the two prompts' tokens): where each word was read stays where it was read,
  only *what* is read (the values V, from the new words) changes;
- **self-attention**: for the first τ_s of the steps, at the coarse layers (grid at most a
  quarter of the latent's side, 16×16 for SD v1.5 as in the paper), the target's pixel-to-pixel
  maps are the source's: the layout is kept;
- **re-weighting**: one token's column of the target's cross-attention is multiplied by w
  (w > 1 reads the word more, w < 1 less), while the cross-attention is injected;
- **local blending** (the paper's local edits, its code's ``LocalBlend``): after every step
  the target's latents are the source's outside a mask, the pixels where the edited words
  (the source's and the target's) were read: their maps summed over the steps so far, at
  the layers of one grid (a quarter of the latent's side, at least 4: SD v1.5's 16×16, as
  the paper's code), resized to the latent grid, max-pooled 3×3 (on grids of 16 or more,
  as the paper's), scaled from their minimum to their maximum and cut at 0.3. (The paper's
  code scales from 0: SD's word maps are near 0 away from the object; tiny-shapes' coarse maps
  are not, and scaled from 0 their mask would cover the whole picture.) What the words
  do not name stays the source's, where it was.

The edits, by how the two prompts' tokens align (``align``):

| edit          | prompts                                   | M, α                                     |
|---------------|-------------------------------------------|------------------------------------------|
| word swap     | "a red circle" -> "a red square"          | equal tokens 1:1; a swapped word reads the source's word's maps (α = 1) |
| refinement    | "a circle" -> "a large circle"            | aligned tokens 1:1 (α = 1); an added word keeps its own maps (α = 0) |
| re-weighting  | the same prompt, ``weights={"red": 2}``   | identity; the equaliser scales the word's column |

Only the prompt's half of the guidance batch is edited (the unconditional half reads c_∅, as
in the paper). The source and target run together: one batch of 2n images, sources first.

| code name   | symbol | shape         | meaning                                          |
|-------------|--------|---------------|--------------------------------------------------|
| ``mapper``  | M      | [n, 77, 77]   | source token i -> target token j                 |
| ``alpha``   | α      | [n, 77]       | 1: the target token reads the source's map; 0: its own |
| ``equalizer``| e     | [n, 77]       | the re-weighting of each target token            |
| ``self_mix``|        | scalar        | 1 while the self-attention is injected, else 0   |
| ``blend``   |        | [2n, 77]      | the edited words' positions (local blending)     |
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np

from explainer.explore.attention_maps import AttentionMaps, token_position
from explainer.models.attention_hook import AttentionHook
from explainer.models.backend import ops

TOKENS = 77


def align(source_ids, target_ids) -> tuple[np.ndarray, np.ndarray]:
    """The alignment of two prompts' 77 token ids: ``(M [77, 77], α [77])``.

    Tokens that match (``difflib``'s equal blocks: the shared words, the start token, the
    padding) map one to one, α = 1; a replaced block (a swapped word, of any token length)
    maps each target token to the mean of the source block's tokens, α = 1; an inserted block
    (a word the source does not have) maps to nothing, α = 0: it keeps its own attention."""
    mapper, alpha = np.zeros((TOKENS, TOKENS), np.float32), np.zeros(TOKENS, np.float32)
    matcher = SequenceMatcher(None, list(source_ids), list(target_ids), autojunk=False)
    for op, i0, i1, j0, j1 in matcher.get_opcodes():
        if op == "equal":
            mapper[np.arange(i0, i1), np.arange(j0, j1)] = 1.0
            alpha[j0:j1] = 1.0
        elif op == "replace":
            mapper[i0:i1, j0:j1] = 1.0 / (i1 - i0)
            alpha[j0:j1] = 1.0
        # "insert": new target tokens, α = 0; "delete": source tokens nobody reads
    return mapper, alpha


class PromptToPrompt(AttentionHook):
    """The prompt-to-prompt edit as an attention hook for ``text_to_image(attention_hook=)``.

    Args:
        pipe: the pipeline (its tokenizer, its UNet's sites).
        sources, targets: n prompts each (a string for n = 1); run them as one batch
            ``sources + targets`` with the same seeds twice (``edit`` does).
        cross_steps: τ_c, the fraction of the steps in which the target reads the source's
            cross-attention maps.
        self_steps: τ_s, the fraction of the steps in which the coarse layers' self-attention
            is the source's.
        weights: ``{word: w}``, re-weighting of target words (while the cross maps are
            injected), in every target that has the word (each word must be in at least
            one); None: no re-weighting.
        self_max_grid: the finest grid whose self-attention is injected (default: a quarter
            of the latent's side, the paper's 16 for SD v1.5's 64).
        height: the image height, for the latent's side (default: the model's).
        local_blend: keep the source's latents outside the edited words' region: True (the
            words that differ; with ``weights``, the re-weighted ones), a pair ``(source
            word, target word)``, or False.
        blend_threshold: where the normalised map cuts the mask (the paper's code: 0.3).
    """

    def __init__(self, pipe, sources, targets, cross_steps: float = 0.8,
                 self_steps: float = 0.4, weights: dict | None = None,
                 self_max_grid: int | None = None, height: int | None = None,
                 local_blend=False, blend_threshold: float = 0.3):
        sources = [sources] if isinstance(sources, str) else list(sources)
        targets = [targets] if isinstance(targets, str) else list(targets)
        if len(sources) != len(targets) or not sources:
            raise ValueError(f"prompt-to-prompt pairs each source with a target: got "
                             f"{len(sources)} sources and {len(targets)} targets")
        for name, value in (("cross_steps", cross_steps), ("self_steps", self_steps)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value!r} must be a fraction of the steps in [0, 1]")
        self.sources, self.targets = sources, targets
        self.cross_steps, self.self_steps = float(cross_steps), float(self_steps)
        src_tokens, tgt_tokens = pipe.tokenize(sources), pipe.tokenize(targets)
        pairs = [align(s.ids, t.ids) for s, t in zip(src_tokens, tgt_tokens)]
        self.mapper = np.stack([m for m, _ in pairs])                      # [n, 77, 77]
        self.alpha = np.stack([a for _, a in pairs])                       # [n, 77]
        self.equalizer = np.ones((len(targets), TOKENS), np.float32)       # [n, 77]
        self.weights = dict(weights or {})
        for word, w in self.weights.items():
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0:
                raise ValueError(f"weights[{word!r}]={w!r} must be a number >= 0")
            found = 0
            for k, tokens in enumerate(tgt_tokens):   # every target that has the word
                with contextlib.suppress(ValueError):
                    self.equalizer[k, token_position(tokens, word)] = float(w)
                    found += 1
            if not found:
                raise ValueError(f"weights: {word!r} is in none of the targets {targets!r}; "
                                 "name a word of a target prompt")
        self.blend = self._blend_tokens(local_blend, src_tokens, tgt_tokens)  # [2n, 77] or None
        self.blend_threshold = float(blend_threshold)
        self._blend_sum = None
        latent = (height or pipe.default_size) // pipe.latent_factor
        blend_grid = max(latent // 4, min(4, latent))
        self.blend_levels = tuple(sorted({s.level for s in pipe.unet.sites()
                                          if -(-latent // 2 ** s.level) == blend_grid}))
        max_grid = latent // 4 if self_max_grid is None else int(self_max_grid)
        self.self_levels = tuple(sorted({s.level for s in pipe.unet.sites()
                                         if s.kind == "self" and
                                         -(-latent // 2 ** s.level) <= max_grid}))
        self.key = ("prompt-to-prompt", self.self_levels,
                    self.blend_levels if self.blend is not None else None)

    @property
    def kind(self) -> str:
        """"re-weighting", "refinement" (a target token with α = 0) or "word swap"."""
        if self.weights:
            return "re-weighting"
        return "refinement" if (self.alpha == 0).any() else "word swap"

    def wants(self, site) -> bool:
        return site.kind == "cross" or site.level in self.self_levels

    def inputs(self, step: int, num_steps: int) -> dict:
        """This step's arrays: α and the self mix switch off after τ_c and τ_s of the steps."""
        cross = step < self.cross_steps * num_steps
        out = {"mapper": self.mapper,
               "alpha": self.alpha * np.float32(cross),
               "equalizer": self.equalizer if cross else np.ones_like(self.equalizer),
               "self_mix": np.float32(step < self.self_steps * num_steps)}
        if self.blend is not None:
            out["blend"] = self.blend
        return out

    def after_step(self, step: int, num_steps: int, latents, tape):
        """Local blending: the targets' latents ``[n..2n)`` become the sources' outside the
        mask of the edited words (the pipeline calls this after every scheduler step)."""
        if self.blend is None:
            return latents
        n, h, w = latents.shape[0] // 2, latents.shape[1], latents.shape[2]
        maps = []
        for key, value in tape.items():
            if key.startswith("p2p.blend."):
                value = np.asarray(value, np.float32)                          # [2n, N]
                side = int(round(value.shape[1] ** 0.5))
                grid = value.reshape(2 * n, -(-h // (h // side)), -1)          # its own grid
                maps.append(np.stack([AttentionMaps.upsampled(m, (h, w)) for m in grid]))
        step_map = np.mean(maps, axis=0)                                       # [2n, h, w]
        self._blend_sum = step_map if step == 0 or self._blend_sum is None else \
            self._blend_sum + step_map
        mask = _max_pool3(self._blend_sum) if h >= 16 else self._blend_sum
        low = mask.min(axis=(1, 2), keepdims=True)
        mask = (mask - low) / np.maximum(mask.max(axis=(1, 2), keepdims=True) - low, 1e-12) > \
            self.blend_threshold
        mask = (mask[:n] | mask[n:])[..., None].astype(np.float32)           # source ∪ target
        source, target = latents[:n], latents[n:]
        return np.concatenate([source, source + mask * (target - source)])

    def __call__(self, probs, site, inputs, tape):
        n = ops.shape(probs)[0] // 4                       # rows: c_∅ src, c_∅ tgt, c src, c tgt
        kept, source, target = probs[: 3 * n], probs[2 * n: 3 * n], probs[3 * n:]
        if site.kind == "self":
            mix = ops.cast(inputs["self_mix"], probs.dtype)
            edited = mix * source + (1.0 - mix) * target                 # [n, heads, N, N]
        else:
            mapper = ops.cast(inputs["mapper"], probs.dtype)
            mapped = ops.einsum("bhpi,bij->bhpj", source, mapper)       # [n, heads, N, 77]
            alpha = ops.cast(inputs["alpha"], probs.dtype)[:, None, None, :]
            equalizer = ops.cast(inputs["equalizer"], probs.dtype)[:, None, None, :]
            edited = (alpha * mapped + (1.0 - alpha) * target) * equalizer
            if "blend" in inputs and site.level in self.blend_levels:
                used = ops.mean(ops.concatenate([source, edited], axis=0), axis=1)  # [2n, N, 77]
                words = ops.cast(inputs["blend"], used.dtype)[:, None, :]           # [2n, 1, 77]
                tape[f"p2p.blend.{site.name}"] = ops.sum(used * words, axis=-1)     # [2n, N]
        return ops.concatenate([kept, edited], axis=0)

    @staticmethod
    def _blend_tokens(local_blend, src_tokens, tgt_tokens):
        """[2n, 77]: 1 at each source's and target's edited words, or None (no blending)."""
        if local_blend is False or local_blend is None:
            return None
        rows = []
        for tokens_list, side in ((src_tokens, 0), (tgt_tokens, 1)):
            for k, tokens in enumerate(tokens_list):
                row = np.zeros(TOKENS, np.float32)
                if isinstance(local_blend, (tuple, list)):
                    row[token_position(tokens, local_blend[side])] = 1.0
                else:
                    other = (tgt_tokens if side == 0 else src_tokens)[k]
                    ids, other_ids = tokens.ids[: tokens.n_real], other.ids[: other.n_real]
                    matcher = SequenceMatcher(None, list(ids), list(other_ids), autojunk=False)
                    for op, i0, i1, _, _ in matcher.get_opcodes():
                        if op != "equal":
                            row[i0:i1] = 1.0
                if not row.any():
                    raise ValueError(f"local_blend: no edited word in {tokens.prompt!r}; name "
                                     "the words: local_blend=(source word, target word)")
                rows.append(row)
        return np.stack(rows)


def _max_pool3(values: np.ndarray) -> np.ndarray:
    """3×3 max-pooling with stride 1 and edge padding, per image: ``[B, h, w]``."""
    padded = np.pad(values, ((0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = values.shape[1:]
    return np.max([padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)], axis=0)


@dataclass
class Edit:
    """A prompt-to-prompt run: the sources' and targets' pictures (and the run's trace)."""

    sources: list[str]
    targets: list[str]
    source_images: np.ndarray       # [n, H, W, 3]
    target_images: np.ndarray       # [n, H, W, 3]
    trace: object
    hook: PromptToPrompt


def edit(pipe, sources, targets, seed=0, cross_steps: float = 0.8, self_steps: float = 0.4,
         weights: dict | None = None, latents=None, local_blend=False,
         self_max_grid: int | None = None, **run) -> Edit:
    """Generate ``sources`` and their edits ``targets`` from the same noise (``seed``: an int
    or one per pair; ``latents``: x_T for each pair, e.g. from ``ddim_invert``), the targets
    reading the sources' attention (``PromptToPrompt``'s options). ``run`` goes to
    ``text_to_image`` (num_steps, guidance_scale, scheduler, capture_attention, ...)."""
    from explainer.diffusion.inputs import check_seeds

    hook = PromptToPrompt(pipe, sources, targets, cross_steps, self_steps, weights,
                          self_max_grid=self_max_grid, height=run.get("height"),
                          local_blend=local_blend)
    n = len(hook.sources)
    seeds = check_seeds(seed, n)
    if latents is not None:
        latents = np.concatenate([np.asarray(latents, np.float32)] * 2)
    result = pipe.text_to_image(hook.sources + hook.targets, seed=seeds + seeds,
                                latents=latents, attention_hook=hook, **run)
    return Edit(hook.sources, hook.targets, result.images[:n], result.images[n:],
                result.trace, hook)
