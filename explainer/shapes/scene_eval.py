"""How well does a shapes model follow captions of scenes, and what does it choose itself?

The measures of tiny-shapes 2 beyond one fully described shape (``evaluate.py``):

- **two shapes, everything stated**: each shape's four attributes, both shapes right, and
  binding swaps (the right colours on the wrong shapes), scored by ``scene_scorer``;
- **what the caption leaves open**: for a prompt such as "a circle", the attributes measured
  over many seeds: which colours and positions appear and how often (the seed decides);
- **guidance**: for prompts that leave attributes open, *adherence* (the stated attributes
  right) and *variety* (the normalised entropy of each open attribute over the seeds: 1 when
  every value is equally common, 0 when one value always wins) at several scales;
- **attention on two objects**: each shape word's map (lesson 11's: summed over the steps,
  upsampled to the image) against the masks of its own shape and of the other one, with
  ``<start>`` and a padding position as controls. A map is compared with a mask through its
  top pixels, as many as the mask has (a small shape covers 3 % of the picture, a large one
  8-17 %; lesson 11's fixed top 20 % would favour the large one).

Every prompt is generated with 25 steps of the preset's scheduler, in batches, seeds fixed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from explainer.drawn.dataset import COLOURS, IMAGE_SIZE, POSITIONS, SHAPES, SIZES
from explainer.drawn.scene_scorer import regions, score_scene
from explainer.drawn.scenes import ATTRIBUTES, Phrase, Scene, SceneDataset, describe

VALUES = {"shape": SHAPES, "colour": tuple(COLOURS), "size": tuple(SIZES),
          "position": tuple(POSITIONS)}
# one-shape prompts that leave attributes open (the guidance table's rows)
OPEN_PHRASES = (Phrase(shape="circle"), Phrase(colour="red"), Phrase(shape="square", size="large"),
                Phrase(colour="blue", position="top"), Phrase(shape="triangle", colour="green"),
                Phrase(size="small", position="left"))


def generate(pipe, prompts: list[str], seeds: list[int], guidance: float, num_steps: int = 25,
             batch: int = 64, capture_attention: bool = False, scheduler=None):
    """Images (and traces when ``capture_attention``) for prompt k with seed k, in batches;
    ``scheduler`` (a name or a scheduler) as ``text_to_image`` takes it (None: the pipeline's)."""
    images, traces = [], []
    for k in range(0, len(prompts), batch):
        result = pipe.text_to_image(prompts[k: k + batch], seed=seeds[k: k + batch],
                                    num_steps=num_steps, guidance_scale=guidance,
                                    scheduler=scheduler,
                                    capture_attention=capture_attention,
                                    keep=("cross_attention",) if capture_attention else ())
        images.append(result.images)
        traces.append(result.trace)
    return np.concatenate(images), traces


def two_shape_scenes(n: int = 120, seed: int = 4000) -> list[Scene]:
    """``n`` two-shape scenes outside training's held-out pairs, from their own stream."""
    data, rng = SceneDataset(seed=seed, two_shapes=1.0), np.random.default_rng(seed)
    return [data.scene(rng) for _ in range(n)]


def two_shapes(pipe, scenes: list[Scene], guidance: float, seed: int = 5000) -> dict:
    """Everything stated: each shape's four attributes, both right, binding swaps."""
    phrases = [tuple(Phrase.of(a) for a in s.shapes) for s in scenes]
    images, _ = generate(pipe, [describe(p) for p in phrases],
                         [seed + k for k in range(len(scenes))], guidance)
    scores = [score_scene(im, p) for im, p in zip(images, phrases)]
    per_shape = [sc.phrase_right(k) for sc in scores for k in range(2)]
    bindable = [sc for sc in scores if sc.phrases[0].colour != sc.phrases[1].colour
                and sc.phrases[0].shape != sc.phrases[1].shape]
    return {"n": len(scenes), "count": float(np.mean([sc.count for sc in scores])),
            "shape_all_four": float(np.mean(per_shape)),
            "both": float(np.mean([sc.all for sc in scores])),
            **{name: float(np.mean([r[name] for sc in scores for r in sc.right]))
               for name in ATTRIBUTES},
            "binding_swaps": int(sum(sc.binding_swap for sc in bindable)),
            "bindable": len(bindable)}


def variety(values: list[str], attribute: str) -> float:
    """Normalised entropy of ``values`` over the attribute's possible values (0..1)."""
    counts = np.array([c for c in Counter(values).values()], float)
    if counts.sum() == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum() / math.log(len(VALUES[attribute])))


