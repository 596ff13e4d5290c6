"""Does prompt-to-prompt edit what it should and keep the rest? Measured on tiny-shapes.

- **word swap** of the shape word in prompts that leave position and size open ("a red
  circle" -> "a red square"), same seed: the target keeps the source's position and size
  (the scorer's, one shape in each picture) and draws the new shape; the same rates for the
  target prompt run alone from the same seed (no prompt-to-prompt), with local blending, and
  with every attention map of the source injected at every layer and step (the most the
  attention can carry); and how far each edit's picture is from the target prompt's own
  (mean |difference| per pixel, /255): how much the injected attention changed at all; and
  the target run with the source's context but for the swapped word's own rows (``word_only``:
  how much one token's vector alone moves the picture);
- **refinement**, a size word added ("a red circle" -> "a large red circle"): the stated size
  drawn, the position, shape and colour kept, without and with prompt-to-prompt;
- **re-weighting** the colour word, w from 0.5 to 2 (and 0, the word not read at all): the
  colour adherence of the target, one point per weight, at the default guidance (where the
  colour is already near certain) and at guidance 1 (where it is not);
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


# the edits word_swap compares: None = the target prompt alone, from the source's seed
SWAP_EDITS = (("without", None), ("prompt-to-prompt", {}),
              ("with local blending", {"local_blend": True}),
              ("every map, every step", {"cross_steps": 1.0, "self_steps": 1.0,
                                         "self_max_grid": 64}))


def word_swap_runs(pipe, n: int = 60, seed: int = 9200, batch: int = 30,
                   edits=SWAP_EDITS) -> dict:
    """``{label: (sources, targets)}``: the swap pairs' pictures for each of ``edits``."""
    pairs = swap_pairs(n)
    seeds = [seed + k for k in range(n)]
    return {label: _edited(pipe, [p[0] for p in pairs], [p[1] for p in pairs], seeds,
                           options, batch) for label, options in edits}


def swap_summary(runs: dict) -> dict:
    """The swap rates of each run of ``word_swap_runs``, and each edit's distance from the
    source's picture (``from_source``) and from the target prompt's own (``from_alone``), as
    mean |difference| per pixel /255."""
    alone = runs["without"][1].astype(np.float64)
    new_shapes = [p[2] for p in swap_pairs(len(alone))]
    out = {}
    for label, (sources, targets) in runs.items():
        out[label] = swap_rates(sources, targets, new_shapes)
        out[label]["from_alone"] = float(np.abs(targets - alone).mean())
        out[label]["from_source"] = float(np.abs(targets - sources.astype(np.float64)).mean())
    return out


def word_swap(pipe, n: int = 60, seed: int = 9200, batch: int = 30) -> dict:
    """``swap_summary`` of ``word_swap_runs``: the rates and distances of each edit."""
    return swap_summary(word_swap_runs(pipe, n, seed, batch))


def word_only(pipe, n: int = 60, seed: int = 9200, sources=None) -> dict:
    """The swap rates when the target's context is the source's but for the swapped word's
    own rows (the positions whose token ids differ): every other token, the end token and
    the padding included, is exactly the source's. No attention is injected: what one token's
    vector alone changes. ``sources``: the source prompts' pictures if already made."""
    pairs = swap_pairs(n)
    seeds = [seed + k for k in range(n)]
    source_tokens = pipe.tokenize([p[0] for p in pairs])
    target_tokens = pipe.tokenize([p[1] for p in pairs])
    c_source = pipe.encode_text(source_tokens)                               # [n, 77, C]
    c_target = pipe.encode_text(target_tokens)
    word = (np.asarray([t.ids for t in source_tokens]) !=
            np.asarray([t.ids for t in target_tokens]))[..., None]           # [n, 77, 1]
    context = np.where(word, c_target, c_source)
    if sources is None:         # the source prompts' pictures (word_swap_runs has them)
        sources = pipe.text_to_image([p[0] for p in pairs], seed=seeds).images
    targets = pipe.text_to_image([p[1] for p in pairs], seed=seeds, context=context).images
    return swap_rates(sources, targets, [p[2] for p in pairs])


def _edited(pipe, sources, targets, seeds, options, batch):
    """(source pictures, target pictures): the target prompt alone (``options`` None) or
    edited with ``prompt_to_prompt.edit(**options)``, in chunks of ``batch`` pairs."""
    from explainer.explore.prompt_to_prompt import edit

    out_s, out_t = [], []
    for k in range(0, len(sources), batch):
        s, t, chunk_seeds = sources[k:k + batch], targets[k:k + batch], seeds[k:k + batch]
        if options is None:
            out_s.append(pipe.text_to_image(s, seed=chunk_seeds).images)
            out_t.append(pipe.text_to_image(t, seed=chunk_seeds).images)
        else:
            result = edit(pipe, s, t, seed=chunk_seeds, **options)
            out_s.append(result.source_images)
            out_t.append(result.target_images)
    return np.concatenate(out_s), np.concatenate(out_t)


