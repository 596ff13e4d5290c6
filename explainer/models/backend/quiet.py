"""Importing Keras quietly, and which backend it will be.

The networks get ``keras`` and ``ops`` from here. On a machine
without a GPU, TensorFlow's C++ runtime writes about ten lines to file descriptor 2 while it
starts (oneDNN and CPU-feature notes, "Could not find cuda drivers", "failed call to cuInit:
... CUDA error"), before absl's logging is set up, so ``TF_CPP_MIN_LOG_LEVEL`` cannot stop
them. A learner reads "ERROR ... CUDA" in lesson 00. So on a machine with no GPU the import
(and the device discovery that prints the cuInit line) runs with descriptor 2 captured, and
only those known start-up lines are dropped, to ``logging.debug`` (logger
"explainer.backend"); anything else written there is passed on, and an import that fails
still raises. On a machine that has a GPU nothing is dropped: there "failed call to cuInit:
CUDA_ERROR_..." is the one line that explains why Keras fell back to the CPU. Set
``EXPLAINER_SHOW_BACKEND_LOGS=1`` to see every line anywhere.
"""

from __future__ import annotations

import contextlib
import json
import logging
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


# Device files a GPU driver creates (NVIDIA's, AMD ROCm's), whether or not CUDA then works
GPU_DEVICE_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia/version", "/dev/kfd")
LOG = logging.getLogger("explainer.backend")


def gpu_installed() -> bool:
    """Whether this machine has a GPU driver's device files (a GPU Keras may fail to use)."""
    return any(os.path.exists(path) for path in GPU_DEVICE_FILES)


def configured_backend() -> str:
    """The backend Keras resolves: ``KERAS_BACKEND``, else keras.json's "backend" (in
    ``KERAS_HOME`` or ~/.keras), else "tensorflow". Read, never written."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as file:
            return json.load(file).get("backend") or "tensorflow"
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


@contextlib.contextmanager
def startup_logs_filtered():
    """Run the block with file descriptor 2 captured; pass on all but ``_STARTUP_NOISE``
    (to ``logging.debug``). With a GPU installed, or ``EXPLAINER_SHOW_BACKEND_LOGS=1``, the
    block runs as it is and every line is seen."""
    if os.environ.get(SHOW_LOGS, "") not in ("", "0") or gpu_installed():
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
            for line in lines:
                if _STARTUP_NOISE.match(line):
                    LOG.debug("backend start-up: %s", line)
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


BACKENDS = ("tensorflow", "jax", "torch")  # Keras 3's, each the package it imports


def _import_keras():
    chosen = configured_backend()             # KERAS_BACKEND, keras.json, else TensorFlow
    with startup_logs_filtered():
        try:
            import keras
        except ImportError as error:  # Keras's backend is not installed
            missing = (error.name or "").split(".")[0]
            if missing not in BACKENDS:
                raise
            raise ImportError(
                f"Keras's backend here is {chosen} (KERAS_BACKEND, else ~/.keras/keras.json, "
                "else TensorFlow), and "
                f"{missing} is not installed. Install it "
                "(pip install 'explainer[tensorflow]' for the default), or start Python with "
                "KERAS_BACKEND=jax or KERAS_BACKEND=torch to use the backend this runtime has."
            ) from error

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()  # finds the devices now: the cuInit line
    return keras


keras = _import_keras()
