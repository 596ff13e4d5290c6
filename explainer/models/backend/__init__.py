"""The ONLY place that knows the Keras backend: importing it, compiled calls, versions.

This package: ``quiet.py`` imports Keras without its start-up noise; ``training.py`` compiles a
training step (gradients and the optimizer update) per backend; this file builds networks
from shapes, compiles their calls per backend, and answers device questions.

**Blocks.** Keras builds an unbuilt composite layer by first tracing its ``call`` symbolically
(a graph of every op inside it), and a first eager call on JAX compiles every op on its own.
A ``Block`` instead lists its sublayers with the input shapes they take, and ``build`` creates
every weight from those shapes: no forward pass, no trace. Inside ``weights_to_be_loaded()``
(the loader) the weights start as zeros from numpy instead of random draws it would overwrite.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os

import numpy as np

from explainer.models.backend.quiet import SHOW_LOGS, startup_logs_filtered  # noqa: F401,E402

BACKENDS = ("tensorflow", "jax", "torch")  # Keras 3's, each the package it imports


def _import_keras():
    chosen = os.environ.get("KERAS_BACKEND") or "tensorflow"  # the package's default when unset
    with startup_logs_filtered():
        try:
            import keras
        except ImportError as error:  # Keras's backend is not installed
            missing = (error.name or "").split(".")[0]
            if missing not in BACKENDS:
                raise
            raise ImportError(
                f"Keras's backend here is {chosen} (KERAS_BACKEND, TensorFlow when unset), and "
                f"{missing} is not installed. Install it "
                "(pip install 'explainer[tensorflow]' for the default), or start Python with "
                "KERAS_BACKEND=jax or KERAS_BACKEND=torch to use the backend this runtime has."
            ) from error

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()  # finds the devices now: the cuInit line
    return keras


keras = _import_keras()
from keras import ops  # noqa: E402  (after the quiet import above)


# -- building from shapes -------------------------------------------------------------------

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

    def graph(self, method: str = "call", jit_compile: bool = False):
        """``method`` compiled for this backend, taking and returning numpy arrays.

        - TensorFlow: a graph function (``tf.function``), traced once per input signature;
          on a 2-core CPU about 1.5x faster than op by op. ``jit_compile=True`` adds XLA.
        - JAX: ``jax.jit`` of a stateless call (the variables are arguments, not constants
          baked into the program), compiled once per input shape; always XLA.
        - PyTorch: the eager call under ``torch.no_grad()``.
        The numbers equal the eager call's within float32 round-off.
        """
        cache = self.__dict__.setdefault("_graph_functions", {})
        key = (method, bool(jit_compile))
        if key not in cache:
            function = getattr(self, method)

            @functools.wraps(function)  # the method's signature, for tf.function's shape rules
            def traced(*args):  # Python runs this only while a program is being traced
                self.compilations[method] += 1
                return function(*args)

            cache[key] = _COMPILERS[keras.backend.backend()](self, traced, function,
                                                           bool(jit_compile))
        return cache[key]

    def forget_compiled(self) -> None:
        """Drop every compiled call: the next one traces again (new dtypes, attention kernel)."""
        self.__dict__.pop("_graph_functions", None)

    def memory_plan(self, method: str = "call", *inputs) -> dict[str, int]:
        """XLA's memory plan for ``method`` on inputs of these shapes and dtypes (JAX only).

        ``inputs`` are anything with ``.shape`` and ``.dtype`` (e.g. ``np.empty`` or
        ``jax.ShapeDtypeStruct``): the call is compiled for them, not run, so a plan for
        512×512 can be read on a laptop. Bytes of the ``arguments`` (weights and inputs),
        ``outputs``, ``temporaries`` (activations XLA keeps alive at once) and ``code``."""
        if name() != "jax":
            raise RuntimeError(f"memory_plan reads XLA's plan through JAX; Keras is on {name()!r} "
                               "here. Start the process with KERAS_BACKEND=jax.")
        return self.graph(method, jit_compile=True).memory_plan(*inputs)

    @property
    def compilations(self) -> dict[str, int]:
        """How many programs each method has been traced into (TensorFlow, JAX): one per
        input shape. A new prompt, seed or guidance scale adds none."""
        return self.__dict__.setdefault("_compilations", collections.Counter())


# -- compiled calls, one per backend ---------------------------------------------------------

def _to_numpy(structure):
    return keras.tree.map_structure(ops.convert_to_numpy, structure)


def _tensorflow(model, function, eager, jit_compile: bool):
    import tensorflow as tf

    # autograph off: the networks' Python control flow is over static shapes and configs,
    # so converting it only costs tracing time (~3 s of a cold run)
    graph = tf.function(function, jit_compile=jit_compile, reduce_retracing=True,
                        autograph=False)

    def call(*args):
        return _to_numpy(graph(*args))

    call.compiled = graph  # the backend's own compiled function (profiling, concrete graphs)
    return call


def _jax(model, function, eager, jit_compile: bool):
    import jax

    def stateless(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(model.variables, values))):
            return function(*args)

    compiled = jax.jit(stateless)

    def call(*args):
        return _to_numpy(compiled([v.value for v in model.variables], *args))

    def memory_plan(*specs):  # compiled for these shapes, not run: XLA's buffer sizes
        shape = lambda x: jax.ShapeDtypeStruct(tuple(x.shape), jax.numpy.dtype(x.dtype))
        plan = compiled.lower([shape(v) for v in model.variables],
                              *[shape(s) for s in specs]).compile().memory_analysis()
        return {"arguments": plan.argument_size_in_bytes, "outputs": plan.output_size_in_bytes,
                "temporaries": plan.temp_size_in_bytes, "code": plan.generated_code_size_in_bytes}

    call.memory_plan = memory_plan
    call.compiled = compiled
    return call


def _torch(model, function, eager, jit_compile: bool):
    import torch

    def call(*args):
        with torch.no_grad():
            return _to_numpy(eager(*args))

    return call


_COMPILERS = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}


def name() -> str:
    """The Keras backend in use: "tensorflow" (the default), "jax" or "torch"."""
    return keras.backend.backend()


@contextlib.contextmanager
def highest_matmul_precision():
    """Full float32 matrix products inside this block (no TF32 on a GPU), for parity checks."""
    backend = name()
    if backend == "jax":
        import jax

        with jax.default_matmul_precision("highest"):
            yield
    elif backend == "torch":
        import torch

        saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    else:
        import tensorflow as tf

        saved = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(False)
        try:
            yield
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(saved)


@functools.lru_cache(maxsize=None)
def accelerator() -> str | None:
    """The GPU Keras computes on (its name), or None on a CPU."""
    backend = name()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return None if device.platform == "cpu" else device.device_kind
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name") if gpus else None


FUSED_ATTENTION: bool | None = None  # None: fused_attention() decides; True/False forces it


def fused_attention() -> bool:
    """Whether ``Attention`` calls the backend's fused kernel instead of the written-out
    softmax(Q Kᵀ/√d) V: ``keras.ops.dot_product_attention``, which is cuDNN's flash attention
    under JAX on a GPU (float16/bfloat16) and PyTorch's ``scaled_dot_product_attention``, so
    a 512² UNet never stores its [B, heads, 4096, 4096] scores. Chosen on a GPU under JAX or
    PyTorch. On a CPU the written-out formula measured as fast or faster (SD v1.5 UNet, batch
    2, 64² latents, 2-core Xeon: fused 1.2× slower under JAX; under TensorFlow, which has no
    fused kernel, its formula computes the scores in float32: 1.28× slower in bfloat16).
    Both give the same numbers within float32 round-off (tests/models/test_unet.py). Set
    ``FUSED_ATTENTION`` before a network is first called to force one (bench/gpu.py times both).
    """
    if FUSED_ATTENTION is not None:
        return FUSED_ATTENTION
    return name() != "tensorflow" and accelerator() is not None


def peak_memory() -> int | None:
    """Peak bytes the backend has held on the GPU so far in this process (None on a CPU)."""
    if accelerator() is None:
        return None
    backend = name()
    if backend == "jax":
        import jax

        return int(jax.devices()[0].memory_stats()["peak_bytes_in_use"])
    if backend == "torch":
        import torch

        return int(torch.cuda.max_memory_allocated())
    import tensorflow as tf

    return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])


def versions() -> dict[str, str]:
    """The versions a trace records: this package, Keras, its backend, numpy."""
    import importlib

    from explainer.version import __version__

    backend = name()
    return {"explainer": __version__, "keras": keras.__version__, "backend": backend,
            backend: importlib.import_module(backend).__version__, "numpy": np.__version__}


from explainer.models.backend.training import TrainStep, deterministic  # noqa: E402,F401
