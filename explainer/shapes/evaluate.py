"""How well does a shapes model follow its prompts? Scores generated images with the scorer.

    python -m explainer.shapes.evaluate [--weights DIR] [--out DIR] [--seeds 2] [--guidance 1 2 7.5]

Generates every attribute combination (180, held-out pairs included) from the canonical
template, ``--seeds`` images each, at several guidance scales (by default the model card's
seven, which include the preset's default guidance), 25 steps, the preset's scheduler;
prints a markdown table of accuracies and writes ``samples.png`` (a grid with the prompt under
each image) and ``scores.json`` to ``--out``. Then the scene measures (``scene_eval.py``: two
shapes, what the seed chooses, guidance against variety, attention on two objects), printed
and written to ``scenes.json``; ``--no-scenes`` skips them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from explainer.diffusion.guidance import check_guidance
from explainer.drawn.dataset import Attributes, all_attributes, caption
from explainer.drawn.scorer import score

GUIDANCE_SCALES = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5)   # the rows of MODEL_CARD.md's table


def subset(n: int = 24) -> list[Attributes]:
    """A fixed, spread-out subset of the combinations (CI re-scores these)."""
    combos = [a for a in all_attributes() if not a.held_out]
    return combos[:: max(len(combos) // n, 1)][:n]


def generate(pipe, attrs: list[Attributes], seeds: list[int], guidance: float, num_steps: int = 25,
             batch: int = 64, scheduler=None) -> np.ndarray:
    """Images for ``attrs`` x ``seeds`` (attribute-major), in batches."""
    from explainer.shapes import scene_eval

    prompts = [caption(a) for a in attrs for _ in seeds]
    seed_list = [s for _ in attrs for s in seeds]
    return scene_eval.generate(pipe, prompts, seed_list, guidance, num_steps, batch,
                               scheduler=scheduler)[0]


def evaluate(pipe, attrs: list[Attributes], seeds: list[int], scales=GUIDANCE_SCALES,
             num_steps: int = 25, scheduler=None) -> dict:
    """Accuracy per attribute per guidance scale, for seen and held-out combinations
    (``scheduler``: a name or a scheduler for every run; None: the pipeline's)."""
    out = {}
    for s in scales:
        images = generate(pipe, attrs, seeds, s, num_steps, scheduler=scheduler)
        asked = [a for a in attrs for _ in seeds]
        scores = [score(im, a) for im, a in zip(images, asked)]
        row = {}
        for group, keep in (("seen", lambda a: not a.held_out), ("held_out", lambda a: a.held_out)):
            picked = [sc for sc, a in zip(scores, asked) if keep(a)]
            if not picked:
                continue
            row[group] = {n: float(np.mean([getattr(sc, n) for sc in picked]))
                          for n in ("colour", "size", "shape", "position", "all")}
            row[group]["colour+shape"] = float(np.mean([sc.colour and sc.shape for sc in picked]))
            row[group]["n"] = len(picked)
        out[str(s)] = row
    return out


def table(scores: dict) -> str:
    """A markdown table of ``evaluate``'s output."""
    lines = ["| guidance | images | colour | size | shape | position | all four | held-out colour+shape |",
             "|---|---|---|---|---|---|---|---|"]
    for s, row in scores.items():
        seen, held = row["seen"], row.get("held_out", {})
        lines.append(f"| {float(s):g} | {seen['n']} + {held.get('n', 0)} | {seen['colour']:.1%} | "
                     f"{seen['size']:.1%} | {seen['shape']:.1%} | {seen['position']:.1%} | "
                     f"{seen['all']:.1%} | {held.get('colour+shape', float('nan')):.1%} |")
    return "\n".join(lines)


def sample_grid(images: np.ndarray, prompts: list[str], columns: int = 6):
    """A figure: images in a grid, each prompt (one attribute per line) under its image."""
    from explainer.viz import image_grid

    titles = [p.removeprefix("a ").replace(" on the ", "\n").replace(" at the ", "\n")
              .replace(" in the ", "\n") for p in prompts]
    return image_grid(images, titles, columns=columns, size=1.9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explainer.shapes.evaluate",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", help="a tiny-shapes folder (default: the shipped one)")
    parser.add_argument("--out", default="shapes-eval", help="where samples.png/scores.json go")
    parser.add_argument("--seeds", type=int, default=2, help="images per combination")
    parser.add_argument("--guidance", type=float, nargs="+", default=list(GUIDANCE_SCALES),
                        help="guidance scales to score (the preset's default is always added)")
    parser.add_argument("--no-scenes", action="store_true",
                        help="score one shape only (skip the scene measures)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds {args.seeds}: give 1 or more images per combination")
    for scale in args.guidance:
        try:
            check_guidance(scale)
        except ValueError as err:
            parser.error(f"--guidance {scale}: {err}")

    from explainer.diffusion.loading import load_pipeline

    pipe = load_pipeline("tiny-shapes", weights=args.weights)
    seeds = list(range(1000, 1000 + args.seeds))
    scales = sorted(set(args.guidance) | {float(pipe.default_guidance)})
    scores = evaluate(pipe, all_attributes(), seeds, scales=scales)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scores.json").write_text(json.dumps(scores, indent=2))
    grid_attrs = subset(24) + [a for a in all_attributes() if a.held_out][::6]
    images = generate(pipe, grid_attrs, [7], pipe.default_guidance)
    sample_grid(images, [caption(a) for a in grid_attrs]).savefig(out / "samples.png", dpi=80)
    print(table(scores))
    if not args.no_scenes:
        from explainer.shapes.scene_eval import evaluate_scenes, scene_tables

        scenes = evaluate_scenes(pipe)
        (out / "scenes.json").write_text(json.dumps(scenes, indent=2))
        print()
        print(scene_tables(scenes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
