"""Exercises for lessons 00-02: the stages, the tokenizer, the text encoder."""

from __future__ import annotations

import numpy as np

from explainer.exercises.feedback import Attempt, Feedback, compare, right, unanswered, wrong

STAGES = ("tokenize", "encode the text", "draw the seed's noise", "predict the noise",
          "mix with guidance", "one scheduler step", "decode")


def check_stage_order(stages) -> Feedback:
    """00.1: the seven stages of lesson 00's table, in the order a run does them."""
    ex = "00.1 · the order of the stages"
    if (waiting := unanswered(ex, *stages)):
        return waiting
    given = [str(s).strip().lower() for s in stages]
    unknown = [s for s in given if s not in STAGES]
    if unknown:
        return wrong(ex, f"{unknown} are not stage names; use the names of lesson 00's table: "
                     f"{sorted(STAGES)}")
    if sorted(given) != sorted(STAGES):
        missing = sorted(set(STAGES) - set(given))
        return wrong(ex, f"give each of the seven stages once; missing: {missing}")
    for k, (a, b) in enumerate(zip(given, STAGES)):
        if a != b:
            return wrong(ex, f"position {k + 1} should be the stage whose output the next one "
                         f"needs; '{a}' is not it. Ask, for each stage: what does its method take?")
    return right(ex, "tokenize, encode, draw x_T, then the loop (predict, mix, step) once per "
                 "timestep, then decode. The three in the middle repeat: that is lesson 07.")


def check_compression(preset: str, answer) -> Feedback:
    """00.2: how many times fewer numbers the latent has than the image, at the preset's size."""
    from explainer.models.configs import PRESETS

    ex = "00.2 · how much smaller the latent is"
    if (waiting := unanswered(ex, answer)):
        return waiting
    config = PRESETS[preset]
    side = config.unet.sample_size * config.vae.downscale                      # image side
    image, latent = side * side * 3, config.unet.sample_size ** 2 * config.unet.in_channels
    want = image / latent
    if not isinstance(answer, (int, float, np.number)) or not np.isfinite(answer):
        return wrong(ex, f"answer with a number, got {answer!r}")
    if abs(answer - want) > 1e-6 * want:
        hint = (" (you may have the ratio upside down)" if abs(1 / max(abs(answer), 1e-12) - want)
                < 1e-6 * want else "")
        return wrong(ex, f"{answer} is not it{hint}. Count both: the image is H × W × 3, the "
                     f"latent is H/f × W/f × 4 with f = {config.vae.downscale}.")
    return right(ex, f"{side}×{side}×3 = {image:,} numbers against "
                 f"{config.unet.sample_size}×{config.unet.sample_size}×4 = {latent:,}: "
                 f"{want:g} times fewer. The loop runs on the small one; the VAE (lesson 06) "
                 "translates at the two ends.")


def check_padding(tokenizer, prompt: str, answer) -> Feedback:
    """01.1: how many padding positions follow the end token for ``prompt``."""
    ex = "01.1 · counting the padding"
    if (waiting := unanswered(ex, answer)):
        return waiting
    tokens = tokenizer(prompt)
    want = tokens.n_padding
    if answer == want:
        return right(ex, f"{len(tokens.ids)} positions = <|startoftext|> + {tokens.n_real - 2} "
                     f"pieces + <|endoftext|> + {want} padding. Not one word per piece: "
                     "count the pieces, not the words.")
    return wrong(ex, f"{answer} is not it. There are 77 positions: the start token, one per "
                 "piece (some words are several pieces, punctuation is its own), the end token, "
                 "then padding. `pipe.tokenize(prompt)[0].table()` lists the pieces.")


def check_too_long(tokenizer, prompt: str) -> Feedback:
    """01.2: write a prompt whose last words the tokenizer drops."""
    import warnings

    ex = "01.2 · a prompt too long for CLIP"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # the truncation warning: the check says it
        tokens = tokenizer(prompt)
    if not tokens.truncated:
        return wrong(ex, f"it fits: {tokens.n_real - 2} pieces and {tokens.n_padding} padding "
                     "positions left. CLIP keeps 75 pieces; write more.")
    dropped = len(tokens.truncated)
    return right(ex, f"too long: {75 + dropped} pieces, {dropped} dropped; the last piece kept is "
                 f"'{tokens.pieces[-2]}'. What comes after it never reaches the text encoder, so "
                 "it cannot change the picture.")


def check_first_difference(tokenizer, prompt_a: str, prompt_b: str, answer) -> Feedback:
    """02.1: the first position whose context vector differs between two prompts."""
    from explainer.explore.comparison import first_difference

    ex = "02.1 · where two contexts start to differ"
    if (waiting := unanswered(ex, answer)):
        return waiting
    want = first_difference(tokenizer(prompt_a), tokenizer(prompt_b))
    if want is None:
        return wrong(ex, "the two prompts have the same tokens; change a word")
    if answer == want:
        return right(ex, f"position {want}: the first token that differs. The text encoder is "
                     f"causal, so rows 0..{want - 1} are identical and every row from {want} on, "
                     "padding included, can differ.")
    return wrong(ex, f"{answer} is not it. Count positions from 0 (the start token); rows up to "
                 "the first differing *token* are equal, because row k sees tokens 0..k only.")


def check_causal_mask(function) -> Feedback:
    """02.2: ``function(n)`` -> a bool [n, n] mask, True where position i may attend to j."""
    ex = "02.2 · the causal mask"
    for n in (4, 1, 77):
        mask, failed = Attempt(ex, function)(n)
        if failed:
            return failed
        mask = np.asarray(mask)
        if mask.shape != (n, n):
            return wrong(ex, f"for n = {n} the mask has shape {mask.shape}; it should be ({n}, {n})")
        want = np.tril(np.ones((n, n), bool))
        if mask.dtype != bool and set(np.unique(mask)) <= {0, 1}:
            mask = mask.astype(bool)
        if n > 1 and np.array_equal(mask, want.T):
            return wrong(ex, "this is the transpose: row i is the query position, column j the "
                         "key; position i may look at j ≤ i, not j ≥ i")
        if n > 1 and np.array_equal(mask, np.tril(np.ones((n, n), bool), -1)):
            return wrong(ex, "a position must also attend to itself (the diagonal)")
        failed = compare(ex, mask, want, f"the mask for n = {n}")
        if failed:
            return failed
    return right(ex, "row i is True for columns 0..i: each token reads itself and what came "
                 "before. That is why a prompt's first words decide rows that later words cannot.")
