"""Schedulers: configs (folders, diffusers' class names, unported values), validation, state."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from scheduler_parity import REFERENCE, SD15, SHAPE, run_parity  # noqa: E402

from explainer.schedulers import (  # noqa: E402
    DIFFUSERS_CLASSES, SCHEDULERS, EulerScheduler, PNDMScheduler, SchedulerConfig,
    make_scheduler,
)


# -- configs -------------------------------------------------------------------------------


def test_from_config_on_sd15_folder_config():
    ours = PNDMScheduler.from_config(SD15)
    ref = diffusers.PNDMScheduler.from_config(SD15)
    assert ours.config == SchedulerConfig()                    # our defaults are SD v1.5's
    for key in ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "steps_offset",
                "timestep_spacing", "prediction_type", "set_alpha_to_one", "skip_prk_steps"):
        assert getattr(ours.config, key) == ref.config[key], key
    ours.set_timesteps(50)
    ref.set_timesteps(50)
    np.testing.assert_array_equal(ours.timesteps, ref.timesteps.numpy())
    assert len(ours.timesteps) == 51 and ours.timesteps[1] == ours.timesteps[2] == 961
    config = ours.get_config()
    assert config["_class_name"] == "PNDMScheduler"
    assert PNDMScheduler.from_config(config).config == ours.config   # round trip


def test_make_scheduler_euler_from_sd15_matches_diffusers():
    ours = make_scheduler("euler", SD15)
    pndm_config = diffusers.PNDMScheduler.from_config(SD15).config   # the folder, loaded
    ref = diffusers.EulerDiscreteScheduler.from_config(pndm_config)
    # keys the folder gave are taken; the rest are Euler's own defaults (spacing "linspace"),
    # because diffusers remembers which of PNDM's values were defaults (_use_default_values)
    assert ours.config.timestep_spacing == ref.config.timestep_spacing == "linspace"
    assert ours.config.steps_offset == ref.config.steps_offset == 1
    assert isinstance(ours, EulerScheduler)
    assert type(make_scheduler("EulerDiscreteScheduler", SD15)) is EulerScheduler
    run_parity("euler", 50, config=dict(pndm_config))


def test_use_default_values_key_is_honoured():
    """A diffusers config dict lists its defaulted keys: those are not carried over."""
    pndm_config = dict(diffusers.PNDMScheduler.from_config(SD15).config)
    assert "timestep_spacing" in pndm_config["_use_default_values"]
    ours = make_scheduler("dpm++2m", pndm_config)
    ref = diffusers.DPMSolverMultistepScheduler.from_config(pndm_config)
    assert ours.config.timestep_spacing == ref.config.timestep_spacing == "linspace"


def test_class_name_map_and_names():
    assert set(SCHEDULERS) == {"ddim", "pndm", "euler", "euler-ancestral", "lms", "dpm++2m"}
    for name, cls in SCHEDULERS.items():
        assert DIFFUSERS_CLASSES[cls.diffusers_name] is cls
        assert REFERENCE[name].__name__ == cls.diffusers_name
        assert cls.name == name


def test_unknown_scheduler_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="ddim.*pndm.*euler.*dpm\\+\\+2m.*dpm\\+\\+2m-karras"):
        make_scheduler("ddpm")
    with pytest.raises(ValueError, match="unknown scheduler"):
        make_scheduler(None)


@pytest.mark.parametrize("name, key, value", [
    ("dpm++2m", "solver_order", 3), ("dpm++2m", "algorithm_type", "sde-dpmsolver++"),
    ("dpm++2m", "use_exponential_sigmas", True), ("euler", "use_beta_sigmas", True),
    ("euler", "interpolation_type", "log_linear"), ("ddim", "thresholding", True),
    ("ddim", "trained_betas", [0.1] * 1000), ("lms", "use_exponential_sigmas", True),
    ("euler-ancestral", "rescale_betas_zero_snr", True), ("euler", "sigma_min", 0.1),
    ("dpm++2m", "final_sigmas_type", "denoise_to_zero"), ("dpm++2m", "lower_order_final", 1)])
def test_unported_config_values_are_refused(name, key, value):
    with pytest.raises(ValueError, match=re.escape(f"{key}={value!r}"[:30])):
        make_scheduler(name, {**SD15, key: value})


def test_keys_not_read_are_named_and_unknown_ones_warned():
    """A folder's PNDM config builds Euler without a warning (clip_sample, solver_order, ...
    belong to other methods, as diffusers' compatible schedulers treat them), and lists them
    in ``ignored_config``; a key no scheduler here reads is named in a warning too, so a
    learner sees what had no effect."""
    config = {**SD15, "clip_sample": True, "use_karras_sigmas": False, "solver_order": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = make_scheduler("euler", config)
        make_scheduler("pndm", SD15)                               # SD's own: clip_sample
    assert ours.config.timestep_spacing == "linspace"
    assert sorted(ours.ignored_config) == ["clip_sample", "set_alpha_to_one", "skip_prk_steps",
                                           "solver_order"]
    with pytest.warns(UserWarning, match="EulerScheduler does not read "
                                         "dynamic_thresholding_ratio, some_future_key"):
        make_scheduler("euler", {**config, "some_future_key": 3,
                                 "dynamic_thresholding_ratio": 0.995})


def test_diffusers_own_config_keys_that_nothing_reads_are_warned():
    """diffusers' DPM config (as its JSON file holds it) has keys ours never reads, because
    the values that would use them are refused: they are named, not dropped silently."""
    config = {key: value for key, value in diffusers.DPMSolverMultistepScheduler().config.items()
              if key != "_use_default_values"}
    with pytest.warns(UserWarning) as caught:
        ours = make_scheduler("dpm++2m", config)
    message = str(caught[0].message)
    for key in ("dynamic_thresholding_ratio", "sample_max_value", "flow_shift"):
        assert key in message and key in ours.ignored_config
    for key in ("use_karras_sigmas", "lower_order_final", "beta_schedule", "solver_order"):
        assert key not in message and key not in ours.ignored_config   # read or checked


def test_bad_config_values_name_the_key():
    with pytest.raises(ValueError, match="timestep_spacing='middle'"):
        SchedulerConfig(timestep_spacing="middle")
    with pytest.raises(ValueError, match="beta_schedule='cosine'"):
        make_scheduler("ddim", {"beta_schedule": "cosine"})


# -- validation and state --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
@pytest.mark.parametrize("num_steps, error", [(0, ValueError), (-3, ValueError),
                                               (1001, ValueError), (2.5, TypeError),
                                               (True, TypeError), ("50", TypeError)])
def test_set_timesteps_validates_num_steps(name, num_steps, error):
    with pytest.raises(error, match=str(num_steps) if error is ValueError else "integer"):
        make_scheduler(name, SD15).set_timesteps(num_steps)


@pytest.mark.parametrize("name, config, n, match", [
    ("ddim", {"timestep_spacing": "leading"}, 1000, "timestep 1000"),     # offset 1 -> t=1000
    ("dpm++2m", {"timestep_spacing": "leading"}, 999, "timestep 1000"),
    ("euler", {"timestep_spacing": "trailing"}, 61, "timestep -1"),       # np.arange rounding
    ("pndm", {"skip_prk_steps": False}, 3, "num_steps >= 4"),
])
def test_timesteps_outside_the_trained_range_are_refused(name, config, n, match):
    with pytest.raises(ValueError, match=match):
        make_scheduler(name, {**SD15, **config}).set_timesteps(n)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_step_before_set_timesteps_says_what_to_do(name):
    scheduler = make_scheduler(name, SD15)
    x = np.zeros(SHAPE, np.float32)
    with pytest.raises(RuntimeError, match="set_timesteps"):
        scheduler.step(x, 981, x, noise=x)


@pytest.mark.parametrize("name", ["euler", "euler-ancestral", "lms", "dpm++2m"])
def test_index_counting_steps_must_follow_the_timesteps(name):
    """σ-space and DPM steps count calls: a repeated or skipped t is refused, not misread."""
    scheduler = make_scheduler(name, SD15)
    x = np.zeros(SHAPE, np.float32)
    with pytest.raises(RuntimeError, match="set_timesteps"):
        scheduler.scale_model_input(x, 981) if name != "dpm++2m" else scheduler.step(x, 981, x)
    scheduler.set_timesteps(5)
    t0, t1 = scheduler.timesteps[:2]
    scheduler.step(x, t0, x, noise=x)
    with pytest.raises(ValueError, match=f"expects t={t1}"):
        scheduler.step(x, t0, x, noise=x)                          # the same t again
    for t in scheduler.timesteps[1:]:
        scheduler.step(x, t, x, noise=x)
    with pytest.raises(RuntimeError, match="all 5 steps are done"):
        scheduler.step(x, t0, x, noise=x)


@pytest.mark.parametrize("name", ["ddim", "euler-ancestral"])
def test_stochastic_steps_need_noise(name):
    scheduler = make_scheduler(name, SD15, **({"eta": 1.0} if name == "ddim" else {}))
    assert scheduler.stochastic
    scheduler.set_timesteps(5)
    x = np.zeros(SHAPE, np.float32)
    with pytest.raises(ValueError, match="noise"):
        scheduler.step(x, scheduler.timesteps[0], x)


def test_only_stochastic_schedulers_say_so():
    flags = {name: make_scheduler(name, SD15).stochastic for name in SCHEDULERS}
    assert flags == {name: name == "euler-ancestral" for name in SCHEDULERS}


def test_set_timesteps_restarts_the_run():
    """Multistep history is per run: a second run with the same inputs gives the same outputs."""
    for name in ("pndm", "lms", "dpm++2m"):
        scheduler = make_scheduler(name, SD15)
        runs = []
        for _ in range(2):
            scheduler.set_timesteps(6)
            rng = np.random.default_rng(1)
            x = rng.standard_normal(SHAPE).astype(np.float32)
            for t in scheduler.timesteps:
                x = scheduler.step(rng.standard_normal(SHAPE).astype(np.float32), t, x).prev_sample
            runs.append(x)
        np.testing.assert_array_equal(runs[0], runs[1])


def test_shape_mismatch_is_refused():
    scheduler = make_scheduler("ddim", SD15)
    scheduler.set_timesteps(5)
    with pytest.raises(ValueError, match="shape"):
        scheduler.step(np.zeros((1, 4, 8, 8)), 801, np.zeros(SHAPE))



def test_sigma_grid_has_one_rule_before_and_during_a_run():
    """σ-space methods and DPM keep ``sigmas`` the same way: every training σ, descending, then
    0 ([T + 1]) before a run; the run's σs and its final σ ([n + 1]) after set_timesteps."""
    for name in ("euler", "euler-ancestral", "lms", "dpm++2m"):
        scheduler = make_scheduler(name, SD15)
        assert scheduler.sigmas.shape == (1001,) and scheduler.sigmas[-1] == 0, name
        assert np.all(np.diff(scheduler.sigmas) < 0), name
        scheduler.set_timesteps(10)
        assert scheduler.sigmas.shape == (11,) and scheduler.sigmas[-1] == 0, name
        assert scheduler.sigmas.dtype == np.float32, name
