"""The shipped tiny-shapes model: it loads with no argument, is small, and still scores what its
model card publishes (re-scored here on a fixed subset of the published images)."""

from __future__ import annotations

import json
import math

import pytest

import explainer
from explainer.assets import asset_path
from explainer.models.configs import PRESETS
from explainer.shapes import all_attributes
from explainer.shapes.evaluate import GUIDANCE_SCALES, evaluate, subset
from sampling import sampling_tolerance

FOLDER = asset_path("tiny-shapes")
PUBLISHED = json.loads((FOLDER / "scores.json").read_text())
DEFAULT = PRESETS["tiny-shapes"].default_guidance
ATTRIBUTES = ("colour", "size", "shape", "position")


@pytest.fixture(scope="module")
def pipe():
    return explainer.load_pipeline()  # no argument: the embedded default


@pytest.fixture(scope="module")
def rescored(pipe):
    # seed 1000 is the first of the two published seeds: these are published images, redrawn
    held_out = [a for a in all_attributes() if a.held_out][::3]                    # 10 of 30
    return evaluate(pipe, subset(24) + held_out, [1000], scales=SCALES)


SCALES = (DEFAULT, 1.0, 7.5)


def test_default_pipeline_is_the_shipped_model(pipe):
    assert pipe.preset == "tiny-shapes"
    assert pipe.models.folder.resolve() == FOLDER.resolve()
    assert pipe.default_size == 64
    assert pipe.default_guidance == DEFAULT == 2.0  # the measured best (MODEL_CARD.md)
    total = sum(f.stat().st_size for f in FOLDER.rglob("*") if f.is_file())
    assert total <= 25e6, f"assets/tiny-shapes is {total / 1e6:.1f} MB; the budget is 25 MB"
    # the card publishes what the folder holds: >= 300 canonical-prompt images per scale
    for scale in ("1.0", "3.0", "7.5", str(DEFAULT)):
        assert PUBLISHED[scale]["seen"]["n"] >= 300
    assert {"MODEL_CARD.md", "samples.png"} <= {f.name for f in FOLDER.iterdir()}
    # the card's evaluate command scores exactly its table's rows, the default guidance included
    assert sorted(PUBLISHED, key=float) == [str(s) for s in GUIDANCE_SCALES]


def test_published_scores_meet_the_targets():
    seen, held = PUBLISHED[str(DEFAULT)]["seen"], PUBLISHED[str(DEFAULT)]["held_out"]
    assert seen["colour"] >= 0.95 and seen["size"] >= 0.90 and seen["shape"] >= 0.90
    assert seen["position"] >= 0.80 and held["colour+shape"] >= 0.70


@pytest.mark.parametrize("scale", SCALES)
def test_subset_rescores_as_published(rescored, scale):
    got, published = rescored[str(scale)], PUBLISHED[str(scale)]
    assert got["seen"]["n"] == 24
    for name in ATTRIBUTES + ("all",):
        p = published["seen"][name]
        assert abs(got["seen"][name] - p) <= sampling_tolerance(p, 24), (name, got, published)
    p = published["held_out"]["colour+shape"]
    n = got["held_out"]["n"]
    assert abs(got["held_out"]["colour+shape"] - p) <= sampling_tolerance(p, n), (got, published)


def test_guidance_matters(rescored):
    # Published, 300 images per scale: the default beats no guidance (scale 1) by more than
    # 2 standard errors of the difference, and too much guidance (7.5) wrecks the pictures:
    # more than 30 points lost (tiny-shapes 2: 100 % -> 59.7 %; tiny-shapes 1 lost 85 points).
    all_four = {s: PUBLISHED[str(s)]["seen"]["all"] for s in SCALES}
    se = math.sqrt(sum(all_four[s] * (1 - all_four[s]) / 300 for s in (DEFAULT, 1.0)))
    assert all_four[DEFAULT] - all_four[1.0] > 2 * se, all_four
    assert all_four[DEFAULT] - all_four[7.5] > 0.3, all_four
    # re-measured on the subset (24 images: 100 % -> 50 % here), the loss at 7.5 must show too
    assert rescored[str(DEFAULT)]["seen"]["all"] - rescored["7.5"]["seen"]["all"] > 0.3, rescored
