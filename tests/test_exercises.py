"""The exercise checks fail a wrong answer, with an explanation, and pass a right one.

Right answers for every check run in notebooks/solutions/solutions.ipynb (nbval); here each
check meets the mistakes a learner makes, and must say what is wrong (never just False)."""

import numpy as np
import pytest

from explainer import exercises as ex


def _fails(feedback, *words):
    assert isinstance(feedback, ex.Feedback) and not feedback.passed, feedback
    text = repr(feedback)
    assert text.startswith("✗") and "not yet" in text
    for word in words:
        assert word in text, (word, text)


def _guide(eps_uncond, eps_text, s):
    return eps_uncond + s * (eps_text - eps_uncond)


def test_a_stub_or_a_crash_is_feedback_not_a_traceback():
    def stub(*args):
        ...

    def todo(*args):
        raise NotImplementedError

    def crash(*args):
        return 1 / 0

    _fails(ex.check_guidance(stub), "returned nothing")
    _fails(ex.check_guidance(todo), "NotImplementedError")
    _fails(ex.check_guidance(crash), "ZeroDivisionError")
    _fails(ex.check_guidance("not a function"), "pass a function")


def test_guidance_mistakes_are_named():
    assert ex.check_guidance(_guide).passed
    _fails(ex.check_guidance(lambda u, t, s: t + s * (u - t)), "swapped")
    _fails(ex.check_guidance(lambda u, t, s: s * t), "difference")
    _fails(ex.check_guidance(lambda u, t, s: u + s * (t - u) + 1e-2), "differs", "0.01")
    _fails(ex.check_guidance(lambda u, t, s: (u + s * (t - u))[0]), "shape")
    _fails(ex.check_guidance_scales(0, 1))


def test_formula_checks_catch_the_usual_slips():
    _fails(ex.check_pred_x0(lambda x, e, a: x - np.sqrt(1 - a) * e), "divide by √ᾱ_t")
    _fails(ex.check_noising(lambda x, e, a: a * x + (1 - a) * e), "square roots")
    _fails(ex.check_alpha_bar(lambda b0, b1, T: np.cumprod(1 - np.linspace(b0, b1, T))),
           "*linear* schedule")
    _fails(ex.check_alpha_bar(lambda b0, b1, T: 1 - np.linspace(b0 ** .5, b1 ** .5, T) ** 2),
           "running product")
    _fails(ex.check_ddim_step(lambda e, x, a, b: np.sqrt(b) * x + np.sqrt(1 - b) * e), "differs")
    snr = lambda a: a / (1 - a)  # noqa: E731
    _fails(ex.check_min_snr(lambda a, g: np.minimum(snr(a), g)), "divide by SNR_t")
    _fails(ex.check_latent_scale(lambda z: np.std(z)), "standard deviation itself")
    _fails(ex.check_slerp(lambda a, b, t: (1 - t) * a + t * b), "straight line")
    _fails(ex.check_causal_mask(lambda n: np.triu(np.ones((n, n), bool))), "transpose")
    _fails(ex.check_causal_mask(lambda n: np.tril(np.ones((n, n), bool), -1)), "itself")


def test_attention_mistakes_are_named():
    def softmax(x, axis):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    _fails(ex.check_attention(lambda q, k, v: softmax(q @ k.T, -1) @ v), "√d")
    _fails(ex.check_attention(lambda q, k, v: softmax(q @ k.T / np.sqrt(8), 0) @ v), "keys")
    assert ex.check_attention(lambda q, k, v: softmax(q @ k.T / np.sqrt(q.shape[1]), -1) @ v).passed
    _fails(ex.check_uniform_share(1 / 76))