@dataclass(frozen=True)
class OpenResult:
    """One prompt over many seeds: what was asked, and what each image showed."""

    phrase: Phrase
    measured: tuple  # one Attributes (or None: no single shape found) per seed

    @property
    def adherence(self) -> float:
        """Fraction of images with exactly one shape showing every stated attribute."""
        return float(np.mean([m is not None and self.phrase.matches(m) for m in self.measured]))

    def counts(self, attribute: str) -> dict[str, int]:
        return dict(Counter(getattr(m, attribute) for m in self.measured if m is not None))

    @property
    def variety(self) -> float:
        """Mean normalised entropy of the attributes the prompt leaves open."""
        open_ = [n for n in ATTRIBUTES if n not in self.phrase.stated]
        return float(np.mean([variety([getattr(m, n) for m in self.measured if m is not None], n)
                              for n in open_]))


def open_attributes(pipe, phrases=OPEN_PHRASES, seeds=tuple(range(6000, 6024)),
                    guidance: float | None = None, num_steps: int = 25,
                    scheduler=None) -> list[OpenResult]:
    """Each one-shape prompt with every seed; what each image shows (``measured``)."""
    prompts = [describe([p]) for p in phrases for _ in seeds]
    images, _ = generate(pipe, prompts, list(seeds) * len(phrases),
                         pipe.default_guidance if guidance is None else guidance, num_steps,
                         scheduler=scheduler)
    out = []
    for k, phrase in enumerate(phrases):
        chunk = images[k * len(seeds): (k + 1) * len(seeds)]
        found = [score_scene(im, [phrase]) for im in chunk]
        out.append(OpenResult(phrase, tuple(f.measured[0] if f.count else None for f in found)))
    return out