def refinement_pairs(n: int = 36) -> list[tuple[str, str, str]]:
    """(source, target, added size): "a red circle" -> "a large red circle", every colour
    with every shape, "large" for the first 18, "small" for the next."""
    colours = list(COLOURS)
    out = []
    for k in range(n):
        colour, shape, size = colours[k % 6], SHAPES[(k // 6) % 3], ("large", "small")[k // 18 % 2]
        out.append((f"a {colour} {shape}", f"a {size} {colour} {shape}", size))
    return out


def refinement_rates(sources, targets, sizes) -> dict:
    """Of the pairs: the added size drawn, the position kept, the shape and colour kept."""
    rows = []
    for a, b, size in zip(sources, targets, sizes):
        fa, fb = _one(a), _one(b)
        same = fa is not None and fb is not None
        rows.append((fb is not None and fb.size == size, same and fa.position == fb.position,
                     same and (fa.shape, fa.colour) == (fb.shape, fb.colour)))
    rows = np.asarray(rows, bool)
    return {"size": float(rows[:, 0].mean()), "position": float(rows[:, 1].mean()),
            "shape and colour": float(rows[:, 2].mean()), "pairs": len(rows)}


def refinement_runs(pipe, n: int = 36, seed: int = 9400, batch: int = 36) -> dict:
    """``{label: (sources, targets, sizes)}``: the refinement pairs' pictures, the target
    prompt alone ("without") and with prompt-to-prompt."""
    pairs = refinement_pairs(n)
    seeds = [seed + k for k in range(n)]
    return {label: (*_edited(pipe, [p[0] for p in pairs], [p[1] for p in pairs], seeds,
                             options, batch), [p[2] for p in pairs])
            for label, options in SWAP_EDITS[:2]}


def refinement(pipe, n: int = 36, seed: int = 9400) -> dict:
    """The refinement rates of the target prompt alone and with prompt-to-prompt."""
    return {label: refinement_rates(*run)
            for label, run in refinement_runs(pipe, n, seed).items()}


def position_kept(sources, targets) -> np.ndarray:
    """[n] bool: one shape in both pictures, at the same position (the scorer's)."""
    found = [(_one(a), _one(b)) for a, b in zip(sources, targets)]
    return np.array([a is not None and b is not None and a.position == b.position
                     for a, b in found])


def reweighted(pipe, prompts, seeds, weights=WEIGHTS, guidance_scale=None):
    """Each prompt ("a red square") with its colour word's attention re-weighted by each w:
    ``(images {w: [n, H, W, 3]}, colours {w: [the scorer's colour, or None]})``."""
    from explainer.explore.prompt_to_prompt import edit

    words = {next(w for w in prompt.split() if w in COLOURS) for prompt in prompts}
    images, colours = {}, {}
    for w in weights:               # each prompt's own colour word re-weighted, one batch
        out = edit(pipe, prompts, prompts, seed=list(seeds), weights=dict.fromkeys(words, w),
                   guidance_scale=guidance_scale).target_images
        images[w] = out
        colours[w] = [_colour(image, prompt) for image, prompt in zip(out, prompts)]
    return images, colours


def _colour(image, prompt: str):
    """The colour of the shape the scorer matches to the prompt's phrase (None: none found)."""
    words = prompt.split()
    phrase = Phrase(shape=next((w for w in words if w in SHAPES), None),
                    colour=next((w for w in words if w in COLOURS), None))
    measured = score_scene(image, (phrase,)).measured[0]
    return None if measured is None else measured.colour


def reweighting(pipe, weights=WEIGHTS, per_colour: int = 6, seed: int = 9300,
                guidance_scale=None) -> dict:
    """Colour adherence of "a {colour} {shape}" (``per_colour`` prompts per colour, seeds from
    ``seed``) with the colour word re-weighted by each w: ``{w: rate}``."""
    prompts, seeds = [], []
    for c, colour in enumerate(COLOURS):
        prompts += [f"a {colour} {SHAPES[k % 3]}" for k in range(per_colour)]
        seeds += [seed + c * per_colour + k for k in range(per_colour)]
    _, colours = reweighted(pipe, prompts, seeds, weights, guidance_scale)
    asked = [prompt.split()[1] for prompt in prompts]
    return {w: float(np.mean([got == want for got, want in zip(colours[w], asked)]))
            for w in weights}


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


def tables(swap: dict, curves: dict, inverted: dict | None = None,
           refined: dict | None = None, only_word: dict | None = None) -> str:
    rows = [f"word swap of the shape word ({next(iter(swap.values()))['pairs']} pairs, "
            "position and size left open, same seed):",
            f"  {'':<22} {'position':>8} {'size':>6} {'both kept':>9} {'new shape':>9} "
            f"{'from source':>11} {'from alone':>10}"]
    rows += [f"  {label:<22} {r['position']:>8.0%} {r['size']:>6.0%} {r['kept']:>9.0%} "
             f"{r['new']:>9.0%} {r['from_source']:>7.2f}/255 {r['from_alone']:>6.2f}/255"
             for label, r in swap.items()]
    if only_word:
        r = only_word
        rows.append(f"  only the swapped word's own context rows changed (no attention injected): "
                    f"position {r['position']:.0%}, size {r['size']:.0%}, both kept "
                    f"{r['kept']:.0%}, new shape {r['new']:.0%}")
    if refined:
        rows.append(f"refinement, a size word added ({next(iter(refined.values()))['pairs']} "
                    "pairs, same seed):")
        rows += [f"  {label:<22} size drawn {r['size']:.0%}, position kept "
                 f"{r['position']:.0%}, shape and colour kept {r['shape and colour']:.0%}"
                 for label, r in refined.items()]
    rows.append("re-weighting the colour word: colour adherence")
    for label, curve in curves.items():
        rows.append(f"  {label}: " + "  ".join(f"w={w:g}: {v:.0%}" for w, v in curve.items()))
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
    runs = word_swap_runs(pipe, args.pairs)
    curves = {f"guidance {pipe.default_guidance:g} (the default), 36 prompts": reweighting(pipe),
              "guidance 1, 108 prompts": reweighting(pipe, per_colour=18, guidance_scale=1.0)}
    print(tables(swap_summary(runs), curves, inversion(pipe), refinement(pipe),
                 word_only(pipe, args.pairs, sources=runs["without"][0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
