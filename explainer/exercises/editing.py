"""Exercises for lesson 13 (editing with attention): prompt-to-prompt's token alignment for
an added word, and one step of DDIM inversion; checked against the package's own
``explore.prompt_to_prompt.align`` and ``explore.ddim_inversion.inversion_step``."""

from __future__ import annotations

import numpy as np

from explainer.exercises.feedback import Attempt, Feedback, compare, right, wrong

REFINEMENTS = (("a circle", "a large circle"), ("a square at the top", "a blue square at the top"),
               ("a triangle on the left", "a small triangle on the left"))


def check_token_mapper(function, tokenizer) -> Feedback:
    """13.1: ``function(source_ids, target_ids)`` -> M ``[77, 77]`` for a target prompt that
    adds one word to the source: M[i, j] = 1 where target token j reads source token i's map,
    0 elsewhere (the added word reads nothing: it keeps its own attention)."""
    from explainer.explore.prompt_to_prompt import align

    ex = "13.1 · the token map of an added word"
    for source, target in REFINEMENTS:
        s_ids, t_ids = tokenizer([source])[0].ids, tokenizer([target])[0].ids
        got, failed = Attempt(ex, function)(tuple(s_ids), tuple(t_ids))
        if failed:
            return failed
        want = align(s_ids, t_ids)[0]
        got_array = np.asarray(got, np.float64) if np.shape(got) == (77, 77) else None
        if got_array is not None and not np.allclose(got_array, want):
            added = int(np.flatnonzero(np.asarray(s_ids) != np.asarray(t_ids))[0])
            if np.allclose(got_array, np.eye(77)):
                return wrong(ex, f"{source!r} -> {target!r}: the identity lets every token "
                             f"after position {added} read its left neighbour's map (the words "
                             "moved one place right when the new word came in): shift them")
            if np.allclose(got_array.T, want):
                return wrong(ex, "transposed: rows are the source's positions i, columns the "
                             "target's j (A_tgt[..., j] = Σ_i A_src[..., i]·M[i, j])")
            if got_array[:, added].any():
                return wrong(ex, f"{source!r} -> {target!r}: the added word (position {added}) "
                             "has no map in the source run, so its column must stay 0: it keeps "
                             "its own attention (α = 0)")
        failed = compare(ex, got, want, f"M for {source!r} -> {target!r}")
        if failed:
            return failed
    return right(ex, "every shared token reads its own word's map from the source, one place "
                 "to the right after the new word, and the new word keeps its own. That is "
                 "prompt-to-prompt's refinement: the source's layout, plus what the new word adds.")


def check_inversion_step(function) -> Feedback:
    """13.2: ``function(x, eps, alpha_bar_from, alpha_bar_to)`` -> x_t, one DDIM inversion
    step up from x_{t−Δ} (ᾱ_from) to x_t (ᾱ_to), with the noise prediction ``eps``."""
    ex = "13.2 · one DDIM inversion step"
    rng = np.random.default_rng(13)
    x, eps = (rng.standard_normal((2, 8, 8, 4)).astype(np.float32) for _ in range(2))
    for a_from, a_to in ((0.99, 0.9), (0.5, 0.3), (0.2, 0.05)):
        got, failed = Attempt(ex, function)(x, eps, a_from, a_to)
        if failed:
            return failed
        x0 = (x - np.sqrt(1 - a_from) * eps) / np.sqrt(a_from)
        want = np.sqrt(a_to) * x0 + np.sqrt(1 - a_to) * eps
        down = np.sqrt(a_from) * ((x - np.sqrt(1 - a_to) * eps) / np.sqrt(a_to)) + \
            np.sqrt(1 - a_from) * eps
        renoised = np.sqrt(a_to) * x + np.sqrt(1 - a_to) * eps
        if np.shape(got) == want.shape and compare(ex, got, down, "") is None:
            return wrong(ex, "the two ᾱ's are swapped: that is lesson 05's DDIM step, going *down* "
                         "to less noise. Inversion goes up: take x̂₀ out with ᾱ_from, then noise "
                         "it to ᾱ_to, the smaller one")
        if np.shape(got) == want.shape and compare(ex, got, renoised, "") is None:
            return wrong(ex, "you noised x_{t−Δ} itself, which already holds noise: first take "
                         "the noise out, x̂₀ = (x − √(1−ᾱ_from)·ε)/√ᾱ_from, then noise x̂₀ to ᾱ_to")
        failed = compare(ex, got, want, f"x_t from ᾱ = {a_from} to {a_to}")
        if failed:
            return failed
    return right(ex, "x̂₀ from the lower level, then noised to the higher one with the *same* ε: "
                 "DDIM's step run backwards. It is exact only if ε barely changes between the two "
                 "levels, which is why the reconstruction is close to, not equal to, the picture.")
