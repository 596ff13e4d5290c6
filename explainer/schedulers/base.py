"""What every scheduler shares: its config, the noise schedule, the step output, the base classes.

A scheduler turns the UNet's noise prediction at timestep t into the latents of the next
(less noisy) timestep. All of them start from the same forward process (Ho et al. 2020):

    x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε,      ε ~ N(0, I)

Notation shared by every scheduler file (each file adds its own symbols):

| code name       | symbol         | meaning                                                     |
|-----------------|----------------|-------------------------------------------------------------|
| ``T``           | T              | ``num_train_timesteps``, the training chain's length (1000)  |
| ``t``           | t              | a training timestep, 0 ≤ t < T                               |
| ``betas``       | β_t            | noise variance added by forward step t, float32 [T]          |
| ``alpha_bar``   | ᾱ_t            | Π_{s≤t} (1 − β_s), the signal kept at t, float32 [T]         |
| ``sigmas``      | σ_t            | √((1 − ᾱ_t)/ᾱ_t): the same noise level written as            |
|                 |                | x_t/√ᾱ_t = x_0 + σ_t·ε (Karras et al. 2022), σ-space methods |
| ``x_t``         | x_t            | the latents at timestep t                                    |
| ``eps``         | ε_θ(x_t, t)    | the model's (guided) noise prediction                        |
| ``pred_x0``     | x̂_0            | the clean latents implied by x_t and ε_θ                     |
| ``prev_sample`` | x_{t−1}        | the latents after one step (the next timestep down)          |

Arrays go in and out as float32 numpy arrays of any shape (the pipeline's [B, h, w, 4]); the
arithmetic is elementwise and done in float32 in the same order as diffusers', so results
match its schedulers to float32 rounding.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
TIMESTEP_SPACINGS = ("leading", "linspace", "trailing")
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


@dataclass(frozen=True)
class SchedulerConfig:
    """The numbers that fix a scheduler's arithmetic; the defaults are SD v1.5's folder.

    Field names are diffusers' ``scheduler_config.json`` keys. Fields one method ignores
    (``set_alpha_to_one``, ``clip_sample*`` outside DDIM/PNDM) are simply unused there.
    """

    num_train_timesteps: int = 1000          # T
    beta_start: float = 0.00085              # β_0
    beta_end: float = 0.012                  # β_{T-1}
    beta_schedule: str = "scaled_linear"     # how β goes from β_0 to β_{T-1}
    steps_offset: int = 1                    # added to "leading" timesteps (SD: 1)
    timestep_spacing: str = "leading"        # how num_steps timesteps are picked from T
    prediction_type: str = "epsilon"         # what the model predicts: ε, v, or x_0
    set_alpha_to_one: bool = False           # DDIM/PNDM: ᾱ before t=0 is 1 (else ᾱ_0)
    clip_sample: bool = False                # DDIM: clip x̂_0 to ±clip_sample_range
    clip_sample_range: float = 1.0
    skip_prk_steps: bool = True              # PNDM: PLMS only (SD), or 3 Runge-Kutta steps first

    def __post_init__(self):
        _check_choice("beta_schedule", self.beta_schedule, BETA_SCHEDULES)
        _check_choice("timestep_spacing", self.timestep_spacing, TIMESTEP_SPACINGS)
        _check_choice("prediction_type", self.prediction_type, PREDICTION_TYPES)
        if not _is_int(self.num_train_timesteps) or self.num_train_timesteps < 2:
            raise ValueError(f"num_train_timesteps={self.num_train_timesteps!r} must be an integer "
                             ">= 2 (SD uses 1000)")
        if not _is_int(self.steps_offset) or self.steps_offset < 0:
            raise ValueError(f"steps_offset={self.steps_offset!r} must be an integer >= 0 "
                             "(SD uses 1)")
        if not 0.0 < self.beta_start <= self.beta_end < 1.0:
            raise ValueError(f"need 0 < beta_start ({self.beta_start}) <= beta_end "
                             f"({self.beta_end}) < 1 (SD uses 0.00085 and 0.012)")


from explainer.schedulers.noise_schedule import noise_schedule, sigmas_from  # noqa: E402,F401


@dataclass(frozen=True)
class StepOutput:
    """What one ``step`` computed: x_{t-1}, x̂_0 (same shape as x_t, float32), and the
    scalars it used, named after the paper's symbols (see each scheduler's table)."""

    prev_sample: np.ndarray                  # x_{t-1}
    pred_x0: np.ndarray                      # x̂_0
    coefficients: dict[str, float] = field(default_factory=dict)


def pred_x0_from(prediction_type: str, model_output, x, alpha, sigma) -> np.ndarray:
    """x̂_0 from the model's output at x = α·x_0 + σ·ε (α² + σ² = 1; DDIM: α = √ᾱ_t),
    whichever of ε, v = α·ε − σ·x_0 (Salimans & Ho 2022) or x_0 the model predicts."""
    if prediction_type == "epsilon":
        return (x - sigma * model_output) / alpha                       # (x − σ·ε)/α
    if prediction_type == "v_prediction":
        return alpha * x - sigma * model_output                         # α·x − σ·v
    return model_output                                                 # "sample"


def eps_from(prediction_type: str, model_output, x, alpha, sigma) -> np.ndarray:
    """ε from the model's output at x = α·x_0 + σ·ε: the same three cases as ``pred_x0_from``."""
    if prediction_type == "epsilon":
        return model_output
    if prediction_type == "v_prediction":
        return alpha * model_output + sigma * x                         # α·v + σ·x
    return (x - alpha * model_output) / sigma                           # (x − α·x̂_0)/σ


