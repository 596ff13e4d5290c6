"""Building a network from its sizes: ``Block`` and ``BlockModel``.

Keras builds an unbuilt composite layer by first tracing its ``call`` symbolically (a graph of
every op inside it), and a first eager call on JAX compiles every op on its own. A ``Block``
instead lists its sublayers with the input shapes they take, and ``build`` creates every
weight from those shapes: no forward pass, no trace. Inside ``weights_to_be_loaded()`` (the
loader) the weights start as zeros from numpy instead of random draws it would overwrite.
``BlockModel`` is the same rule for the three top-level networks, plus their compiled calls
(``graph``, from backend/compiled.py).
"""

from __future__ import annotations

import collections
import contextlib

import numpy as np

from explainer.models.backend import compiled_call, keras
from explainer.models.backend import name as backend_name

_WEIGHTS_TO_BE_LOADED = False  # set by weights_to_be_loaded()


@contextlib.contextmanager
def weights_to_be_loaded():
    """Networks built inside this block get zeros instead of random initial weights.

    The loader overwrites every weight, so drawing them (on JAX, one compiled program per
    shape) is wasted; zeros come from numpy and cost nothing. A model built for training, or
    outside this block, keeps its initializers."""
    global _WEIGHTS_TO_BE_LOADED
    previous, _WEIGHTS_TO_BE_LOADED = _WEIGHTS_TO_BE_LOADED, True
    try:
        yield
    finally:
        _WEIGHTS_TO_BE_LOADED = previous


def _zeros(shape, dtype=None):
    """Zeros in the variable's own dtype (no float32 copy of a float16 network)."""
    dtype = keras.backend.standardize_dtype(dtype or "float32")
    if dtype == "bfloat16":
        import ml_dtypes

        return np.zeros(shape, ml_dtypes.bfloat16)
    return np.zeros(shape, dtype)


def image(channels: int) -> tuple:
    """The input shape of a layer over images, ``[B, h, w, channels]``."""
    return (None, None, None, channels)


def vector(features: int) -> tuple:
    """The input shape of a layer over feature vectors, ``[..., features]``."""
    return (None, features)


def build_sublayer(layer, input_shape) -> None:
    """Create ``layer``'s weights for ``input_shape`` without calling it."""
    if layer is None or layer.built:
        return
    if isinstance(layer, (Block, BlockModel)):
        layer.build()
        return
    initializers = {name: value for name, value in vars(layer).items()
                    if name.endswith("_initializer")} if _WEIGHTS_TO_BE_LOADED else {}
    for name in initializers:
        setattr(layer, name, _zeros)
    try:
        layer.build(input_shape)
    finally:
        for name, value in initializers.items():
            setattr(layer, name, value)


class Block(keras.layers.Layer):
    """A layer of layers whose weights come from its constructor's sizes, not from a call.

    A subclass lists ``(sublayer, input_shape)`` pairs in ``sublayer_shapes``; ``build``
    creates every weight from them, so a network exists (and can be loaded) as soon as it is
    constructed, with no forward pass and no symbolic trace."""

    def sublayer_shapes(self) -> list[tuple]:
        raise NotImplementedError

    def build(self, input_shape=None):  # noqa: D401 - Keras hook
        for layer, shape in self.sublayer_shapes():
            build_sublayer(layer, shape)


class BlockModel(keras.Model):
    """``Block``'s rule for the three top-level networks, plus their compiled calls."""

    def sublayer_shapes(self) -> list[tuple]:
        raise NotImplementedError

    def build(self, input_shape=None):  # noqa: D401 - Keras hook
        for layer, shape in self.sublayer_shapes():
            build_sublayer(layer, shape)

    def graph(self, method: str = "call", jit_compile: bool | None = None, hook=None):
        """``method`` as this backend runs it best (or as asked), numpy in and out.

        ``jit_compile``: None, the backend's compiled default (a TensorFlow graph, JAX's XLA,
        PyTorch eager); True, XLA (TensorFlow, JAX; refused on PyTorch); False, op by op on
        every backend. backend/compiled.py says how; the call is cached per method, mode,
        attention kernel and compute dtype, so a changed setting never runs a stale program.
        ``hook``: an ``AttentionHook`` bound into the program (``call_with_hook``), cached
        under its ``key`` (models/attention_hook.py).
        """
        return compiled_call(self, method, jit_compile, hook)

    def forget_compiled(self) -> None:
        """Drop every compiled call (their memory); the next call traces again. Not needed
        for correctness: a new dtype or attention kernel has its own key."""
        self.__dict__.pop("_graph_functions", None)

    def memory_plan(self, method: str = "call", *inputs) -> dict[str, int]:
        """XLA's memory plan for ``method`` on inputs of these shapes and dtypes (JAX only).

        ``inputs`` are anything with ``.shape`` and ``.dtype`` (e.g. ``np.empty`` or
        ``jax.ShapeDtypeStruct``): the call is compiled for them, not run, so a plan for
        512×512 can be read on a laptop. Bytes of the ``arguments`` (weights and inputs),
        ``outputs``, ``temporaries`` (activations XLA keeps alive at once) and ``code``."""
        if backend_name() != "jax":
            raise RuntimeError(f"memory_plan reads XLA's plan through JAX; Keras is on "
                               f"{backend_name()!r} "
                               "here. Start the process with KERAS_BACKEND=jax.")
        return self.graph(method, jit_compile=True).memory_plan(*inputs)

    @property
    def compilations(self) -> dict[str, int]:
        """How many programs each method has been traced into (TensorFlow, JAX): one per
        input shape. A new prompt, seed or guidance scale adds none."""
        return self.__dict__.setdefault("_compilations", collections.Counter())
