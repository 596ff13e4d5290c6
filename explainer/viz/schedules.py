"""Noise schedules: how much signal is left at each training timestep, and which timesteps a
scheduler visits when it samples in a few steps.

Three panels, for one or several schedulers:

1. ᾱ_t for t = 0..T-1: the share of the clean latent's variance still in x_t;
2. σ_t = √((1 − ᾱ_t)/ᾱ_t), log scale: the noise-to-signal ratio (σ-space methods step in it),
   with each scheduler's chosen timesteps marked on the curve;
3. the chosen timesteps themselves, one row per scheduler: their spacing ("leading",
   "trailing", "linspace", or Karras's σ ramp) and where they start and stop.
"""

from __future__ import annotations

import copy

import numpy as np

from explainer.viz.figure import new_figure

DEFAULT_STEPS = 50  # when a scheduler's timesteps were never set


def _schedulers(schedulers) -> list:
    from explainer.schedulers import make_scheduler

    items = list(schedulers) if isinstance(schedulers, (list, tuple)) else [schedulers]
    if not items:
        raise ValueError("no scheduler given; pass one or a list, e.g. [make_scheduler('ddim'), "
                         "make_scheduler('euler')]")
    out = []
    for item in items:
        if isinstance(item, str):
            item = make_scheduler(item)
        if not (hasattr(item, "alpha_bar") and hasattr(item, "config")
                and hasattr(item, "set_timesteps")):
            raise TypeError(f"{type(item).__name__} is not a scheduler; pass explainer schedulers "
                            "(explainer.schedulers.make_scheduler(name, config)) or their names")
        out.append(item)
    return out


def chosen_timesteps(scheduler, num_steps: int | None = None) -> np.ndarray:
    """The timesteps ``scheduler`` visits for ``num_steps`` steps, without changing it.

    ``num_steps=None`` keeps the scheduler's current timesteps (50 if never set). The
    scheduler passed in is not modified: a copy is set up. PNDM with its Runge-Kutta warm-up
    (``skip_prk_steps=False``) visits some timesteps twice, so it returns more than
    ``num_steps`` of them.
    """
    if num_steps is None and scheduler.timesteps is not None:
        return np.asarray(scheduler.timesteps)
    probe = copy.deepcopy(scheduler)
    probe.set_timesteps(DEFAULT_STEPS if num_steps is None else num_steps)
    return np.asarray(probe.timesteps)


def schedule_curves(schedulers, num_steps: int | None = None, title: str | None = None):
    """ᾱ_t, σ_t and the chosen timesteps of one scheduler or several (see the module doc).

    Args:
        schedulers: an explainer scheduler, a name ("ddim"), or a list of them.
        num_steps: sampling steps for the timesteps panel; None keeps each scheduler's own
            (50 if it was never set). The schedulers passed in are not modified.
    """
    from explainer.schedulers import sigmas_from

    items = _schedulers(schedulers)
    fig, axes = new_figure(1, 3, width=13, height=3.6)
    ax_ab, ax_sigma, ax_steps = axes[0]
    for k, s in enumerate(items):
        colour = f"C{k % 10}"
        t_all = np.arange(len(s.alpha_bar))                                 # [T]
        sigma = sigmas_from(s.alpha_bar)                                    # σ_t  [T]
        chosen = chosen_timesteps(s, num_steps)                             # [num_steps]
        steps = num_steps or (s.num_steps if s.timesteps is not None else DEFAULT_STEPS)
        label = f"{_name(s)} ({spacing_of(s)}, {steps} steps)"
        ax_ab.plot(t_all, s.alpha_bar, color=colour, lw=1.5, label=label)
        ax_sigma.plot(t_all, sigma, color=colour, lw=1.5, label=label)
        ax_sigma.plot(chosen, np.interp(chosen, t_all, sigma), "o", color=colour, ms=3)
        ax_steps.plot(chosen, np.full(len(chosen), k), "|", color=colour, ms=12, mew=1.5)
    ax_ab.set(xlabel="timestep t", ylabel="ᾱ_t", title="signal kept: ᾱ_t")
    ax_sigma.set(xlabel="timestep t", ylabel="σ_t", yscale="log",
                 title="noise-to-signal σ_t = √((1−ᾱ_t)/ᾱ_t)")
    ax_steps.set(xlabel="timestep t", xlim=ax_ab.get_xlim(), ylim=(-0.7, len(items) - 0.3),
                 title="timesteps visited")
    ax_steps.set_yticks(range(len(items)), [_name(s) for s in items])
    ax_steps.invert_yaxis()
    ax_ab.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def spacing_of(scheduler) -> str:
    """How a scheduler picks its steps: its timestep spacing, or "karras" when it spaces σ
    by Karras et al.'s ρ = 7 ramp instead (schedulers/timesteps.py)."""
    if getattr(scheduler, "use_karras_sigmas", False):
        return "karras"
    return scheduler.config.timestep_spacing


def _name(scheduler) -> str:
    return getattr(scheduler, "label", None) or getattr(scheduler, "name", type(scheduler).__name__)
