"""Trace: names, dotted lookup, keep=, nbytes, save/load without pickle."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.diffusion.trace import Trace


@pytest.fixture(scope="module")
def result(small_folder):
    from explainer.diffusion.loading import load_pipeline

    pipe = load_pipeline(weights=small_folder)
    return pipe, pipe.text_to_image("a red circle", seed=2, num_steps=4, scheduler="ddim")


def test_names_and_lookup(result):
    _, res = result
    trace = res.trace
    names = trace.names()
    assert {"context", "uncond_context", "initial_noise", "final_latents", "images"} <= set(names)
    assert "steps.3.eps_text" in names and len(trace.steps) == 4
    np.testing.assert_array_equal(trace["steps.2.pred_x0"], trace.steps[2].pred_x0)
    assert trace["steps.0.timestep"] == trace.timesteps[0]
    assert trace["context"].shape == (1, 77, 32)
    assert trace.stack("latents_out").shape == (4, 1, 16, 16, 4)
    with pytest.raises(KeyError, match="names"):
        trace["steps.0.nothing"]


def test_keep_bounds_memory(result):
    pipe, full = result
    lean = pipe.text_to_image("a red circle", seed=2, num_steps=4, scheduler="ddim", keep=())
    some = pipe.text_to_image("a red circle", seed=2, num_steps=4, scheduler="ddim",
                              keep=("pred_x0",))
    assert lean.trace.nbytes < some.trace.nbytes < full.trace.nbytes
    np.testing.assert_array_equal(lean.images, full.images)   # keep= changes nothing computed
    assert lean.trace.steps[0].coefficients == full.trace.steps[0].coefficients
    with pytest.raises(KeyError, match="not kept"):
        some.trace["steps.1.eps_text"]
    with pytest.raises(ValueError, match="unknown step tensors"):
        Trace(keep=("eps_txt",))


def test_save_load_round_trip(result, tmp_path):
    _, res = result
    path = res.trace.save(tmp_path / "run" / "trace.npz")
    loaded = Trace.load(path)
    assert loaded.names() == res.trace.names()
    for name in res.trace.names():
        np.testing.assert_array_equal(loaded[name], res.trace[name])
    assert loaded.metadata["prompts"] == ["a red circle"]
    assert loaded.metadata["scheduler"] == res.trace.metadata["scheduler"]
    assert loaded.tokens[0].pieces[:4] == ("<|startoftext|>", "a", "red", "circle")
    assert loaded.steps[1].coefficients == res.trace.steps[1].coefficients


def test_load_refuses_non_traces(tmp_path):
    bad = tmp_path / "x.npz"
    np.savez(bad, a=np.zeros(3))
    with pytest.raises(ValueError, match="not a trace"):
        Trace.load(bad)
    with pytest.raises(FileNotFoundError):
        Trace.load(tmp_path / "missing.npz")


def test_previews_round_trip(result, tmp_path):
    _, res = result
    trace = Trace.load(res.trace.save(tmp_path / "plain.npz"))
    assert trace.previews == {}                       # traces without previews still load
    rng = np.random.default_rng(0)
    pictures = {"latents_in": rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8),
                "pred_x0": rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)}
    trace.previews = dict(pictures)
    loaded = Trace.load(trace.save(tmp_path / "with_previews.npz"))
    assert sorted(loaded.previews) == ["latents_in", "pred_x0"]
    for row, expected in pictures.items():
        assert loaded.previews[row].dtype == np.uint8
        np.testing.assert_array_equal(loaded.previews[row], expected)
    assert loaded.names() == res.trace.names()        # previews are not step tensors
    with pytest.raises(ValueError, match="previews="):
        Trace(previews={"x_t": pictures["pred_x0"]})