def attention_two_objects(pipe, scenes: list[Scene], seed: int = 7000) -> dict:
    """Each shape word's map against its own shape's and the other shape's masks (the map's
    top pixels, as many as the mask's), where the generated image shows both shapes as asked
    (else the pair is not scored)."""
    from explainer.explore.attention_maps import AttentionMaps, iou

    scenes = [s for s in scenes if s.shapes[0].shape != s.shapes[1].shape]
    phrases = [tuple(Phrase.of(a) for a in s.shapes) for s in scenes]
    prompts = [describe(p) for p in phrases]
    images, traces = generate(pipe, prompts, [seed + k for k in range(len(scenes))],
                              pipe.default_guidance, batch=16, capture_attention=True)
    rows, skipped = [], 0
    for k, (image, ps) in enumerate(zip(images, phrases)):
        score = score_scene(image, ps)
        if not score.all:           # a word's own shape must be there to be compared with
            skipped += 1
            continue
        found = regions(image)
        masks = [found[j] for j in score.matched]
        maps = AttentionMaps(traces[k // 16], image=k % 16)
        def match(which, mask):  # IoU of the map's top |mask| pixels with the mask
            daam = maps.token(which, steps="all", level="all")  # summed, as the model card says
            values = AttentionMaps.upsampled(daam, IMAGE_SIZE)
            return iou(AttentionMaps.top_mask(values, mask.mean()), mask)

        for j, p in enumerate(ps):
            own, other = masks[j], masks[1 - j]
            rows.append({"own": match(p.shape, own), "other": match(p.shape, other),
                         **{name: max(match(which, own), match(which, other)) for name, which
                            in (("start", "<start>"), ("padding", maps.tokens.n_real + 5))}})
    own = np.array([r["own"] for r in rows])
    other = np.array([r["other"] for r in rows])
    return {"prompts": len(scenes), "scored_words": len(rows), "skipped_images": skipped,
            "own_iou": float(own.mean()), "other_iou": float(other.mean()),
            "own_beats_other": float(np.mean(own > other)),
            "start_iou": float(np.mean([r["start"] for r in rows])),
            "padding_iou": float(np.mean([r["padding"] for r in rows]))}



def evaluate_scenes(pipe, guidance_scales=(1.0, None, 4.0)) -> dict:
    """Every measure above, as plain numbers (``None`` in the scales: the preset's default,
    which must be among them: the seed-choice figures are its images of two open prompts)."""
    default = float(pipe.default_guidance)
    scales = [default if s is None else float(s) for s in guidance_scales]
    out = {"two_shapes": two_shapes(pipe, two_shape_scenes(), default), "guidance": {}}
    for s in scales:
        results = {r.phrase: r for r in open_attributes(pipe, guidance=s)}
        out["guidance"][str(s)] = {describe([p]): {"adherence": r.adherence, "variety": r.variety}
                                   for p, r in results.items()}
        if s == default:   # "a circle" and "a red shape" are two of OPEN_PHRASES
            circle, red = results[Phrase(shape="circle")], results[Phrase(colour="red")]
            out["seed_chooses"] = {
                "a circle": {n: circle.counts(n) for n in ("colour", "position")},
                "a red shape": {"shape": red.counts("shape")}, "seeds": len(circle.measured)}
    out["attention"] = attention_two_objects(pipe, two_shape_scenes(48, seed=4100))
    return out


def scene_tables(scores: dict) -> str:
    """Markdown tables of ``evaluate_scenes``' output."""
    two, seeds, att = scores["two_shapes"], scores["seed_chooses"], scores["attention"]
    lines = ["| two shapes, everything stated | value |", "|---|---|",
             f"| scenes | {two['n']} |", f"| right number of shapes | {two['count']:.1%} |",
             f"| each shape's four attributes | {two['shape_all_four']:.1%} |",
             f"| both shapes right | {two['both']:.1%} |",
             *[f"| {n} | {two[n]:.1%} |" for n in ATTRIBUTES],
             f"| colour-binding swaps | {two['binding_swaps']} of {two['bindable']} |", ""]
    circle = seeds["a circle"]
    lines += [f"What the seed chooses ({seeds['seeds']} seeds, default guidance):",
              f"- \"a circle\", colours: {_counts(circle['colour'])}",
              f"- \"a circle\", positions: {_counts(circle['position'])}",
              f"- \"a red shape\", shapes: {_counts(seeds['a red shape']['shape'])}", ""]
    scales = list(scores["guidance"])
    lines += ["| prompt | " + " | ".join(f"s = {float(s):g}: adherence / variety" for s in scales)
              + " |", "|---|" + "---|" * len(scales)]
    for prompt in scores["guidance"][scales[0]]:
        cells = [scores["guidance"][s][prompt] for s in scales]
        lines.append(f"| {prompt} | " + " | ".join(f"{c['adherence']:.0%} / {c['variety']:.2f}"
                                                   for c in cells) + " |")
    mean = lambda s, k: np.mean([c[k] for c in scores["guidance"][s].values()])  # noqa: E731
    lines.append("| **mean** | " + " | ".join(f"**{mean(s, 'adherence'):.0%} / "
                                             f"{mean(s, 'variety'):.2f}**" for s in scales) + " |")
    lines += ["", f"Attention, two shapes ({att['prompts']} prompts, {att['scored_words']} "
              f"shape words scored; {att['skipped_images']} images not both right, skipped):",
              f"- shape word vs its own shape: IoU {att['own_iou']:.2f}; vs the other shape: "
              f"{att['other_iou']:.2f}; own higher in {att['own_beats_other']:.0%}",
              f"- controls (best of the two shapes): <start> {att['start_iou']:.2f}, "
              f"padding {att['padding_iou']:.2f}"]
    return "\n".join(lines)


def _counts(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "-"
