"""The scheduler tests' shared fixture: diffusers' LMS integrable without scipy, and quiet."""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from scheduler_parity import _GaussLegendre, lms_module  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet_and_integrable(monkeypatch):
    if not hasattr(lms_module, "integrate"):                       # scipy not installed
        monkeypatch.setattr(lms_module, "integrate", _GaussLegendre(), raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                            # diffusers' deprecation notes
        yield


