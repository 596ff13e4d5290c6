"""models/backend.py: Keras imported quietly (no start-up logs), real errors still shown."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from explainer.models.backend import SHOW_LOGS, startup_logs_filtered

ABSL_LINE = re.compile(r"^[IWE]\d{4} |cuInit|absl", re.M)  # the issue's own grep
NOISE = (b"WARNING: All log messages before absl::InitializeLog() is called are written to "
         b"STDERR\nI0000 00:00:1795933894.602660    4163 port.cc:153] oneDNN custom operations "
         b"are on.\nE0000 00:00:1795933902.818943    4169 cuda_platform.cc:52] failed call to "
         b"cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n")
FIRST_OP = ("from explainer.models import backend; "
            "backend.ops.convert_to_numpy(backend.ops.ones(2))")


def _run(code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", SHOW_LOGS)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**clean, **env}, timeout=300)


def test_first_import_and_first_op_print_nothing():
    quiet = _run(FIRST_OP)
    assert quiet.returncode == 0, quiet.stderr
    assert not ABSL_LINE.search(quiet.stderr), quiet.stderr
    # the lines are really there without the filter (so the check above can fail)
    loud = _run(FIRST_OP, **{SHOW_LOGS: "1"})
    assert loud.returncode == 0 and ABSL_LINE.search(loud.stderr), loud.stderr


def test_other_lines_pass_through(capfd):
    with startup_logs_filtered():
        os.write(2, NOISE + b"E0000 00:00:1.5  1 op.cc:1] a real kernel error\nsomething else\n")
    err = capfd.readouterr().err
    assert "a real kernel error" in err and "something else" in err
    assert "cuInit" not in err and "oneDNN" not in err and "absl" not in err


def test_a_failing_import_still_raises_and_stderr_comes_back(capfd):
    with pytest.raises(ModuleNotFoundError):
        with startup_logs_filtered():
            import explainer_no_such_module  # noqa: F401
    os.write(2, b"after\n")
    assert "after" in capfd.readouterr().err
