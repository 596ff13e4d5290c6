"""Schedulers: how the UNet's noise prediction at t becomes the latents of the next timestep.

One file per method, each a numpy port of the diffusers scheduler of the same name, matching
it to float32 rounding (tests/schedulers/test_schedulers.py checks it step by step):

    scheduler.set_timesteps(50)
    x = noise * scheduler.init_noise_sigma                          # x_T
    for t in scheduler.timesteps:
        eps = unet(scheduler.scale_model_input(x, t), t, context)   # ε_θ(x_t, t)
        out = scheduler.step(eps, t, x, noise=z if scheduler.stochastic else None)
        x = out.prev_sample                                         # x_{t-1}; also out.pred_x0

``make_scheduler("euler", folder_config)`` builds one from a diffusers ``scheduler_config.json``
dict the way diffusers' ``EulerDiscreteScheduler.from_config(config)`` does.
"""

from __future__ import annotations

from explainer.schedulers.base import (Scheduler, SchedulerConfig, StepOutput, noise_schedule,
                                       sigmas_from)
from explainer.schedulers.sigma_scheduler import SigmaScheduler
from explainer.schedulers.ddim import DDIMScheduler
from explainer.schedulers.dpm_solver import DPMSolverPP2MScheduler
from explainer.schedulers.euler import EulerScheduler
from explainer.schedulers.euler_ancestral import EulerAncestralScheduler
from explainer.schedulers.lms import LMSScheduler
from explainer.schedulers.pndm import PNDMScheduler

SCHEDULERS: dict[str, type[Scheduler]] = {
    "ddim": DDIMScheduler,
    "pndm": PNDMScheduler,
    "euler": EulerScheduler,
    "euler-ancestral": EulerAncestralScheduler,
    "lms": LMSScheduler,
    "dpm++2m": DPMSolverPP2MScheduler,
}

# The names Stable Diffusion users know for a method with an option set -> (method, options)
VARIANTS: dict[str, tuple[str, dict]] = {
    "dpm++2m-karras": ("dpm++2m", {"use_karras_sigmas": True}),     # "DPM++ 2M Karras"
    "euler-karras": ("euler", {"use_karras_sigmas": True}),
    "lms-karras": ("lms", {"use_karras_sigmas": True}),
}
SCHEDULER_NAMES: tuple[str, ...] = (*SCHEDULERS, *VARIANTS)   # every name make_scheduler takes

# diffusers' class names (a scheduler_config.json's "_class_name") -> our classes
DIFFUSERS_CLASSES: dict[str, type[Scheduler]] = {cls.diffusers_name: cls
                                                 for cls in SCHEDULERS.values()}


def make_scheduler(name_or_class_name: str, folder_config: dict | None = None,
                   **options) -> Scheduler:
    """A scheduler by our name ("euler"), a variant's ("dpm++2m-karras": DPM++ 2M with Karras
    σs) or diffusers' class name ("EulerDiscreteScheduler").

    ``folder_config`` (a model folder's scheduler_config.json, any class) gives the schedule:
    its keys where present, this method's own diffusers defaults otherwise, exactly as
    ``diffusers.EulerDiscreteScheduler.from_config(folder_config)``: so a name means the same
    arithmetic in both libraries. ``options`` go to the class (e.g. ``eta=`` for DDIM).
    """
    key = name_or_class_name if isinstance(name_or_class_name, str) else None
    if key in VARIANTS:
        key, variant_options = VARIANTS[key]
        options = {**variant_options, **options}
    cls = SCHEDULERS.get(key) or DIFFUSERS_CLASSES.get(key)
    if cls is None:
        raise ValueError(f"unknown scheduler {name_or_class_name!r}; known names: "
                         f"{', '.join(SCHEDULER_NAMES)} (or diffusers' "
                         f"{', '.join(DIFFUSERS_CLASSES)})")
    return cls.from_config(folder_config or {}, **options)


__all__ = [
    "DDIMScheduler", "DIFFUSERS_CLASSES", "DPMSolverPP2MScheduler", "EulerAncestralScheduler",
    "EulerScheduler", "LMSScheduler", "PNDMScheduler", "SCHEDULERS", "SCHEDULER_NAMES",
    "Scheduler", "VARIANTS",
    "SchedulerConfig", "SigmaScheduler", "StepOutput", "make_scheduler", "noise_schedule",
    "sigmas_from",
]
