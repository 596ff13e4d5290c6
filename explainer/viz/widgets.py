"""Widgets: thin ipywidgets wrappers around the plots, for exploring a run in a notebook.

Each widget's callback is a plain package function that a notebook (and a test) can call
directly, and each widget is a small object that exposes its controls:

| widget                  | controls                                     | callback           |
|-------------------------|----------------------------------------------|--------------------|
| ``step_player``         | ``.slider``, ``.play``, ``.image``           | ``render_step``    |
| ``guidance_remix``      | ``.slider``, ``.image``                      | ``guidance_parts`` |
| ``generation_controls`` | ``.prompt``, ``.seed``, ``.guidance``,       | ``text_to_image``, |
|                         | ``.button``, ``.player`` (the latest run's)  | ``set_trace``      |

Setting a control's value from code (``player.slider.value = 3``) runs the callback at once;
``.last_index`` / ``.last_scale`` and ``.last`` (the Figure) record what was drawn, and
``.image.value`` holds its PNG bytes. Display a widget by making it a cell's last value.
ipywidgets is imported only when a widget is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from explainer.viz.figure import figure_png
from explainer.viz.filmstrip import render_step
from explainer.viz.frames import check_trace
from explainer.viz.guidance import guidance_parts


def _widgets():
    try:
        import ipywidgets
    except ImportError:
        raise ImportError("the widgets need ipywidgets: `pip install ipywidgets` (plots in "
                          "explainer.viz work without it)") from None
    return ipywidgets


class _Shown:
    """Displays as its ``box`` (a VBox) in a notebook."""

    box: Any

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)


# -- stepping through a run ----------------------------------------------------------------------

@dataclass(repr=False)
class StepPlayer(_Shown):
    """A step slider linked to a Play button, showing ``render_step`` of the chosen step."""

    trace: Any
    decode: Any
    image_index: int
    channel: int
    slider: Any = None
    play: Any = None
    image: Any = None
    caption: Any = None          # a Label naming the step shown ("step 3 · t=841 of 26")
    box: Any = None
    last_index: int | None = None
    last: Any = None
    _rendered: dict = field(default_factory=dict)   # step -> (Figure, PNG bytes)

    def show(self, i: int) -> bytes:
        """Render step ``i`` (cached per step) into ``.image``; what the slider calls."""
        if i not in self._rendered:
            fig = render_step(self.trace, i, self.decode, self.image_index, self.channel)
            self._rendered[i] = (fig, figure_png(fig))
        self.last, self.image.value = self._rendered[i]
        self.last_index = int(i)
        self.caption.value = (f"step {i} · t={self.trace.steps[i].timestep:g} of "
                              f"{len(self.trace.steps)}")
        return self.image.value

    def set_trace(self, trace) -> None:
        """Show another run (e.g. after re-generating); keeps the slider's step if it exists."""
        check_trace(trace, self.image_index)
        self.trace, self._rendered = trace, {}
        self.slider.max = len(trace.steps) - 1
        self.play.max = self.slider.max
        self.show(min(self.slider.value, self.slider.max))


def step_player(trace, decode, image: int = 0, channel: int = 0, interval_ms: int = 400):
    """A ``StepPlayer`` for ``trace``: drag the slider or press play to walk through the steps.

    ``decode`` as for ``render_step`` (``pipe.decode``, a ``LatentPreview``, a Pipeline or None).
    """
    w = _widgets()
    image = check_trace(trace, image)
    last = len(trace.steps) - 1
    player = StepPlayer(trace, decode, image, channel)
    player.slider = w.IntSlider(value=0, min=0, max=last, description="step",
                                continuous_update=True)
    player.play = w.Play(value=0, min=0, max=last, interval=interval_ms, description="play")
    w.jslink((player.play, "value"), (player.slider, "value"))
    player.image = w.Image(format="png")
    player.caption = w.Label()
    player.caption.add_class("explainer-step-caption")      # for browser tests to find
    player.box = w.VBox([w.HBox([player.play, player.slider, player.caption]), player.image])
    player.slider.observe(lambda change: player.show(change["new"]), names="value")
    player.show(0)
    return player


# -- re-mixing guidance at one step --------------------------------------------------------------

@dataclass(repr=False)
class GuidanceRemix(_Shown):
    """A guidance-scale slider recombining one step's cached ε_uncond and ε_text."""

    eps_uncond: np.ndarray
    eps_text: np.ndarray
    channel: int | None
    slider: Any = None
    image: Any = None
    box: Any = None
    last_scale: float | None = None
    last: Any = None

    def show(self, scale: float) -> bytes:
        """Render ``guidance_parts`` at ``scale`` into ``.image``; what the slider calls."""
        self.last = guidance_parts(self.eps_uncond, self.eps_text, scale, self.channel)
        self.image.value = figure_png(self.last)
        self.last_scale = float(scale)
        return self.image.value


