"""Exercises for lessons 03b, 11 and 12: the UNet's parts, attention, and the text context."""

from __future__ import annotations

import numpy as np

from explainer.exercises.feedback import Attempt, Feedback, compare, right, unanswered, wrong


def check_resnet_parameters(c_in: int, c_out: int, time_width: int, answer) -> Feedback:
    """03b.1: the parameters of one UNet ResNet block (models/unet_blocks.py, ResnetBlock)."""
    ex = "03b.1 · counting a ResNet block"
    if (waiting := unanswered(ex, answer)):
        return waiting
    parts = {"GroupNorm 1 (scale, shift)": 2 * c_in, "3×3 conv 1": 9 * c_in * c_out + c_out,
             "time projection": time_width * c_out + c_out, "GroupNorm 2": 2 * c_out,
             "3×3 conv 2": 9 * c_out * c_out + c_out,
             "1×1 skip conv": c_in * c_out + c_out if c_in != c_out else 0}
    want = sum(parts.values())
    if answer == want:
        listed = ", ".join(f"{k} {v:,}" for k, v in parts.items() if v)
        return right(ex, f"{want:,} = {listed}. The two 3×3 convs hold almost all of it.")
    near = [k for k, v in parts.items() if v and answer in (want - v, want + v)]
    hint = f" You are exactly one part off: {near[0]}." if near else ""
    return wrong(ex, f"{answer:,} is not it.{hint} Count each layer: a k×k conv has "
                 "k·k·C_in·C_out weights + C_out biases; a GroupNorm one scale and one shift per "
                 "channel; the time projection is a dense layer from the embedding's width; the "
                 "skip is a 1×1 conv only when the widths differ.")


def check_attention_tokens(preset: str, level: int, answer) -> Feedback:
    """03b.2: how many tokens self-attention compares at resolution ``level`` (default size)."""
    from explainer.models.configs import PRESETS

    ex = "03b.2 · how many tokens attention sees"
    if (waiting := unanswered(ex, answer)):
        return waiting
    unet = PRESETS[preset].unet
    side = -(-unet.sample_size // 2 ** level)
    want = side * side
    if answer == want:
        return right(ex, f"{side}×{side} = {want:,} latent pixels, each a token: self-attention "
                     f"builds a {want:,}×{want:,} matrix per head, cross-attention a {want:,}×77 "
                     "one. That is why attention at the finest level dominates memory at 512².")
    if answer == 77:
        return wrong(ex, "77 is what cross-attention attends over (the text tokens); "
                     "self-attention's tokens are the latent pixels themselves")
    return wrong(ex, f"{answer} is not it. The latent side is {unet.sample_size}, halved once per "
                 "level below it; every latent pixel is a token.")


def check_attention(function) -> Feedback:
    """11.1: ``function(q, k, v)`` -> softmax(q·kᵀ/√d)·v for q [n, d], k and v [m, d]."""
    ex = "11.1 · the attention formula"
    rng = np.random.default_rng(11)
    q, k = rng.standard_normal((6, 8)), rng.standard_normal((77, 8))
    v = rng.standard_normal((77, 8))
    got, failed = Attempt(ex, function)(q, k, v)
    if failed:
        return failed

    def softmax(x, axis):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    scores = q @ k.T / np.sqrt(8)                                          # [n, m]
    want = softmax(scores, -1) @ v
    got_arr = np.asarray(got, np.float64)
    if got_arr.shape == want.shape:
        if np.allclose(got_arr, softmax(q @ k.T, -1) @ v, atol=1e-6):
            return wrong(ex, "the scores need dividing by √d before the softmax; without it, "
                         "large d makes the softmax nearly one-hot")
        if np.allclose(got_arr, softmax(scores, 0) @ v, atol=1e-6):
            return wrong(ex, "the softmax runs over the keys (the last axis of q·kᵀ): each query's "
                         "weights over the 77 tokens sum to 1")
    failed = compare(ex, got, want, "the attention output")
    if failed:
        return failed
    return right(ex, "softmax(q·kᵀ/√d)·v: each row of weights sums to 1 over the 77 tokens; "
                 "lesson 11's maps are those weights, one column per word.")


def check_uniform_share(answer) -> Feedback:
    """11.2: the share of attention each of the 77 tokens gets if attention is uniform."""
    ex = "11.2 · the uniform share"
    if (waiting := unanswered(ex, answer)):
        return waiting
    if isinstance(answer, (int, float, np.number)) and np.isclose(answer, 1 / 77, rtol=1e-3):
        return right(ex, "1/77 ≈ 0.013: a word's map above that gets more than its share. That is "
                     "the fair zero for an attention map, not its minimum.")
    return wrong(ex, f"{answer!r} is not it: the weights of one latent pixel over the 77 tokens "
                 "sum to 1")


def check_slerp(function) -> Feedback:
    """12.1: ``function(a, b, alpha)`` -> spherical interpolation of two vectors."""
    ex = "12.1 · spherical interpolation"
    rng = np.random.default_rng(12)
    a, b = rng.standard_normal(64), rng.standard_normal(64)
    theta = np.arccos(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    for alpha in (0.5, 0.0, 0.3, 1.0):
        got, failed = Attempt(ex, function)(a, b, alpha)
        if failed:
            return failed
        want = (np.sin((1 - alpha) * theta) * a + np.sin(alpha * theta) * b) / np.sin(theta)
        if alpha == 0.5 and np.asarray(got).shape == a.shape and np.allclose(got, (a + b) / 2):
            return wrong(ex, "that is the straight line (lerp); slerp follows the arc: weights "
                         "sin((1−α)θ)/sin θ and sin(αθ)/sin θ, with θ the angle between a and b")
        failed = compare(ex, got, want, f"slerp at α = {alpha}")
        if failed:
            return failed
    mid = (np.sin(theta / 2) * (a + b)) / np.sin(theta)
    return right(ex, f"at α = 0.5 slerp has norm {np.linalg.norm(mid):.1f}, the straight line "
                 f"{np.linalg.norm((a + b) / 2):.1f} (a and b: {np.linalg.norm(a):.1f}, "
                 f"{np.linalg.norm(b):.1f}): lerp shortens vectors in between, slerp keeps "
                 "their length. Try it on the contexts of lesson 12.")


def check_new_word(tokenizer, word: str) -> Feedback:
    """12.2: a word textual inversion can use: one token, never in tiny-shapes' captions."""
    ex = "12.2 · a word for textual inversion"
    tokens = tokenizer(word)
    pieces = tokens.n_real - 2
    if " " in word.strip() or pieces != 1:
        return wrong(ex, f"{word!r} is {pieces} pieces; textual inversion replaces one token's "
                     "vector, so pick a word the tokenizer keeps whole")
    if word.strip().lower() in _caption_words():
        return wrong(ex, f"tiny-shapes' captions use {word!r}; learning it would overwrite a word "
                     "the model already knows. Pick one it never saw")
    return right(ex, f"{word!r} is one token (id {tokens.ids[1]}) that no training caption used: "
                 "its row of the token table was never trained, so giving it a learned vector "
                 "changes nothing else.")


def _caption_words() -> set[str]:
    from explainer.drawn.scenes import SceneDataset

    data, rng = SceneDataset(seed=0), np.random.default_rng(0)
    words = set()
    for _ in range(3000):
        text, _ = data.caption(data.scene(rng), rng)
        words |= set(text.replace(",", " ").lower().split())
    return words
