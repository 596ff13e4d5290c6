"""The package version, in one place (``explainer.__version__``, traces' metadata)."""

__version__ = "0.1.0"
