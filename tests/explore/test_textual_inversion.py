"""Textual inversion: only the new word's vector learns, the model is left as it was, and a
context given to text_to_image conditions the run exactly as an encoded prompt would."""

import numpy as np
import pytest

from explainer.drawn import Attributes, draw
from explainer.explore.textual_inversion import TextualInversion
from explainer.models.backend import ops


def _numpy(variables):
    return [np.array(ops.convert_to_numpy(v.value)) for v in variables]


@pytest.fixture(scope="module")
def concept():
    rng = np.random.default_rng(0)
    images = np.stack([draw(Attributes("triangle", "purple", size, "left"), rng)
                       for size in ("small", "large")])
    return images, ["a small dax on the left", ["a large dax on the left", "a big dax at the left"]]


def test_only_the_word_vector_learns(tiny_pipe, concept):
    ti = TextualInversion(tiny_pipe, "dax", "shape")
    weights = _numpy(tiny_pipe.text_encoder.weights + tiny_pipe.unet.weights)
    losses = ti.fit(*concept, steps=3, batch=4, lr=1e-2, seed=0)
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert np.abs(ti.value - ti.start).max() > 1e-3          # v moved (Adam: ~lr per step)
    after = _numpy(tiny_pipe.text_encoder.weights + tiny_pipe.unet.weights)
    assert all(np.array_equal(a, b) for a, b in zip(weights, after))  # nothing else did


def test_installed_writes_the_row_and_restores_it(tiny_pipe):
    ti = TextualInversion(tiny_pipe, "dax", "circle")
    ids = tiny_pipe.tokenizer.ids(["a dax on the left"])
    table = tiny_pipe.text_encoder.token_embedding.embeddings
    original = np.array(ops.convert_to_numpy(table.value))
    plain = tiny_pipe.encode_text(["a dax on the left"])
    with ti.installed():
        row = np.array(ops.convert_to_numpy(table.value))[ti.word_id]
        np.testing.assert_array_equal(row, ti.start)          # v starts as E_tok["circle"]
        inside = tiny_pipe.encode_text(["a dax on the left"])
        # the training path c_v (a where() on the looked-up rows) is the installed encoder's;
        # both run the same float32 ops on the same numbers, up to graph vs eager round-off
        np.testing.assert_allclose(np.asarray(ops.convert_to_numpy(ti._encode(ids))), inside,
                                   atol=1e-5)
    assert np.abs(inside - plain).max() > 1e-3                # the word's vector matters
    np.testing.assert_array_equal(np.array(ops.convert_to_numpy(table.value)), original)
    np.testing.assert_array_equal(tiny_pipe.encode_text(["a dax on the left"]), plain)


@pytest.mark.parametrize("word, fix", [("blicket", "keeps whole"), ("two words", "keeps whole")])
def test_a_word_of_several_tokens_is_refused(tiny_pipe, word, fix):
    with pytest.raises(ValueError, match=fix):
        TextualInversion(tiny_pipe, word)


def test_captions_must_use_the_word(tiny_pipe, concept):
    ti = TextualInversion(tiny_pipe, "dax")
    with pytest.raises(ValueError, match="does not use the word 'dax'"):
        ti.fit(concept[0], ["a small purple triangle", "a dax"], steps=1)
    with pytest.raises(ValueError, match="2 images but 1 captions"):
        ti.fit(concept[0], ["a dax"], steps=1)
    with pytest.raises(ValueError, match="steps=0"):
        ti.fit(*concept, steps=0)


def test_a_given_context_conditions_like_the_prompt(tiny_pipe):
    prompt = "a large red circle on the left"
    by_prompt = tiny_pipe.text_to_image(prompt, seed=3, num_steps=4)
    by_context = tiny_pipe.text_to_image("(any label)", seed=3, num_steps=4,
                                         context=tiny_pipe.encode_text(prompt))
    np.testing.assert_array_equal(by_context.images, by_prompt.images)   # the same numbers in
    mixed = tiny_pipe.text_to_image("mix", seed=[3, 3], num_steps=4, context=np.concatenate(
        [tiny_pipe.encode_text(prompt), tiny_pipe.encode_text("a small blue square at the top")]))
    # row 0 is the same run in a batch of two: other kernels' summation order only (as in
    # test_pipeline's batch test: 1e-4 of the largest value)
    a, b = mixed.trace.final_latents[0], by_prompt.trace.final_latents[0]
    assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max()
    assert np.abs(mixed.images[1].astype(int) - by_prompt.images[0]).max() > 50


def test_a_wrong_context_is_refused_before_the_run(tiny_pipe):
    width = tiny_pipe.text_encoder.config.width
    with pytest.raises(ValueError, match=rf"context must have shape \[B, 77, {width}\]"):
        tiny_pipe.text_to_image("x", context=np.zeros((1, 77, width + 1), np.float32))
    with pytest.raises(ValueError, match="finite"):
        tiny_pipe.text_to_image("x", context=np.full((1, 77, width), np.nan, np.float32))
    with pytest.raises(ValueError, match="batch sizes disagree.*3 seeds, 2 context rows"):
        tiny_pipe.text_to_image("x", seed=[1, 2, 3], context=np.zeros((2, 77, width), np.float32))
