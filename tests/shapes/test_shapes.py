"""The shapes dataset, its scorer, and the quick training path."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from explainer.shapes import (
    COLOURS,
    HELD_OUT,
    POSITIONS,
    SHAPES,
    SIZES,
    Attributes,
    ShapesDataset,
    accuracy,
    all_attributes,
    caption,
    draw,
    measure,
    score,
)


def test_dataset_is_deterministic_and_excludes_held_out():
    a = ShapesDataset(seed=3).batch(5, 64)
    b = ShapesDataset(seed=3).batch(5, 64)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    assert not any(x.held_out for x in a[2])
    assert len(all_attributes()) == 180 and len(all_attributes(False)) == 180 - 3 * 2 * 5
    images, captions, attrs = ShapesDataset(seed=0, uncond_prob=0.5).batch(0, 200)
    assert 60 < sum(c == "" for c in captions) < 140
    assert images.shape == (200, 64, 64, 3) and images.dtype == np.uint8


def test_canonical_caption_and_draw():
    attrs = Attributes("circle", "red", "small", "left")
    assert caption(attrs) == "a small red circle on the left"
    assert caption(Attributes("square", "blue", "large", "center")) == \
        "a large blue square in the center"
    image = draw(attrs)
    assert image.shape == (64, 64, 3) and image[32, 17].tolist() == [255, 0, 0]
    assert image[32, 47].tolist() == [0, 0, 0]                 # background is black
    with pytest.raises(ValueError, match="colour='pink'"):
        Attributes("circle", "pink", "small", "left")


def test_scorer_is_right_on_drawn_images():
    images, _, attrs = ShapesDataset(seed=11, include_held_out=True).batch(0, 900)
    acc = accuracy(images, attrs)
    for name in ("colour", "size", "shape", "position"):
        assert acc[name] >= 0.99, acc        # the bar for the scorer itself


def test_scorer_sees_wrong_attributes():
    image = draw(Attributes("triangle", "green", "large", "top"), rng=1)
    wrong = score(image, Attributes("square", "purple", "small", "bottom"))
    assert not (wrong.colour or wrong.size or wrong.shape or wrong.position)
    assert measure(image) == Attributes("triangle", "green", "large", "top")
    empty = score(np.zeros((64, 64, 3), np.uint8), Attributes("circle", "red", "small", "left"))
    assert not empty.all and empty.measured is None


def test_every_attribute_value_is_measurable():
    for shape in SHAPES:
        for colour in COLOURS:
            for size in SIZES:
                for position in POSITIONS:
                    a = Attributes(shape, colour, size, position)
                    assert measure(draw(a)) == a, a


def test_held_out_pairs_are_named():
    assert ("purple", "triangle") in HELD_OUT and len(HELD_OUT) == 3


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_quick_training_writes_a_loadable_model(tmp_path, monkeypatch):
    import explainer.shapes.train as train
    from explainer.diffusion.loading import load_pipeline

    # what an interruption right after the diffusion checkpoint of step 3 (of 6) leaves on
    # disk is copied aside during the run, so one training gives both the uninterrupted
    # result and the state to resume from
    save, again = train._save_checkpoint, tmp_path / "again"

    def save_and_copy_at_step_3(path, step, variables, optimizer):
        save(path, step, variables, optimizer)
        if path.name == "diffusion.npz" and step == 3:
            shutil.copytree(path.parent, again / "checkpoints")

    monkeypatch.setattr(train, "_save_checkpoint", save_and_copy_at_step_3)
    assert train.main(["--out", str(tmp_path), "--quick", "--quiet"]) == 0
    monkeypatch.setattr(train, "_save_checkpoint", save)
    folder = tmp_path / "tiny-shapes"
    report = json.loads((folder / "training.json").read_text())
    assert report["config"]["steps"] == 6 and report["scaling_factor"] > 0
    assert report["backend"]["backend"] and report["peak_rss_gib"] > 0
    pipe = load_pipeline("tiny-shapes", weights=folder)   # the real loader, preset-checked
    result = pipe.text_to_image("a small red circle on the left", num_steps=3)
    assert result.images.shape == (1, 64, 64, 3)
    weights = {p.relative_to(folder): digest(p) for p in folder.rglob("*.safetensors")}
    assert len(weights) == 3
    # resuming a finished run changes nothing
    assert train.main(["--out", str(tmp_path), "--quick", "--quiet", "--resume"]) == 0
    assert {p: digest(folder / p) for p in weights} == weights
    # resuming the interrupted state (fresh networks, read from the checkpoints): the same
    # bytes as the uninterrupted run
    assert not (again / "tiny-shapes").exists()
    assert train.main(["--out", str(again), "--quick", "--quiet", "--resume"]) == 0
    assert {p: digest(again / "tiny-shapes" / p) for p in weights} == weights


def test_train_step_counts(tmp_path, capsys):
    from explainer.shapes.train import TrainConfig, config_from, main

    full = TrainConfig()
    assert config_from(False, 0) == full
    shorter = config_from(False, 3, steps=1800, vae_steps=1300)
    assert (shorter.steps, shorter.vae_steps, shorter.seed) == (1800, 1300, 3)
    assert shorter.batch == full.batch and shorter.lr == full.lr
    tuned = config_from(False, 0, vae_from="assets/tiny-shapes")      # the VAE fine-tuned
    assert (tuned.vae_steps, tuned.vae_lr, tuned.vae_warmup) == (400, 5e-4, 50)
    assert tuned.steps == full.steps
    for flag in ("--steps", "--vae-steps"):
        with pytest.raises(SystemExit) as exit_:
            main(["--out", str(tmp_path / "run"), flag, "0"])       # refused before any work
        assert exit_.value.code == 2 and f"{flag} 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["--out", str(tmp_path / "run"), "--vae-from", str(tmp_path)])  # no vae/ there
    assert exit_.value.code == 2 and "no vae/ folder" in capsys.readouterr().err
    (tmp_path / "vae").mkdir()
    with pytest.raises(SystemExit) as exit_:
        main(["--out", str(tmp_path / "run"), "--init-from", str(tmp_path)])  # vae/ only
    assert exit_.value.code == 2 and "no text_encoder/ folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["--out", str(tmp_path / "run"), "--init-from", "assets/tiny-shapes",
              "--vae-from", "assets/tiny-shapes"])
    assert exit_.value.code == 2 and "not both" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_init_from_trains_on_from_the_folders_weights(tmp_path):
    """One step at the warm-up's first learning rate (1e-5) leaves every network next to the
    weights it started from; a model built from scratch is nowhere near them."""
    from explainer.shapes.train import main
    from explainer.weights import load_models

    assert main(["--out", str(tmp_path), "--quick", "--quiet", "--steps", "1", "--vae-steps", "1",
                 "--init-from", "assets/tiny-shapes"]) == 0
    start, after = load_models("assets/tiny-shapes"), load_models(tmp_path / "tiny-shapes")
    for part in ("text_encoder", "unet", "vae"):
        moved = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                    for a, b in zip(getattr(after, part).weights, getattr(start, part).weights))
        # Adam's first step moves each weight by about lr = 1e-5 (VAE: 2e-5); both folders
        # store float16, so a weight reads back within one float16 step of where it started
        # (<= 1e-3 for |w| < 1). A fresh initialisation differs by 0.1 or more somewhere.
        assert moved < 1e-3, (part, moved)


def test_evaluate_refuses_bad_arguments_before_loading(capsys):
    from explainer.shapes.evaluate import main

    for argv, named in ((["--seeds", "0"], "--seeds 0"), (["--guidance", "nan"], "--guidance nan")):
        with pytest.raises(SystemExit) as exit_:
            main(argv)                                   # refused before any model is loaded
        assert exit_.value.code == 2 and named in capsys.readouterr().err