def guidance_remix(parts, scale: float = 7.5, channel: int | None = 0, image: int = 0,
                   max_scale: float = 20.0):
    """A ``GuidanceRemix``: move the scale, see ε̃ = ε_uncond + s·(ε_text − ε_uncond) change.

    No UNet call: the two predictions are the ones a step already computed.

    Args:
        parts: a ``StepRecord`` (``trace.steps[i]``, with eps_uncond and eps_text kept) or a
            pair ``(eps_uncond, eps_text)``.
        scale: the slider's starting value.
        channel: the channel shown (None: all four, one row each).
        image: which image of a batched step.
    """
    w = _widgets()
    if hasattr(parts, "eps_uncond") and hasattr(parts, "eps_text"):
        if parts.eps_uncond is None or parts.eps_text is None:
            raise ValueError("this step did not keep eps_uncond and eps_text; run with "
                             "keep=None (or a keep= that includes both)")
        u, t = np.asarray(parts.eps_uncond), np.asarray(parts.eps_text)
    elif isinstance(parts, (tuple, list)) and len(parts) == 2:
        u, t = np.asarray(parts[0]), np.asarray(parts[1])
    else:
        raise TypeError(f"parts must be a StepRecord (trace.steps[i]) or a pair (eps_uncond, "
                        f"eps_text), got {type(parts).__name__}")
    if u.ndim == 4:
        if not 0 <= image < len(u):
            raise ValueError(f"image={image}, but the step holds {len(u)} image(s)")
        u, t = u[image], t[image]                                           # [h, w, 4] each
    remix = GuidanceRemix(u, t, channel)
    remix.slider = w.FloatSlider(value=scale, min=0.0, max=max(max_scale, scale), step=0.5,
                                 description="guidance s", continuous_update=False)
    remix.image = w.Image(format="png")
    remix.box = w.VBox([remix.slider, remix.image])
    remix.slider.observe(lambda change: remix.show(change["new"]), names="value")
    remix.show(scale)
    return remix


# -- generating again ------------------------------------------------------------------------------

@dataclass(repr=False)
class GenerationControls(_Shown):
    """Prompt, seed and guidance controls; ``run()`` (the button) generates and refreshes
    ``.player``."""

    pipe: Any
    decode: Any
    run_options: dict
    prompt: Any = None
    seed: Any = None
    guidance: Any = None
    button: Any = None
    status: Any = None
    player: StepPlayer | None = None
    box: Any = None
    result: Any = None
    runs: int = 0

    def run(self, *_):
        """Generate with the controls' current values; returns the pipeline's Result."""
        self.status.value = "running..."
        try:
            self.result = self.pipe.text_to_image(self.prompt.value, seed=int(self.seed.value),
                                                  guidance_scale=float(self.guidance.value),
                                                  **self.run_options)
        except (ValueError, TypeError, FloatingPointError) as err:  # say so, keep going
            self.status.value = f"error: {err}"
            return None
        self.runs += 1
        self.player.set_trace(self.result.trace)
        self.status.value = (f"seed {self.seed.value}, guidance {self.guidance.value:g}: "
                             f"{len(self.result.trace.steps)} steps")
        return self.result


def generation_controls(pipe, prompt: str, seed: int = 0, guidance_scale: float | None = None,
                        decode=None, auto: bool = False, **run_options):
    """``GenerationControls``: edit the prompt, seed or guidance and generate again.

    Args:
        pipe: a Pipeline.
        prompt, seed, guidance_scale: the controls' starting values (guidance defaults to the
            preset's).
        decode: how the player decodes steps; default ``pipe.decode`` (exact). For SD v1.5 on
            a CPU, ``LatentPreview.for_pipeline(pipe)`` is much faster.
        auto: also re-run whenever a control changes (not only on the button).
        run_options: more ``text_to_image`` arguments (``num_steps=``, ``scheduler=``, ...).

    One run happens now, so the player has something to show.
    """
    w = _widgets()
    if guidance_scale is None:
        guidance_scale = pipe.default_guidance
    controls = GenerationControls(pipe, decode if decode is not None else pipe.decode,
                                  dict(run_options))
    controls.prompt = w.Text(value=prompt, description="prompt", continuous_update=False)
    controls.seed = w.IntText(value=seed, description="seed")
    controls.guidance = w.FloatSlider(value=guidance_scale, min=0.0, max=max(20.0, guidance_scale),
                                      step=0.5, description="guidance", continuous_update=False)
    controls.button = w.Button(description="generate")
    controls.status = w.Label()
    controls.button.on_click(controls.run)
    if auto:
        for control in (controls.prompt, controls.seed, controls.guidance):
            control.observe(lambda change: controls.run(), names="value")
    controls.result = pipe.text_to_image(prompt, seed=seed, guidance_scale=guidance_scale,
                                         **run_options)
    controls.runs = 1
    controls.player = step_player(controls.result.trace, controls.decode)
    controls.box = w.VBox([w.HBox([controls.prompt, controls.seed]),
                           w.HBox([controls.guidance, controls.button]), controls.status,
                           controls.player.box])
    return controls
