"""Compiled network calls, one per backend, with one signature: ``compiled_call(model,
method, jit_compile)`` returns ``call(*numpy_arrays) -> numpy``.

What runs (``mode``):
- "graph": TensorFlow's graph function (``tf.function``), traced once per input signature; on
  a 2-core CPU about 1.5x faster than op by op. TensorFlow's default.
- "xla": XLA. TensorFlow: ``tf.function(jit_compile=True)``. JAX: ``jax.jit`` of a stateless
  call (the variables are arguments, not constants baked into the program), compiled once
  per input shape. JAX's default. Refused on PyTorch (explainer does not use torch.compile).
- "eager": op by op (under ``torch.no_grad()`` on PyTorch). PyTorch's default; on every
  backend what ``jit_compile=False`` asks for.

A call is cached under everything that changes its program: the method, the mode, the
attention kernel (``devices.fused_attention()``) and the model's compute dtype. Changing any
of them makes a new call; a stale one can never run. The numbers equal the eager call's
within float32 round-off.
"""

from __future__ import annotations

import functools
import inspect

from explainer.models.backend.devices import fused_attention, name
from explainer.models.backend.quiet import keras

ops = keras.ops
DEFAULT_MODE = {"tensorflow": "graph", "jax": "xla", "torch": "eager"}


def resolve_mode(jit_compile: bool | None) -> str:
    """What ``jit_compile`` runs on this backend: "graph", "xla" or "eager"."""
    backend = name()
    if jit_compile is None:
        return DEFAULT_MODE[backend]
    if not isinstance(jit_compile, bool):
        raise TypeError(f"jit_compile must be None, True or False, got {jit_compile!r}")
    if not jit_compile:
        return "eager"
    if backend == "torch":
        raise ValueError("jit_compile=True asks for XLA, which the PyTorch backend does not "
                         "have here (explainer runs PyTorch op by op); use jit_compile=None "
                         "(the default) or False, or start Python with KERAS_BACKEND=jax")
    return "xla"


def compiled_call(model, method: str, jit_compile: bool | None, hook=None):
    """``model.<method>`` as ``resolve_mode(jit_compile)`` runs it, cached on the model.
    ``hook`` (an AttentionHook) is passed to the method as ``hook=`` and its ``key`` joins
    the cache key: hooks with the same key share one program."""
    mode = resolve_mode(jit_compile)
    key = (method, mode, fused_attention(), model.dtype_policy.name)
    if hook is not None:
        key += (("hook", type(hook).__name__, hook.key),)
    cache = model.__dict__.setdefault("_graph_functions", {})
    if key not in cache:
        function = getattr(model, method)
        if hook is not None:  # bound; the traced signature has no ``hook`` to fill in
            signature = inspect.signature(function)
            function = functools.partial(function, hook=hook)
            function.__signature__ = signature.replace(parameters=[
                p for p in signature.parameters.values() if p.name != "hook"])

        @functools.wraps(function)  # the method's signature, for tf.function's shape rules
        def traced(*args):  # Python runs this only while a program is being traced
            model.compilations[method] += 1
            return function(*args)

        if mode == "eager":
            cache[key] = _eager(function)
        else:
            cache[key] = _COMPILERS[name()](model, traced, mode == "xla")
        cache[key].mode = mode
    return cache[key]


def _to_numpy(structure):
    return keras.tree.map_structure(ops.convert_to_numpy, structure)


def _eager(function):
    if name() == "torch":
        import torch

        def call(*args):
            with torch.no_grad():
                return _to_numpy(function(*args))
        return call

    def call(*args):
        return _to_numpy(function(*args))
    return call


def _tensorflow(model, function, xla: bool):
    import tensorflow as tf

    # autograph off: the networks' Python control flow is over static shapes and configs,
    # so converting it only costs tracing time (~3 s of a cold run)
    graph = tf.function(function, jit_compile=xla, reduce_retracing=True, autograph=False)

    def call(*args):
        return _to_numpy(graph(*args))

    call.compiled = graph  # the backend's own compiled function (profiling, concrete graphs)
    return call


def _jax(model, function, xla: bool):
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


_COMPILERS = {"tensorflow": _tensorflow, "jax": _jax}