class Scheduler:
    """Base class: ``set_timesteps(n)``, then for t in ``timesteps``: ``step(eps, t, x_t)``.

    ``XScheduler()`` uses ``SchedulerConfig()``, SD v1.5's numbers; ``XScheduler.from_config(d)``
    (and ``make_scheduler``) follow diffusers: d's keys, else that diffusers class's defaults.
    Like diffusers' schedulers they are stateful (multistep methods remember past steps);
    ``set_timesteps`` starts a new run. Subclasses set the class attributes, pick their
    timesteps in ``_spaced_timesteps`` and compute their update in ``step``.
    """

    name: ClassVar[str]                      # our short name, e.g. "ddim"
    diffusers_name: ClassVar[str]            # diffusers' class name, e.g. "DDIMScheduler"
    # That diffusers class's constructor defaults for the config keys it shares with ours:
    diffusers_defaults: ClassVar[dict] = {}
    # Keys whose other values change the arithmetic in ways not ported: key -> allowed values.
    only_supported: ClassVar[dict] = {"trained_betas": (None,)}
    prediction_types: ClassVar[tuple] = PREDICTION_TYPES
    stochastic: bool = False                 # True when step() needs ``noise``

    def __init__(self, config: SchedulerConfig | None = None):
        self.config = config if config is not None else SchedulerConfig()
        if self.config.prediction_type not in self.prediction_types:
            raise ValueError(f"{type(self).__name__} does not support prediction_type="
                             f"{self.config.prediction_type!r}; use one of {self.prediction_types}")
        self.betas, self.alpha_bar = noise_schedule(self.config)   # β_t, ᾱ_t  [T] float32
        self.num_steps: int | None = None
        self.timesteps: np.ndarray | None = None
        self._begin_index: int | None = None
        self._step_index: int | None = None    # steps taken; counted by σ-space methods, DPM
        self.ignored_config: dict = {}         # from_config: the given keys this one never read

    @property
    def final_alpha_bar(self) -> np.float32:
        """ᾱ "before t = 0", which the last DDIM-type step lands on: 1 (``set_alpha_to_one``,
        a clean x_0) or ᾱ_0 (SD's folder: one training step of noise is left)."""
        return np.float32(1.0) if self.config.set_alpha_to_one else self.alpha_bar[0]

    @property
    def label(self) -> str:
        """The name a learner would give this set-up: ``name``, "-karras" with Karras σs."""
        return self.name + ("-karras" if getattr(self, "use_karras_sigmas", False) else "")

    # -- the loop's interface --------------------------------------------------------------

    @property
    def init_noise_sigma(self) -> float:
        """Standard deviation of x_T: the pipeline starts from N(0, I) · init_noise_sigma."""
        return 1.0

    def set_timesteps(self, num_steps: int) -> None:
        """Pick ``num_steps`` timesteps (descending) out of T and reset the run's state."""
        T = self.config.num_train_timesteps
        if not _is_int(num_steps):
            raise TypeError(f"num_steps must be an integer, got {num_steps!r}")
        if not 1 <= num_steps <= T:
            raise ValueError(f"num_steps={num_steps} must be between 1 and "
                             f"num_train_timesteps={T}; 20-50 is typical")
        timesteps, sigmas = self._schedule(int(num_steps))
        if timesteps.min() < 0 or timesteps.max() > T - 1:
            bad = timesteps[(timesteps < 0) | (timesteps > T - 1)][0]
            raise ValueError(
                f"timestep_spacing={self.config.timestep_spacing!r} with num_steps={num_steps} "
                f"(steps_offset={self.config.steps_offset}) gives timestep {bad}, outside the "
                f"trained range 0..{T - 1} (diffusers would clamp it or fail); use fewer steps "
                "or another timestep_spacing")
        self.num_steps = int(num_steps)
        self.timesteps = timesteps
        if sigmas is not None:
            self.sigmas = sigmas
        self._begin_index = None
        self._step_index = None
        self._reset()

    def scale_model_input(self, x_t: np.ndarray, t) -> np.ndarray:
        """What the UNet should see at t; identity unless the method works in σ-space."""
        return x_t

    def step(self, eps, t, x_t, noise=None) -> StepOutput:
        """One step down from timestep t (one of ``timesteps``, in order): x_t -> x_{t-1}.

        ``eps`` is the model's output at (x_t, t): ε_θ, or v or x_0 per ``prediction_type``.
        ``noise`` (z ~ N(0, I), shaped like x_t) is used when ``stochastic`` is True.
        """
        raise NotImplementedError

    def add_noise(self, x0, noise, t) -> np.ndarray:
        """Forward process q(x_t | x_0): √ᾱ_t · x_0 + √(1 − ᾱ_t) · noise, t scalar or [B]."""
        x0, noise = _as_f32(x0), _as_f32(noise)
        t = np.asarray(t).astype(np.int64).reshape(-1)                      # [1] or [B]
        alpha_bar_t = _per_sample(self.alpha_bar[t], x0.ndim)               # [B, 1, ..., 1]
        return np.sqrt(alpha_bar_t) * x0 + np.sqrt(np.float32(1.0) - alpha_bar_t) * noise

    def _noise_indices(self, t) -> list[int]:
        """Which step's noise level ``add_noise`` uses for each t, as diffusers chooses it:
        t's own index, or (image-to-image) the current step once a begin index is set."""
        t = np.asarray(t).reshape(-1)
        if self._begin_index is None:
            return [self._index_for_timestep(s) for s in t]
        index = self._step_index if self._step_index is not None else self._begin_index
        return [index] * len(t)

    def set_begin_index(self, begin_index: int = 0) -> None:
        """Image-to-image starts part-way down: the first step is ``timesteps[begin_index]``."""
        self._begin_index = int(begin_index)

    # -- the step index (σ-space methods and DPM count their steps, as diffusers does) ------

    def _index_for_timestep(self, t) -> int:
        """Where t is in ``timesteps``: the 2nd match if it repeats (as diffusers, so a run
        that starts mid-way never skips a σ); a t that is not there is refused."""
        matches = np.nonzero(self.timesteps == np.asarray(t, dtype=self.timesteps.dtype))[0]
        if len(matches) == 0:
            raise ValueError(f"timestep {t} is not one of this scheduler's timesteps "
                             f"{self.timesteps.tolist()[:5]}...; loop over scheduler.timesteps")
        return int(matches[1] if len(matches) > 1 else matches[0])

    def _begin_step(self, eps, t, x_t):
        """Checks shared by the counting steps; returns (eps, x_t, i) for step index i."""
        eps, x_t = self._check_ready(eps, x_t)
        self._init_step_index(t)
        self._check_in_order(t, self._step_index)
        return eps, x_t, self._step_index

    def _init_step_index(self, t) -> None:
        """At a run's first call: t's index, or the begin index image-to-image set."""
        if self._step_index is None:
            self._step_index = (self._index_for_timestep(t) if self._begin_index is None
                                else self._begin_index)

    # -- configs ---------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: dict, **options) -> "Scheduler":
        """Like diffusers' ``from_config``: the dict's keys where given (a ``scheduler_config
        .json``, or another scheduler's config), this method's diffusers defaults otherwise.

        Keys a diffusers config lists under ``_use_default_values`` are not carried over; a
        value whose arithmetic is not ported raises ValueError. Every key this method does
        not read is named in ``ignored_config``; those that no scheduler here reads (a
        typo, a newer diffusers option) are also named in a ``UserWarning``, so the learner
        sees what had no effect. Another method's keys are expected in a folder's config
        (SD v1.5's PNDM config holds DDIM's ``clip_sample``) and, as diffusers' compatible
        schedulers treat them, do not warn.
        """
        defaulted = set(config.get("_use_default_values", ()))
        given = {k: v for k, v in config.items() if k not in defaulted and not k.startswith("_")}
        for key, allowed in cls.only_supported.items():
            if key in given and not any(_same(given[key], a) for a in allowed):
                raise ValueError(f"{cls.__name__} does not support {key}={given[key]!r} "
                                 f"(supported: {', '.join(repr(a) for a in allowed)})")
        ignored = {key: given[key] for key in sorted(set(given) - cls._reads())}
        known = set().union(*(sub._reads() for sub in _all_subclasses(Scheduler)))
        unknown = [key for key in ignored if key not in known]
        if unknown:
            warnings.warn(f"{cls.__name__} does not read {', '.join(unknown)} from the config "
                          "given, nor does any scheduler here; they have no effect",
                          UserWarning, stacklevel=2)
        values = {**cls.diffusers_defaults,
                  **{k: v for k, v in given.items() if k in cls.diffusers_defaults}}
        for key in cls.options():
            if key in given:
                options.setdefault(key, given[key])
        scheduler = cls(SchedulerConfig(**values), **options)
        scheduler.ignored_config = ignored
        return scheduler

    @classmethod
    def options(cls) -> tuple[str, ...]:
        """Constructor arguments that are not config fields (e.g. DDIM's ``eta``)."""
        return ()

    @classmethod
    def _reads(cls) -> set[str]:
        """Every config key this method reads or checks."""
        return set(cls.diffusers_defaults) | set(cls.only_supported) | set(cls.options())

    def get_config(self) -> dict:
        """The keys this method takes, with diffusers' names (plus its options, e.g. eta):
        ``from_config(get_config())`` rebuilds it, in this library or in diffusers."""
        return {"_class_name": self.diffusers_name,
                **{key: getattr(self.config, key) for key in self.diffusers_defaults},
                **{key: getattr(self, key) for key in self.options()}}

    # -- for subclasses --------------------------------------------------------------------

    def _schedule(self, num_steps: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(timesteps, σ at each step and the final σ) for a run; None for methods that
        do not step in σ."""
        raise NotImplementedError

    def _reset(self) -> None:
        """Forget the previous run's history (multistep methods override)."""

    def _check_ready(self, eps, x_t) -> tuple[np.ndarray, np.ndarray]:
        if self.timesteps is None:
            raise RuntimeError(f"call {type(self).__name__}.set_timesteps(num_steps) "
                               "before step()")
        eps, x_t = _as_f32(eps), _as_f32(x_t)
        if eps.shape != x_t.shape:
            raise ValueError(f"eps has shape {eps.shape} but x_t has shape {x_t.shape}; "
                             "they must match")
        return eps, x_t

    def _check_in_order(self, t, i: int) -> None:
        """Index-counting methods: step i must be called with t = timesteps[i]."""
        if i >= len(self.timesteps):
            raise RuntimeError(f"all {len(self.timesteps)} steps are done; call set_timesteps "
                               "to start a new run")
        if np.asarray(t).reshape(()) != self.timesteps[i]:
            raise ValueError(f"step {i} expects t={self.timesteps[i]}, got t={t}: call step() "
                             "once per timestep, in the order of scheduler.timesteps "
                             "(set_timesteps restarts)")

    def __repr__(self):
        return f"{type(self).__name__}({self.config})"


def _all_subclasses(cls) -> list[type]:
    return [cls] + [c for sub in cls.__subclasses__() for c in _all_subclasses(sub)]


def _check_option(owner: str, key: str, value, allowed) -> None:
    """A constructor option (Karras σs, final σ, ...) must be one of the ported values."""
    if not any(_same(value, a) for a in allowed):
        raise ValueError(f"{owner} does not support {key}={value!r} "
                         f"(supported: {', '.join(repr(a) for a in allowed)})")


def _as_f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def _per_sample(values: np.ndarray, ndim: int) -> np.ndarray:
    """[B] -> [B, 1, ..., 1], to broadcast one value per sample over an ndim-array."""
    return np.asarray(values, dtype=np.float32).reshape((-1,) + (1,) * (ndim - 1))


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_timestep(t, T: int) -> int:
    """t as an int in 0..T-1 (it indexes ᾱ), or a ValueError saying so."""
    value = float(np.asarray(t).reshape(()))
    if value != int(value) or not 0 <= value <= T - 1:
        raise ValueError(f"timestep {t!r} must be an integer in 0..{T - 1}; "
                         "loop over scheduler.timesteps")
    return int(value)


def _check_choice(key: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{key}={value!r} is not supported; use one of {choices}")


def _same(a, b) -> bool:
    """Config-value equality where True != 1 and None only equals None (-inf == -inf)."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    return a == b
