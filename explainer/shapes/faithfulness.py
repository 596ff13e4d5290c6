"""How faithful is each layer's, each step's word map? Measured where the truth is known.

On tiny-shapes two-shape scenes (held-out seeds, every attribute stated, "a large red circle
on the left and a small blue square on the right"), each image is generated with an attention
atlas (every cross-attention layer and step, the prompt's branch). Where the scorer finds
both shapes as asked, each phrase's **shape word** and **colour word** is compared with its
own shape's true mask (the scorer's region): the map (77·A, resized bilinearly to the 64×64
picture) is cut at its top pixels, as many as the mask has, and scored by IoU. A map that
marks its own shape exactly scores 1; one that marks the other shape scores 0.

- ``per_cell``: the IoU of every (layer, step) map alone, ``[layers, steps]``;
- ``choices``: maps averaged over a set of layers and a window of steps (every layer and step
  is lesson 11's DAAM map, the "all-layer average");
- the best choice is picked on one half of the scenes (selection) and reported on the other
  (evaluation), so its advantage is not the luck of the pick.

    python -m explainer.shapes.faithfulness      # the figures for the shipped model
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from explainer.drawn.dataset import IMAGE_SIZE
from explainer.drawn.scene_scorer import regions, score_scene
from explainer.drawn.scenes import Phrase, Scene, describe
from explainer.explore.attention_maps import AttentionMaps, iou

WORDS = ("shape", "colour")


@dataclass
class Faithfulness:
    """IoU of word maps with their own shape's mask: per (layer, step), and per choice."""

    layers: list[str]
    layer_labels: list[str]
    steps: list[int]
    per_word: np.ndarray            # [words, layers, steps]: each map alone
    other: np.ndarray               # [words, layers, steps]: the same maps vs the other shape
    word_kinds: list[str]           # "shape" / "colour", one per word
    selection: np.ndarray           # [words] bool: the half the best choice is picked on
    choices: dict = field(default_factory=dict)   # name -> (layers, steps, [words] IoU)

    @property
    def per_cell(self) -> np.ndarray:
        """Mean IoU of each (layer, step) map alone, over every word: ``[layers, steps]``."""
        return self.per_word.mean(axis=0)

    def best_cell(self) -> tuple[int, int]:
        return tuple(int(k) for k in np.unravel_index(np.argmax(self.per_cell),
                                                      self.per_cell.shape))

    def best_choice(self) -> str:
        """The choice with the highest mean IoU on the selection half."""
        return max(self.choices, key=lambda k: self.choices[k][2][self.selection].mean())

    def score(self, name: str, half: str = "evaluation", kind: str | None = None) -> float:
        ious = self.choices[name][2]
        chosen = ~self.selection if half == "evaluation" else self.selection
        if kind is not None:
            chosen = chosen & (np.asarray(self.word_kinds) == kind)
        return float(ious[chosen].mean())

    def table(self, digits: int = 3) -> str:
        """The choices ranked on the selection half; ``digits`` per IoU (a lesson prints 2: a
        pixel at a map's cut moves the third digit between CPUs)."""
        d = digits
        best, base = self.best_choice(), "every layer, every step"
        n_sel, n_eval = int(self.selection.sum()), int((~self.selection).sum())
        rows = [f"word maps against their own shape's mask: IoU ({n_sel} words pick the "
                f"choice, {n_eval} others score it)",
                f"{'choice':<44} {'selection':>9} {'evaluation':>10} {'shape w.':>8} "
                f"{'colour w.':>9}"]
        ranked = sorted(self.choices, key=lambda k: -self.choices[k][2][self.selection].mean())
        for name in ranked[:8] + ([base] if base not in ranked[:8] else []):
            mark = "  <- best" if name == best else "  <- lesson 11 (DAAM)" if name == base else ""
            rows.append(f"{name:<44} {self.score(name, 'selection'):>9.{d}f} "
                        f"{self.score(name):>10.{d}f} {self.score(name, kind='shape'):>8.{d}f} "
                        f"{self.score(name, kind='colour'):>9.{d}f}{mark}")
        r, c = self.best_cell()
        rows.append(f"best single map: {self.layer_labels[r]} at step {self.steps[c]}: "
                    f"{self.per_cell[r, c]:.{d}f}")
        return "\n".join(rows)


