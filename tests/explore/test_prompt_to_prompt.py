"""Prompt-to-prompt through the attention hook: the token alignment, the maps the target
actually uses (read back through the atlas), re-weighting, local blending and bad input.
Tests named *trace* also run on JAX and PyTorch in `make test`."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.diffusion.attention_capture import AttentionCapture
from explainer.explore.prompt_to_prompt import PromptToPrompt, _max_pool3, align, edit


def test_alignment_of_swaps_refinements_and_longer_words(tiny_pipe):
    ids = lambda prompt: tiny_pipe.tokenize(prompt)[0].ids  # noqa: E731
    mapper, alpha = align(ids("a red circle"), ids("a red square"))
    assert np.array_equal(mapper, np.eye(77)) and alpha.min() == 1  # same length: identity
    # a word of one token swapped for one of three: each new piece reads the old word's map
    mapper, alpha = align(ids("a red circle"), ids("a red xylophone"))
    assert np.allclose(mapper[3, 3:6], 1.0) and alpha[:77].min() == 1
    assert np.allclose(mapper.sum(axis=0), 1.0)             # every target token reads one map
    # refinement: the added word keeps its own attention (α = 0), the rest shift by one
    mapper, alpha = align(ids("a circle"), ids("a large circle"))
    assert alpha[2] == 0 and alpha[[0, 1, 3, 4]].min() == 1
    assert mapper[2, 3] == 1 and mapper[1, 1] == 1 and mapper[:, 2].sum() == 0
    hook = PromptToPrompt(tiny_pipe, "a circle", "a large circle")
    assert hook.kind == "refinement"
    assert PromptToPrompt(tiny_pipe, "a red circle", "a red square").kind == "word swap"
    assert PromptToPrompt(tiny_pipe, "a red circle", "a red circle",
                          weights={"red": 2}).kind == "re-weighting"
    # one batch, each target its own word: a word re-weights only the targets that have it
    prompts = ["a red circle", "a large blue square", "a red square"]
    hook = PromptToPrompt(tiny_pipe, prompts, prompts, weights={"red": 2, "blue": 0.5})
    assert hook.equalizer[0, 2] == 2 and hook.equalizer[1, 3] == 0.5 and hook.equalizer[2, 2] == 2
    assert (hook.equalizer != 1).sum() == 3


def test_edit_trace_target_reads_the_source_maps(tiny_pipe):
    """Recorded after the hook, the target's cross-attention is the source's while injected
    (exactly: a one-hot mapper copies), the swapped word reading the old word's map; after
    τ_c the target's own. The sources are the plain runs of their prompts."""
    sources, targets = ["a red circle", "a blue square"], ["a red square", "a blue triangle"]
    result = edit(tiny_pipe, sources, targets, seed=[11, 12], cross_steps=0.5, num_steps=8,
                  scheduler="ddim", capture_attention=AttentionCapture(branches="cond"))
    trace = result.trace
    for i in (0, 3, 6):
        values = trace[f"steps.{i}.atlas.up1_transformer_0"][0]             # [4, 77, 4, 4]
        source, target = values[:2], values[2:]
        if i < 4:   # the first half of 8 steps
            assert np.array_equal(source, target), i
        else:
            assert not np.allclose(source, target, atol=1e-3), i
    plain = tiny_pipe.text_to_image(sources, seed=[11, 12], num_steps=8, scheduler="ddim")
    # the hook never changes the sources' rows; a batch of 4 instead of 2 may move float32
    # round-off, so within 1/255 on all but a few pixels
    diff = np.abs(plain.images.astype(int) - result.source_images)
    assert (diff <= 1).mean() >= 0.999
    assert not np.array_equal(result.target_images, plain.images)


def test_reweighting_trace_scales_the_column(tiny_pipe):
    result = edit(tiny_pipe, "a red circle", "a red circle", seed=5, num_steps=4,
                  scheduler="ddim", weights={"red": 2.0}, cross_steps=1.0,
                  capture_attention=AttentionCapture(branches="cond", tokens=(1, 2, 3)))
    values = result.trace["steps.1.atlas.up1_transformer_1"][0].astype(np.float32)
    source, target = values[0], values[1]                                  # [3, 4, 4]
    np.testing.assert_allclose(target[1], 2 * source[1], rtol=2e-3)       # "red": x2
    np.testing.assert_allclose(target[[0, 2]], source[[0, 2]], rtol=2e-3)
    assert not np.array_equal(result.target_images, result.source_images)


def test_local_blend_keeps_the_source_outside_the_mask(tiny_pipe):
    hook = PromptToPrompt(tiny_pipe, "a red circle", "a red square", local_blend=True)
    assert hook.blend[0, 3] == 1 and hook.blend[1, 3] == 1 and hook.blend.sum() == 2
    maps = np.zeros((2, 16))                          # a 4x4 map per row: one hot pixel each
    maps[0, 0], maps[1, 5] = 1.0, 1.0
    latents = np.stack([np.zeros((8, 8, 4)), np.ones((8, 8, 4))]).astype(np.float32)
    out = hook.after_step(0, 10, latents, {"p2p.blend.up1_transformer_0": maps})
    assert np.array_equal(out[0], latents[0])                      # the source is untouched
    changed = out[1, ..., 0] == 1                                   # the target where masked
    assert changed[0, 0] and changed[3, 3] and not changed[7, 7]   # near the two hot pixels
    assert set(np.unique(out[1])) <= {0.0, 1.0}
    pooled = _max_pool3(np.eye(3)[None])
    assert pooled.min() == 1.0
    run = edit(tiny_pipe, "a red circle", "a red square", seed=3, num_steps=6,
               scheduler="ddim", local_blend=True)
    assert run.target_images.shape == (1, 64, 64, 3)


@pytest.mark.parametrize("kwargs, message", [
    (dict(sources=["a", "b"], targets=["c"]), "pairs each source"),
    (dict(cross_steps=1.5), "cross_steps=1.5"),
    (dict(self_steps=-0.1), "self_steps=-0.1"),
    (dict(weights={"red": -1}), "must be a number >= 0"),
    (dict(weights={"blue": 2}), "'blue' is in none of the targets"),
    (dict(sources="a red circle", targets="a red circle", local_blend=True), "no edited word"),
])
def test_bad_edits_are_refused(tiny_pipe, kwargs, message):
    args = dict(sources="a red circle", targets="a red square")
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        PromptToPrompt(tiny_pipe, **args)
