"""AttentionAtlas lookups, its plots, and the faithfulness study's bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.diffusion.attention_capture import AttentionCapture
from explainer.explore.attention_atlas import AttentionAtlas
from explainer.explore.attention_maps import AttentionMaps

PROMPT = "a large red circle on the left and a small blue square on the right"


@pytest.fixture(scope="module")
def atlas_run(tiny_pipe):
    return tiny_pipe.text_to_image(PROMPT, negative_prompt="a green triangle", seed=3,
                                   num_steps=6, capture_attention=AttentionCapture())


def test_maps_are_77_times_a(atlas_run):
    atlas = AttentionAtlas(atlas_run.trace)
    raw = atlas_run.trace["steps.4.atlas.up1_transformer_1"]                  # [2, 1, 77, 4, 4]
    np.testing.assert_array_equal(atlas.map("circle", "up1_transformer_1", 4),
                                  raw[1, 0, 4].astype(np.float32) * 77)
    # the uncond branch reads the negative prompt's own tokens
    assert atlas.negative_words[1:-1] == ["a", "green", "triangle"]
    np.testing.assert_array_equal(
        atlas.map("green", "up1_transformer_1", 4, branch="uncond"),
        raw[0, 0, 2].astype(np.float32) * 77)
    shares = atlas.shares("up2_transformer_0", 0)
    assert abs(shares.sum() - 1.0) < 1e-2  # float16 rows summing to 1
    assert atlas.layer_label("up2_transformer_0") == "up 8x8 #0"
    assert atlas.layer_label("mid_transformer") == "mid 2x2"
    assert atlas.stack("red").shape == (7, len(atlas_run.trace.steps), 8, 8)


def test_word_map_default_is_the_faithful_choice(atlas_run):
    atlas = AttentionAtlas(atlas_run.trace)
    n = len(atlas_run.trace.steps)
    layers, steps = atlas.default()
    assert layers == ["down0_transformer_0", "up2_transformer_0", "up2_transformer_1"]
    assert steps == list(range(n // 2, n))
    expected = np.mean([[atlas.map("square", x, s) for s in steps] for x in layers], axis=(0, 1))
    np.testing.assert_allclose(atlas.word_map("square"), expected, rtol=1e-5)
    everything = atlas.word_map("square", layers="all", steps="all")       # DAAM's choice
    assert everything.shape == (8, 8) and not np.allclose(everything, atlas.word_map("square"))


def test_lookups_refuse_what_was_not_recorded(tiny_pipe):
    trace = tiny_pipe.text_to_image(PROMPT, seed=3, num_steps=3, scheduler="ddim",
                                    capture_attention=AttentionCapture(
                                        layers=("up2",), steps=(1,), tokens=(0, 4),
                                        branches="cond")).trace
    atlas = AttentionAtlas(trace)
    assert atlas.map("circle", "up2_transformer_0", 1).shape == (8, 8)
    with pytest.raises(ValueError, match="not recorded; the atlas has steps"):
        atlas.map("circle", "up2_transformer_0", 0)
    with pytest.raises(ValueError, match="not recorded; the atlas has positions"):
        atlas.map("red", "up2_transformer_0", 1)
    with pytest.raises(ValueError, match="no layer"):
        atlas.map("circle", "up1_transformer_0", 1)
    with pytest.raises(ValueError, match="branch='uncond' was not recorded"):
        atlas.map("circle", "up2_transformer_0", 1, branch="uncond")
    with pytest.raises(ValueError, match="heads=True"):
        atlas.map("circle", "up2_transformer_0", 1, head=0)
    with pytest.raises(ValueError, match="no attention atlas"):
        AttentionAtlas(tiny_pipe.text_to_image("a red circle", num_steps=1).trace)


def test_plots(atlas_run):
    from explainer.viz.attention_atlas import (atlas_layer_tokens, atlas_token_grid,
                                               faithfulness_plot)

    atlas = AttentionAtlas(atlas_run.trace)
    fig = atlas_token_grid(atlas, "circle", max_steps=4)
    assert len(fig.axes) == 7 * 4 + 1                       # layers x steps, one colour bar
    fig = atlas_layer_tokens(atlas, "up1_transformer_0")
    assert len(fig.axes) == 2 * len(atlas.words) + 1        # both branches, one colour bar
    fig = faithfulness_plot(np.random.default_rng(0).random((7, 5)), list("abcdefg"),
                            list(range(5)), "IoU", best=(2, 3))
    assert len(fig.axes) == 2


def test_faithfulness_every_layer_choice_is_daam(tiny_pipe):
    """The study's "every layer, every step" choice is lesson 11's map (the sum over every
    layer and step), so its IoU is what AttentionMaps gives from the level maps."""
    from explainer.drawn.dataset import IMAGE_SIZE
    from explainer.drawn.scene_scorer import regions, score_scene
    from explainer.drawn.scenes import Phrase, describe
    from explainer.explore.attention_maps import iou
    from explainer.shapes.faithfulness import measure_faithfulness
    from explainer.shapes.scene_eval import two_shape_scenes

    scenes = two_shape_scenes(6, seed=4100)
    study = measure_faithfulness(tiny_pipe, scenes, seed=7000, num_steps=6)
    words = len(study.word_kinds)
    assert words >= 4 and study.per_word.shape == (words, 7, 7)
    assert study.per_word.min() >= 0 and study.per_word.max() <= 1
    best = study.best_choice()
    assert best in study.choices and "every layer, every step" in study.choices
    # recompute the DAAM choice for the scored words from lesson 11's maps
    expected = []
    for k, scene in enumerate(scenes):
        phrases = tuple(Phrase.of(a) for a in scene.shapes)
        result = tiny_pipe.text_to_image(describe(phrases), seed=7000 + k, num_steps=6,
                                         capture_attention=True)
        score = score_scene(result.images[0], phrases)
        if not score.all:
            continue
        found, maps = regions(result.images[0]), AttentionMaps(result.trace)
        for j, p in enumerate(phrases):
            pieces = [w.rstrip("@") for w in maps.words]
            start = pieces.index("and") + 1 if j == 1 else 1
            for kind in ("shape", "colour"):
                mask = found[score.matched[j]]
                daam = maps.token(pieces.index(getattr(p, kind), start), "all", "all")
                top = AttentionMaps.top_mask(AttentionMaps.upsampled(daam, IMAGE_SIZE),
                                             mask.mean())
                expected.append(iou(top, mask))
    ours = study.choices["every layer, every step"][2]
    assert len(ours) == len(expected)
    # float16 atlas vs float32 level maps: a tie at the cut may move a pixel or two
    assert np.abs(ours - np.array(expected)).max() <= 0.05
    assert "best" in study.table() and "lesson 11 (DAAM)" in study.table()
