"""The attention atlas: what a selection records, its size before the run, the refusal of a
selection that cannot fit, and the trace contract. Tests named *trace* also run on JAX and
PyTorch in `make test`."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.diffusion.attention_capture import AttentionCapture
from explainer.diffusion.trace import Trace
from explainer.explore.attention_atlas import AttentionAtlas
from explainer.models.configs import PRESETS

PROMPT = "a large red circle on the left and a small blue square on the right"


def test_sd15_default_atlas_size_is_known_before_any_weight():
    """16 cross-attention layers at 512²: 5 at each of 64², 32², 16² and the middle's 8²,
    77 tokens, both branches, 20 steps, float16."""
    sd = PRESETS["sd-v1-5"].unet
    pixels = 5 * (64 * 64 + 32 * 32 + 16 * 16) + 8 * 8
    assert AttentionCapture().nbytes(sd, 512, 512, 20) == pixels * 77 * 2 * 20 * 2
    assert "166.0 MB" in AttentionCapture().describe(sd, 512, 512, 20)
    heads = AttentionCapture(heads=True).nbytes(sd, 512, 512, 20)
    assert heads == 8 * AttentionCapture().nbytes(sd, 512, 512, 20)
    small = AttentionCapture(layers=("up1",), steps=(0, -1), tokens=(1, 2), branches="cond")
    assert small.nbytes(sd, 512, 512, 20) == 3 * 16 * 16 * 2 * 2 * 2   # up1: 3 layers at 16²
    with pytest.raises(MemoryError, match="budget_mb=100"):
        AttentionCapture(budget_mb=100).check_fits(AttentionCapture().nbytes(sd, 512, 512, 20))
    with pytest.raises(MemoryError, match="MB available"):
        AttentionCapture().check_fits(10**9, available=10**8)


@pytest.mark.parametrize("bad, message", [
    (dict(tokens=(77,)), "positions 0..76"), (dict(tokens=()), "positions 0..76"),
    (dict(steps=("first",)), "step indices"), (dict(branches=("both",)), "branches"),
    (dict(heads="yes"), "True or False"), (dict(budget_mb=0), "budget_mb"),
])
def test_bad_selections_are_refused(bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        AttentionCapture(**bad)


def test_run_refuses_before_any_step(tiny_pipe):
    calls = tiny_pipe.unet.compilations.copy()
    with pytest.raises(MemoryError, match="over budget_mb"):
        tiny_pipe.text_to_image("a red circle", capture_attention=AttentionCapture(budget_mb=0.1))
    with pytest.raises(ValueError, match="match no cross-attention layer"):
        tiny_pipe.text_to_image("a red circle", capture_attention=AttentionCapture(layers=("up9",)))
    with pytest.raises(ValueError, match="out of range for a run of 3 steps"):
        tiny_pipe.text_to_image("a red circle", num_steps=3, scheduler="ddim",
                                capture_attention=AttentionCapture(steps=(5,)))
    with pytest.raises(ValueError, match="add 'atlas' to keep"):
        tiny_pipe.text_to_image("a red circle", capture_attention=AttentionCapture(),
                                keep=("eps",))
    with pytest.raises(ValueError, match="not an AttentionCapture"):
        tiny_pipe.text_to_image("a red circle", keep=("atlas",))
    assert tiny_pipe.unet.compilations == calls  # nothing ran


def test_atlas_trace_matches_the_level_maps(tiny_pipe, tmp_path):
    """Each layer's atlas map, summed over the layers of a level, is lesson 11's level map;
    recording changes nothing downstream; the atlas saves and loads."""
    plain = tiny_pipe.text_to_image(PROMPT, seed=3, num_steps=4, capture_attention=True)
    atlas_run = tiny_pipe.text_to_image(PROMPT, seed=3, num_steps=4,
                                        capture_attention=AttentionCapture())
    assert np.array_equal(plain.images, atlas_run.images)
    plan = atlas_run.trace.metadata["atlas"]
    assert len(plan["layers"]) == 7 and plan["tokens"] == list(range(77))
    assert plan["nbytes"] == sum(v.nbytes for s in atlas_run.trace.steps for v in s.atlas.values())
    step = atlas_run.trace.steps[2]
    assert step.atlas["up2_transformer_1"].shape == (2, 1, 77, 8, 8)
    assert step.atlas["mid_transformer"].dtype == np.float16
    level_8 = sum(step.atlas[name][1, 0].astype(np.float32) for name in
                  ("down0_transformer_0", "up2_transformer_0", "up2_transformer_1"))
    # float16 storage: 3 layers x ~2^-11 relative rounding of values below 1
    np.testing.assert_allclose(level_8, plain.trace.steps[2].cross_attention_levels["8x8"][0],
                               atol=3e-3)
    # every pixel's row over the 77 tokens sums to 1 in each branch, to float16 rounding
    np.testing.assert_allclose(step.atlas["up1_transformer_0"].astype(np.float32).sum(axis=2),
                               1.0, atol=2e-2)
    path = atlas_run.trace.save(tmp_path / "atlas.npz")
    loaded = Trace.load(path)
    assert np.array_equal(loaded["steps.2.atlas.up1_transformer_0"],
                          step.atlas["up1_transformer_0"])
    assert AttentionAtlas(loaded).layers == plan["layers"]


def test_selection_records_only_what_it_names(tiny_pipe):
    capture = AttentionCapture(layers=("up",), steps=(0, -1), tokens=(0, 3, 4),
                               branches="cond", heads=True)
    result = tiny_pipe.text_to_image([PROMPT, "a green triangle"], seed=5, num_steps=4,
                                     scheduler="ddim", capture_attention=capture, keep=("atlas",))
    recorded = [s.index for s in result.trace.steps if s.atlas]
    assert recorded == [0, 3] and result.trace.steps[0].eps is None
    values = result.trace["steps.3.atlas.up1_transformer_0"]
    assert values.shape == (1, 2, 4, 3, 4, 4)  # cond only, 2 images, 4 heads, 3 tokens, 4x4
    assert sorted(result.trace.steps[0].atlas) == ["up1_transformer_0", "up1_transformer_1",
                                                   "up2_transformer_0", "up2_transformer_1"]
    full = tiny_pipe.text_to_image([PROMPT, "a green triangle"], seed=5, num_steps=4,
                                   scheduler="ddim", capture_attention=AttentionCapture())
    mean = full.trace["steps.3.atlas.up1_transformer_0"][1][:, [0, 3, 4]]     # [2, 3, 4, 4]
    np.testing.assert_allclose(values[0].astype(np.float32).mean(axis=1), mean, atol=2e-3)
