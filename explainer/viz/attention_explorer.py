"""AttentionExplorer: a step slider and a token picker over a run's cross-attention maps.

The slider's last position means "all steps summed" (DAAM's view); the picker lists the start
token, the prompt's words, the end token and the first padding position. Its callback is
``render_attention`` (explainer/viz/attention.py), which a notebook and a test call directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from explainer.explore.attention_maps import AttentionMaps
from explainer.viz.attention import _label, default_words, render_attention
from explainer.viz.figure import figure_png
from explainer.viz.widgets import _Shown, _widgets


@dataclass(repr=False)
class AttentionExplorer(_Shown):
    """``.slider`` (steps; the last value = all steps), ``.token`` (a Dropdown of positions),
    ``.image``; ``.last_step`` / ``.last_token`` / ``.last`` record what was drawn."""

    trace: Any
    image_index: int
    slider: Any = None
    token: Any = None
    image: Any = None
    box: Any = None
    last_step: int | None = None
    last_token: int | None = None
    last: Any = None
    _rendered: dict = field(default_factory=dict)   # (step, token) -> (Figure, PNG bytes)

    @property
    def all_steps(self) -> int:
        """The slider value that means "summed over all steps"."""
        return len(self.trace.steps)

    def show(self, step: int, token: int) -> bytes:
        """Render ``token``'s map at ``step`` (``all_steps``: summed) into ``.image``."""
        key = (int(step), int(token))
        if key not in self._rendered:
            fig = render_attention(self.trace, None if step == self.all_steps else int(step),
                                   int(token), self.image_index)
            self._rendered[key] = (fig, figure_png(fig))
        self.last, self.image.value = self._rendered[key]
        self.last_step, self.last_token = key
        return self.image.value


def attention_explorer(trace, word=None, image: int = 0):
    """An ``AttentionExplorer`` for a run made with ``capture_attention=True``; it starts on
    ``word`` (default: the prompt's first word) summed over all steps."""
    w = _widgets()
    maps = AttentionMaps(trace, image)
    explorer = AttentionExplorer(trace, image)
    positions = [maps.position(p) for p in default_words(maps)]
    if maps.tokens.n_real < 77:
        positions.append(maps.tokens.n_real)  # the first padding position
    start = maps.position(word if word is not None else (1 if maps.tokens.n_real > 2 else 0))
    if start not in positions:
        positions.append(start)
    explorer.token = w.Dropdown(options=[(f"{k}: {_label(maps, k)}", k) for k in positions],
                                value=start, description="token")
    explorer.slider = w.IntSlider(value=explorer.all_steps, min=0, max=explorer.all_steps,
                                  description="step", continuous_update=True)
    explorer.image = w.Image(format="png")
    note = w.Label(f"step {explorer.all_steps} = all steps summed")
    explorer.box = w.VBox([w.HBox([explorer.token, explorer.slider, note]), explorer.image])
    explorer.slider.observe(lambda c: explorer.show(c["new"], explorer.token.value), names="value")
    explorer.token.observe(lambda c: explorer.show(explorer.slider.value, c["new"]), names="value")
    explorer.show(explorer.all_steps, start)
    return explorer
