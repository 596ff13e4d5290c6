"""Importing Keras quietly.

The networks get ``keras`` and ``ops`` from here. On a machine
without a GPU, TensorFlow's C++ runtime writes about ten lines to file descriptor 2 while it
starts (oneDNN and CPU-feature notes, "Could not find cuda drivers", "failed call to cuInit:
... CUDA error"), before absl's logging is set up, so ``TF_CPP_MIN_LOG_LEVEL`` cannot stop
them. A learner reads "ERROR ... CUDA" in lesson 00. So the import (and the device discovery
that prints the cuInit line) runs with descriptor 2 captured, and only those known start-up
lines are dropped; anything else written there is passed on, and an import that fails still
raises. Set ``EXPLAINER_SHOW_BACKEND_LOGS=1`` to see every line.
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
