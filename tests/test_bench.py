"""bench/gpu.py's --small path, the one CI runs: the whole GPU script end to end on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_bench_small_runs_and_reports_parity():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--small"],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "KERAS_BACKEND": "jax"})
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    results = json.loads(lines[-1])
    assert results["backend"] == "jax" and results["device"] == "CPU"
    # float32 on both sides at full matmul precision: the bound
    assert results["parity"] <= 1e-4, results["parity"]
    for run in ("cold", "cold_capture"):
        assert "error" not in results[run], results[run]
        assert results[run]["first image"] > results[run]["run"] > 0
    table = "\n".join(lines[:-1])
    assert "| UNet fp32 parity" in table and "cold start" in table and "DPM++ 2M" in table
