"""Does prompt-to-prompt edit what it should and keep the rest? Measured on tiny-shapes.

- **word swap** of the shape word in prompts that leave position and size open ("a red
  circle" -> "a red square"), same seed: the target keeps the source's position and size
  (the scorer's, one shape in each picture) and draws the new shape; the same rates for the
  target prompt run alone from the same seed (no prompt-to-prompt), and with local blending;
- **re-weighting** the colour word, w from 0.5 to 2 (and 0, the word not read at all): the
  colour adherence of the target, one point per weight;
- **DDIM inversion** of drawn shapes (50 steps, the prompt naming size, colour and shape but
  not the position): the reconstruction's error next to the VAE's round trip, then an edit of
  the colour word from the inverted x_T, with and without prompt-to-prompt: the new colour
  drawn, the position kept.

    python -m explainer.shapes.editing_eval         # the figures for the shipped model
    python -m explainer.shapes.editing_eval --save-images edit.npz   # for a backend comparison
"""

from __future__ import annotations

import numpy as np

from explainer.drawn.dataset import COLOURS, SHAPES
from explainer.drawn.scene_scorer import score_scene
from explainer.drawn.scenes import Phrase

WEIGHTS = (0.0, 0.5, 0.75, 1.0, 1.5, 2.0)


def swap_pairs(n: int = 60) -> list[tuple[str, str, str]]:
    """(source, target, new shape): every colour with every shape, swapped for each other."""
    colours = list(COLOURS)
    return [(f"a {colours[k % 6]} {SHAPES[(k // 6) % 3]}",
             f"a {colours[k % 6]} {SHAPES[((k // 6) + 1 + (k // 18) % 2) % 3]}",
             SHAPES[((k // 6) + 1 + (k // 18) % 2) % 3]) for k in range(n)]


def _one(image):
    found = score_scene(image, (Phrase(),)).found
    return found[0] if len(found) == 1 else None


def swap_rates(sources, targets, new_shapes) -> dict:
    """Of the pairs: position kept, size kept, both kept, the new shape drawn."""
    rows = []
    for a, b, shape in zip(sources, targets, new_shapes):
        fa, fb = _one(a), _one(b)
        same = fa is not None and fb is not None
        rows.append((same and fa.position == fb.position, same and fa.size == fb.size,
                     fb is not None and fb.shape == shape))
    rows = np.asarray(rows, bool)
    return {"position": float(rows[:, 0].mean()), "size": float(rows[:, 1].mean()),
            "kept": float((rows[:, 0] & rows[:, 1]).mean()), "new": float(rows[:, 2].mean()),
            "pairs": len(rows)}


def word_swap(pipe, n: int = 60, seed: int = 9200, batch: int = 30) -> dict:
    """The swap rates without prompt-to-prompt, with it, and with it and local blending."""
    from explainer.explore.prompt_to_prompt import edit

    pairs = swap_pairs(n)
    seeds = [seed + k for k in range(n)]
    out = {}
    for label, options in (("without", None), ("prompt-to-prompt", {}),
                           ("with local blending", {"local_blend": True})):
        sources, targets = [], []
        for k in range(0, n, batch):
            chunk, chunk_seeds = pairs[k:k + batch], seeds[k:k + batch]
            if options is None:  # the target prompt alone, from the source's seed
                sources.append(pipe.text_to_image([p[0] for p in chunk], seed=chunk_seeds).images)
                targets.append(pipe.text_to_image([p[1] for p in chunk], seed=chunk_seeds).images)
            else:
                result = edit(pipe, [p[0] for p in chunk], [p[1] for p in chunk],
                              seed=chunk_seeds, **options)
                sources.append(result.source_images)
                targets.append(result.target_images)
        out[label] = swap_rates(np.concatenate(sources), np.concatenate(targets),
                                [p[2] for p in pairs])
    return out


def reweighting(pipe, weights=WEIGHTS, per_colour: int = 6, seed: int = 9300) -> dict:
    """Colour adherence of "a {colour} {shape}" with the colour word re-weighted by w."""
    from explainer.explore.prompt_to_prompt import edit

    curve = {}
    for w in weights:
        right = total = 0
        for c, colour in enumerate(COLOURS):
            prompts = [f"a {colour} {SHAPES[k % 3]}" for k in range(per_colour)]
            seeds = [seed + c * per_colour + k for k in range(per_colour)]
            result = edit(pipe, prompts, prompts, seed=seeds, weights={colour: w})
            for image, prompt in zip(result.target_images, prompts):
                score = score_scene(image, (Phrase(shape=prompt.split()[2], colour=colour),))
                right += bool(score.measured[0] is not None and score.right[0]["colour"])
                total += 1
        curve[w] = right / total
    return curve


def inversion(pipe, n: int = 24, num_steps: int = 50, guidance_scale=None) -> dict:
    """Invert ``n`` drawn shapes, reconstruct them, and edit their colour word."""
    from explainer.drawn.dataset import all_attributes, draw
    from explainer.explore.ddim_inversion import ddim_invert, round_trip_error
    from explainer.explore.prompt_to_prompt import edit

    s = pipe.default_guidance if guidance_scale is None else guidance_scale
    attrs = all_attributes(include_held_out=False)[::5][:n]
    images = np.stack([draw(a, rng=k) for k, a in enumerate(attrs)])
    colours = list(COLOURS)
    new = [colours[(colours.index(a.colour) + 1 + k % 3) % 6] for k, a in enumerate(attrs)]
    sources = [f"a {a.size} {a.colour} {a.shape}" for a in attrs]
    targets = [f"a {a.size} {c} {a.shape}" for a, c in zip(attrs, new)]
    inv = ddim_invert(pipe, images, sources, num_steps, s)
    ddim = dict(latents=inv.latents, scheduler="ddim", num_steps=num_steps, guidance_scale=s)
    rebuilt = inv.reconstruct(pipe).images
    edited = edit(pipe, sources, targets, **ddim)
    plain = pipe.text_to_image(targets, **ddim).images

    def rates(outputs):
        found = [_one(o) for o in outputs]
        return {"colour": float(np.mean([f is not None and f.colour == c
                                         for f, c in zip(found, new)])),
                "position": float(np.mean([f is not None and f.position == a.position
                                           for f, a in zip(found, attrs)]))}

    return {"images": n, "guidance": s, "steps": num_steps,
            "vae": float(round_trip_error(pipe, images).mean()),
            "reconstruction": float(np.abs(rebuilt.astype(np.float64) - images).mean()),
            "prompt-to-prompt": rates(edited.target_images), "without": rates(plain)}


def tables(swap: dict, curve: dict, inverted: dict | None = None) -> str:
    rows = [f"word swap of the shape word ({next(iter(swap.values()))['pairs']} pairs, "
            "position and size left open, same seed):",
            f"  {'':<22} {'position':>8} {'size':>6} {'both kept':>9} {'new shape':>9}"]
    rows += [f"  {label:<22} {r['position']:>8.0%} {r['size']:>6.0%} {r['kept']:>9.0%} "
             f"{r['new']:>9.0%}" for label, r in swap.items()]
    rows.append("re-weighting the colour word: colour adherence")
    rows.append("  " + "  ".join(f"w={w:g}: {v:.0%}" for w, v in curve.items()))
    if inverted:
        r = inverted
        rows.append(f"DDIM inversion of {r['images']} drawn shapes ({r['steps']} steps, guidance "
                    f"{r['guidance']:g}): reconstruction error {r['reconstruction']:.2f}/255, "
                    f"the VAE's round trip {r['vae']:.2f}/255 "
                    f"({r['reconstruction'] / r['vae']:.2f}x)")
        for label in ("without", "prompt-to-prompt"):
            rows.append(f"  colour edit from x_T, {label:<16}: new colour "
                        f"{r[label]['colour']:.0%}, position kept {r[label]['position']:.0%}")
    return "\n".join(rows)


def main(argv=None) -> int:
    import argparse

    import explainer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--save-images", default=None,
                        help="only run a fixed small edit and write its pictures (.npz)")
    args = parser.parse_args(argv)
    pipe = explainer.load_pipeline()
    if args.save_images:
        from explainer.explore.prompt_to_prompt import edit

        swap = edit(pipe, ["a red circle", "a blue square"], ["a red square", "a blue circle"],
                    seed=[11, 12], num_steps=12, local_blend=True)
        weight = edit(pipe, "a green triangle", "a green triangle", seed=13, num_steps=12,
                      weights={"green": 2.0})
        np.savez(args.save_images, images=np.concatenate(
            [swap.source_images, swap.target_images, weight.target_images]))
        return 0
    print(tables(word_swap(pipe, args.pairs), reweighting(pipe), inversion(pipe)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