def test_number_answers():
    assert ex.check_compression("tiny-shapes", 64 * 64 * 3 / (8 * 8 * 4)).passed
    _fails(ex.check_compression("sd-v1-5", 1 / 48), "upside down")
    _fails(ex.check_latent_shape("sd-v1-5", 768, 512, (64, 96, 4)))
    assert ex.check_latent_shape("tiny-shapes", 64, 64, (8, 8, 4)).passed
    _fails(ex.check_resnet_parameters(64, 128, 256, 263_040 - 8_320), "1×1 skip conv")
    assert ex.check_resnet_parameters(128, 128, 256, 2 * 128 + 9 * 128 * 128 + 128 + 256 * 128 + 128
                                      + 2 * 128 + 9 * 128 * 128 + 128).passed
    _fails(ex.check_attention_tokens("sd-v1-5", 0, 77), "cross-attention")
    _fails(ex.check_half_noise(999))
    _fails(ex.check_stage_order(["tokenize", "decode"]), "missing")
    _fails(ex.check_stage_order(["decode", "tokenize", "encode the text", "draw the seed's noise",
                                 "predict the noise", "mix with guidance", "one scheduler step"]),
           "position 1")


def test_tokenizer_and_word_checks(tiny_pipe):
    tok = tiny_pipe.tokenizer
    _fails(ex.check_padding(tok, "a big blue circle, at the top!", 70), "pieces")
    _fails(ex.check_too_long(tok, "a red circle"), "it fits")
    _fails(ex.check_first_difference(tok, "a red circle", "a red square", 2), "row k sees")
    _fails(ex.check_new_word(tok, "circle"), "captions use 'circle'")
    _fails(ex.check_new_word(tok, "blicket"), "pieces")


def test_picture_checks_read_the_picture(tiny_pipe):
    # seed 0 draws a blue circle for this prompt (solutions.ipynb finds a purple one)
    _fails(ex.check_seed_for(tiny_pipe, "a large circle on the left", "purple", 0),
           "seed 0 draws a large blue circle")
    _fails(ex.check_seed_for(tiny_pipe, "a large red circle on the left", "red", 0), "names a colour")
    _fails(ex.check_fewest_steps(tiny_pipe, "a small blue square at the top", 0, 4), "3 steps")
    _fails(ex.check_fewest_steps(tiny_pipe, "a small blue square at the top", 0, 2), "not what")
    _fails(ex.check_negative_prompt(tiny_pipe, "a circle", ""), "write a negative prompt")
    _fails(ex.check_first_timestep(tiny_pipe, 0.6, 25, 600), "skips")

    def wrong_loop(pipe, prompt, seed, steps):  # forgets guidance: s = 1
        return pipe.text_to_image(prompt, seed=seed, num_steps=steps, guidance_scale=1.0).images[0]

    _fails(ex.check_loop(tiny_pipe, wrong_loop), "differs from pipe.text_to_image's")


@pytest.mark.parametrize("name", ex.__all__)
def test_every_check_is_documented_and_returns_feedback(name):
    item = getattr(ex, name)
    assert item.__doc__, name


def test_editing_mistakes_are_named(tiny_pipe):
    from explainer.explore.prompt_to_prompt import align

    tokenizer = tiny_pipe.tokenizer
    assert ex.check_token_mapper(lambda s, t: align(s, t)[0], tokenizer).passed
    _fails(ex.check_token_mapper(lambda s, t: np.eye(77), tokenizer), "identity")
    _fails(ex.check_token_mapper(lambda s, t: align(s, t)[0].T, tokenizer), "transposed")

    def reads_the_old_word(s, t):
        m = align(s, t)[0]
        k = int(np.flatnonzero(np.asarray(s) != np.asarray(t))[0])
        m[k, k] = 1.0                       # the added word reads the word it pushed right
        return m

    _fails(ex.check_token_mapper(reads_the_old_word, tokenizer), "column")
    _fails(ex.check_token_mapper(lambda s, t: ..., tokenizer), "returned nothing")

    def invert(x, eps, a_from, a_to):
        x0 = (x - np.sqrt(1 - a_from) * eps) / np.sqrt(a_from)
        return np.sqrt(a_to) * x0 + np.sqrt(1 - a_to) * eps

    assert ex.check_inversion_step(invert).passed
    _fails(ex.check_inversion_step(lambda x, e, a, b: invert(x, e, b, a)), "swapped")
    _fails(ex.check_inversion_step(lambda x, e, a, b: np.sqrt(b) * x + np.sqrt(1 - b) * e),
           "itself")
    _fails(ex.check_inversion_step(lambda x, e, a, b: x + e), "differs")
