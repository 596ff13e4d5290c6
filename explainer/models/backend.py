"""The ONLY place that knows the Keras backend: importing it, compiled calls, versions.

**Importing Keras quietly.** The networks get ``keras`` and ``ops`` from here. On a machine
without a GPU, TensorFlow's C++ runtime writes about ten lines to file descriptor 2 while it
starts (oneDNN and CPU-feature notes, "Could not find cuda drivers", "failed call to cuInit:
... CUDA error"), before absl's logging is set up, so ``TF_CPP_MIN_LOG_LEVEL`` cannot stop
them. A learner reads "ERROR ... CUDA" in lesson 00. So the import (and the device discovery
that prints the cuInit line) runs with descriptor 2 captured, and only those known start-up
lines are dropped; anything else written there is passed on, and an import that fails still
raises. Set ``EXPLAINER_SHOW_BACKEND_LOGS=1`` to see every line.

**Blocks.** Keras builds an unbuilt composite layer by first tracing its ``call`` symbolically
(a graph of every op inside it) and only then running it. For a whole UNet that trace costs
seconds. A ``Block`` instead declares itself built at once; its sublayers (Dense, Conv2D,
norms) then create their weights from the shapes they see on the first real, eager call. The
models make that call on a small dummy input in their constructor, so every weight exists (and
can be loaded) as soon as the model does.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

SHOW_LOGS = "EXPLAINER_SHOW_BACKEND_LOGS"  # set to 1: keep the backend's start-up lines

# What a backend's runtime writes to stderr while it starts on a machine without a GPU:
# absl-format INFO/WARNING lines ("I0000 00:00:1795933894.602660  4163 port.cc:153] ..."),
# the cuInit ERROR line (no GPU: not an error for us), absl's own preamble, and the second line
# of TensorFlow's CPU-feature note. Nothing else is dropped.
_STARTUP_NOISE = re.compile(
    r"^(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] .*"
    r"|E\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] .*(?:cuInit|CUDA|cuda).*"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .* in other operations, rebuild TensorFlow with "
    r"the appropriate compiler flags\.)$")


@contextlib.contextmanager
def startup_logs_filtered():
    """Run the block with file descriptor 2 captured; pass on all but ``_STARTUP_NOISE``."""
    if os.environ.get(SHOW_LOGS, "") not in ("", "0"):
        yield
        return
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", errors="replace").splitlines()
            kept = [line for line in lines if not _STARTUP_NOISE.match(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


def _import_keras():
    with startup_logs_filtered():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()  # finds the devices now: the cuInit line
    return keras


keras = _import_keras()
from keras import ops  # noqa: E402  (after the quiet import above)

class Block(keras.layers.Layer):
    """A layer of layers, built by its first eager call instead of a symbolic trace."""

    def build(self, input_shape):  # noqa: D401 - Keras hook; sublayers build themselves
        pass


class BlockModel(keras.Model):
    """``Block``'s rule for the three top-level networks, plus their graph-mode versions."""

    def build(self, input_shape):
        pass

    def graph(self, method: str = "call", jit_compile: bool = False):
        """``method`` as a TensorFlow graph function, traced once per input signature.

        Eager calls run op by op from Python; on this 2-core CPU the graph version of a UNet
        call is about 1.5x faster. ``jit_compile=True`` compiles it with XLA as well. The
        numbers are the same as the eager call's within float32 round-off.
        """
        import tensorflow as tf

        cache = self.__dict__.setdefault("_graph_functions", {})
        key = (method, jit_compile)
        if key not in cache:
            # autograph off: the networks' Python control flow is over static shapes and
            # configs, so converting it only costs tracing time (~3 s of a cold run)
            cache[key] = tf.function(getattr(self, method), jit_compile=jit_compile,
                                     reduce_retracing=True, autograph=False)
        return cache[key]


def versions() -> dict[str, str]:
    """The versions a trace records: this package, Keras, its backend, numpy."""
    import numpy as np
    import tensorflow as tf

    from explainer.version import __version__

    return {"explainer": __version__, "keras": keras.__version__, "tensorflow": tf.__version__,
            "numpy": np.__version__}
