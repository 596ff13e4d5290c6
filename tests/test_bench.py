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
    assert "error" not in results["cold"], results["cold"]
    assert results["cold"]["first image"] > results["cold"]["run"] > 0
    assert results["cold_capture"]["error"].startswith("not run with --small")  # GPU only
    table = "\n".join(lines[:-1])
    assert "| UNet fp32 parity" in table and "cold start" in table and "DPM++ 2M" in table


def test_run_lesson_changes_the_parameters_cell():
    """bench/run_lesson.py runs a lesson's cells in one process with its parameters changed."""
    script, lesson = ROOT / "bench" / "run_lesson.py", ROOT / "notebooks" / "01_tokenizer.ipynb"
    done = subprocess.run([sys.executable, str(script), str(lesson), "prompt=a blue square"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "square" in done.stdout and "circle" not in done.stdout.split("pos")[1].split("\n\n")[0]
    assert "01_tokenizer.ipynb on tensorflow" in done.stdout and "total" in done.stdout
    bad = subprocess.run([sys.executable, str(script), str(lesson), "colour=red"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "unknown parameter" in bad.stderr
