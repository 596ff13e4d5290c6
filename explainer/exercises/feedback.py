"""Feedback: what an exercise check tells the learner, in words, never just True or False.

Every ``check_*`` function returns a ``Feedback``. In a notebook it shows as a short text:

    ✓ 04.1 · the guidance mix: right. ...why, and what to try next
    ✗ 04.1 · the guidance mix: not yet. ...what is wrong, and a hint

``feedback.passed`` is there for tests and for code that grades; the text is for the learner.
The text is deterministic (numbers rounded) so the lessons' stored outputs hold on any CPU.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Feedback:
    """The verdict on one attempt at one exercise, with its explanation."""

    exercise: str      # "04.1 · the guidance mix"
    passed: bool
    message: str

    def __repr__(self) -> str:
        head = f"{'✓' if self.passed else '✗'} {self.exercise}: {'right' if self.passed else 'not yet'}."
        body = "\n".join(textwrap.fill(p, 96, initial_indent="  ", subsequent_indent="  ")
                         for p in self.message.split("\n"))
        return f"{head}\n{body}"

    __str__ = __repr__


def right(exercise: str, message: str) -> Feedback:
    return Feedback(exercise, True, message)


def wrong(exercise: str, message: str) -> Feedback:
    return Feedback(exercise, False, message)


class Attempt:
    """Run the learner's function; an exception becomes feedback instead of a traceback."""

    def __init__(self, exercise: str, function):
        self.exercise, self.function = exercise, function

    def __call__(self, *args):
        """``(value, None)`` or ``(None, Feedback)`` when the function raised or is a stub."""
        if not callable(self.function):
            return None, wrong(self.exercise, f"pass a function, got {type(self.function).__name__}")
        try:
            value = self.function(*args)
        except NotImplementedError:
            return None, wrong(self.exercise, "the function still raises NotImplementedError: "
                               "replace that line with your code")
        except Exception as error:  # the learner's bug, reported as text
            return None, wrong(self.exercise, f"your function raised {type(error).__name__}: "
                               f"{error}")
        if value is None or value is Ellipsis:
            return None, wrong(self.exercise, "your function returned nothing: replace the `...` "
                               "with your code and `return` the result")
        return value, None


def compare(exercise: str, got, want, what: str, rtol: float = 1e-4, atol: float = 1e-5):
    """``None`` if ``got`` equals ``want`` (an array) within float32 round-off, else the
    feedback that says how it differs: type, shape, or the largest difference."""
    try:
        got = np.asarray(got, np.float64)
    except (TypeError, ValueError):
        return wrong(exercise, f"{what}: expected an array, got {type(got).__name__}")
    want = np.asarray(want, np.float64)
    if got.shape != want.shape:
        return wrong(exercise, f"{what} has shape {got.shape}; it should be {want.shape}")
    if not np.all(np.isfinite(got)):
        return wrong(exercise, f"{what} has NaN or inf values; check for a division by zero "
                     "or a square root of a negative number")
    if np.allclose(got, want, rtol=rtol, atol=atol):
        return None
    worst = float(np.max(np.abs(got - want)))
    return wrong(exercise, f"{what} differs from the right answer by up to {worst:.2g} "
                 f"(the right values have magnitude up to {float(np.max(np.abs(want))):.2g})")


def unanswered(exercise: str, *answers) -> Feedback | None:
    """Feedback for a cell whose ``...`` is still there (the lesson's starting point), else None."""
    if any(a is Ellipsis for a in answers):
        return wrong(exercise, "replace the `...` with your answer and run the cell again")
    return None