def measure_faithfulness(pipe, scenes: list[Scene], seed: int = 7000, num_steps: int = 25,
                         batch: int = 16) -> Faithfulness:
    """Generate each scene's canonical caption with an atlas and score every word map."""
    from explainer.diffusion.attention_capture import AttentionCapture
    from explainer.explore.attention_atlas import AttentionAtlas

    scenes = [s for s in scenes if len(s.shapes) == 2]
    phrases = [tuple(Phrase.of(a) for a in s.shapes) for s in scenes]
    prompts = [describe(p) for p in phrases]
    capture = AttentionCapture(branches=("cond",))
    maps, own_masks, other_masks, kinds, atlas = [], [], [], [], None
    for start in range(0, len(prompts), batch):
        result = pipe.text_to_image(prompts[start:start + batch],
                                    seed=[seed + k for k in range(start, start + len(
                                        prompts[start:start + batch]))],
                                    num_steps=num_steps, capture_attention=capture,
                                    keep=("atlas",))
        for k, image in enumerate(result.images):
            ps = phrases[start + k]
            score = score_scene(image, ps)
            if not score.all:
                continue
            found = regions(image)
            masks = [found[j] for j in score.matched]
            atlas = AttentionAtlas(result.trace, image=k)
            for j in range(2):
                for kind in WORDS:
                    maps.append(atlas.stack(_position(atlas, ps, j, kind)))  # [L, S, h, w]
                    own_masks.append(masks[j])
                    other_masks.append(masks[1 - j])
                    kinds.append(kind)
    if atlas is None:
        raise ValueError("no image showed both shapes as asked; nothing to measure")
    maps = np.asarray(maps)                                                   # [W, L, S, h, w]
    per_word = np.stack([_ious(m, mask) for m, mask in zip(maps, own_masks)])  # [W, L, S]
    other = np.stack([_ious(m, mask) for m, mask in zip(maps, other_masks)])
    # the selection half: every other prompt's words (a prompt's words stay together)
    selection = (np.arange(len(kinds)) // (2 * len(WORDS))) % 2 == 0
    labels = [atlas.layer_label(x) for x in atlas.layers]
    out = Faithfulness(atlas.layers, labels, atlas.steps, per_word, other, kinds, selection)
    for name, layer_set, step_set in candidate_choices(labels, len(atlas.steps)):
        chosen = maps[:, layer_set][:, :, step_set].mean(axis=(1, 2))           # [W, h, w]
        out.choices[name] = (layer_set, step_set, np.array(
            [_ious(m[None, None], mask)[0, 0] for m, mask in zip(chosen, own_masks)]))
    return out


def candidate_choices(labels: list[str], n_steps: int) -> list[tuple[str, list, list]]:
    """(name, layer indices, step indices): every layer alone, every grid (all its layers),
    each part (down, mid, up), all layers; times step windows (all, the first third, half,
    two thirds, the middle third, the last half)."""
    grids = {}
    for k, label in enumerate(labels):
        grids.setdefault(label.split()[1], []).append(k)
    parts = {}
    for k, label in enumerate(labels):
        parts.setdefault(label.split()[0], []).append(k)
    layer_sets = [("every layer", list(range(len(labels))))]
    layer_sets += [(f"{grid} layers", ks) for grid, ks in grids.items() if len(ks) > 1]
    layer_sets += [(f"{part} layers", ks) for part, ks in parts.items() if len(ks) > 1]
    layer_sets += [(label, [k]) for k, label in enumerate(labels)]
    third, half = max(1, n_steps // 3), max(1, n_steps // 2)
    windows = [("every step", list(range(n_steps))),
               (f"steps 0-{third - 1}", list(range(third))),
               (f"steps 0-{half - 1}", list(range(half))),
               (f"steps 0-{2 * third - 1}", list(range(2 * third))),
               (f"steps {third}-{2 * third - 1}", list(range(third, 2 * third))),
               (f"steps {half}-{n_steps - 1}", list(range(half, n_steps)))]
    return [(f"{ln}, {wn}", ls, ws) for ln, ls in layer_sets for wn, ws in windows]


def _position(atlas, phrases, j: int, kind: str) -> int:
    """The position of phrase ``j``'s shape or colour word (phrase 1's words come after "and")."""
    word = getattr(phrases[j], kind)
    pieces = [p.rstrip("@").lower() for p in atlas.words]
    start = pieces.index("and") + 1 if j == 1 else 1
    return pieces.index(word, start)


def _ious(stack: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """IoU of each map in ``stack`` ``[L, S, h, w]`` (its top |mask| pixels) with ``mask``."""
    share = mask.mean()
    return np.array([[iou(AttentionMaps.top_mask(AttentionMaps.upsampled(m, IMAGE_SIZE), share),
                          mask) for m in row] for row in stack])


def main(argv=None) -> int:
    import argparse

    import explainer
    from explainer.shapes.scene_eval import two_shape_scenes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=240)
    parser.add_argument("--seed", type=int, default=7000)
    parser.add_argument("--save", default=None, help="write the measured arrays (.npz)")
    args = parser.parse_args(argv)
    pipe = explainer.load_pipeline()
    result = measure_faithfulness(pipe, two_shape_scenes(args.scenes), seed=args.seed)
    print(result.table())
    if args.save:
        np.savez_compressed(args.save, per_word=result.per_word, other=result.other,
                            kinds=np.array(result.word_kinds), selection=result.selection)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
