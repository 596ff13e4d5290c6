"""models/backend/: Keras imported quietly (no start-up logs), real errors still shown."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
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


def test_with_a_gpu_installed_nothing_is_dropped(capfd, monkeypatch, caplog):
    """Where a GPU driver is installed, "failed call to cuInit" explains a silent fallback to
    the CPU: every line passes. Without one, dropped lines go to logging.debug."""
    from explainer.models.backend import quiet

    monkeypatch.setattr(quiet, "gpu_installed", lambda: True)
    with startup_logs_filtered():
        os.write(2, NOISE)
    assert "cuInit" in capfd.readouterr().err
    monkeypatch.setattr(quiet, "gpu_installed", lambda: False)
    with caplog.at_level("DEBUG", logger="explainer.backend"):
        with startup_logs_filtered():
            os.write(2, NOISE)
    assert "cuInit" not in capfd.readouterr().err
    assert any("cuInit" in record.getMessage() for record in caplog.records)


def test_the_backend_is_what_keras_resolves_and_nothing_is_written(tmp_path):
    """No KERAS_BACKEND: keras.json decides (here JAX), and importing explainer leaves the
    environment as it was, so a later `import keras` elsewhere resolves the same way."""
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))
    code = ("import os, explainer; from explainer.models import backend; "
            "print(backend.name(), backend.configured_backend(), 'KERAS_BACKEND' in os.environ)")
    clean = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**clean, "KERAS_HOME": str(tmp_path)}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["jax", "jax", "False"]


def test_a_failing_import_still_raises_and_stderr_comes_back(capfd):
    with pytest.raises(ModuleNotFoundError):
        with startup_logs_filtered():
            import explainer_no_such_module  # noqa: F401
    os.write(2, b"after\n")
    assert "after" in capfd.readouterr().err


# -- the same networks on every Keras backend -------------------------------------------------

def run_and_save(trace_path, images_path) -> dict:
    """tiny-shapes text-to-image, twice; the first run saved. Runs here (TensorFlow) and in
    the child processes below (JAX, PyTorch)."""
    import explainer
    from explainer.models import backend

    pipe = explainer.load_pipeline()
    first = pipe.text_to_image("a small red circle on the left", seed=0, num_steps=10)
    compiled = dict(pipe.unet.compilations)
    # a new prompt, seed and guidance scale: the same shapes, so no new program
    pipe.text_to_image("a large blue square at the top", seed=5, num_steps=10, guidance_scale=3.0)
    first.trace.save(trace_path)
    np.save(images_path, first.images)
    return {"backend": backend.name(), "first": compiled, "again": dict(pipe.unet.compilations)}


# A GPU runtime with JAX or PyTorch often has no TensorFlow: the children cannot import it.
RUN = f"""
import sys
sys.modules["tensorflow"] = None  # `import tensorflow` now fails, as where it is not installed
import json
import numpy as np
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_backend import run_and_save
print(json.dumps(run_and_save(sys.argv[1], sys.argv[2])))
"""
BACKENDS = ("tensorflow", "jax", "torch")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """tiny-shapes text-to-image per backend: (trace path, images, log). TensorFlow (the
    default) in this process; JAX and PyTorch each in a fresh process without TensorFlow."""
    folder = tmp_path_factory.mktemp("backends")
    out = {}
    for name in BACKENDS:
        trace, images = folder / f"{name}.npz", folder / f"{name}.npy"
        if name == "tensorflow":
            log = run_and_save(trace, images)
        else:
            done = subprocess.run([sys.executable, "-c", RUN, str(trace), str(images)],
                                  capture_output=True, text=True, timeout=600,
                                  env={**os.environ, "KERAS_BACKEND": name})
            assert done.returncode == 0, f"{name}:\n{done.stderr[-3000:]}"
            log = json.loads(done.stdout.strip().splitlines()[-1])
        out[name] = (trace, np.load(images), log)
    return out


@pytest.mark.parametrize("name", ["jax", "torch"])
def test_same_picture_as_tensorflow(runs, name):
    reference, images = runs["tensorflow"][1].astype(int), runs[name][1].astype(int)
    close = np.abs(images - reference) <= 1
    # float32 on different kernels: a pixel may round to the next level of 255, no further
    assert close.mean() >= 0.999, f"{name}: {close.mean():.4%} of pixels within 1/255"
    assert runs[name][2]["backend"] == name


@pytest.mark.parametrize("name", BACKENDS)
def test_traces_load_anywhere_and_record_the_backend(runs, name):
    from explainer import Trace

    trace = Trace.load(runs[name][0])  # saved under `name`, loaded here under TensorFlow
    versions = trace.metadata["versions"]
    assert versions["backend"] == name and versions[name]
    assert np.array_equal(trace.images, runs[name][1])
    # PNDM's 10 steps make 11 UNet calls (its first step is taken twice)
    assert len(trace.steps) == 11 and trace.steps[3].eps_text.shape == (1, 8, 8, 4)


@pytest.mark.parametrize("name", ["tensorflow", "jax"])
def test_no_new_program_for_a_new_prompt_seed_or_guidance(runs, name):
    log = runs[name][2]
    assert log["first"] == log["again"] and log["again"]["call"] == 1, log  # UNet traced once


# Three optimizer steps of tiny-shapes' real training objective (text encoder + UNet, Adam with
# EMA; small configs, so each backend compiles in seconds), from the same numpy weights and
# batch on each backend; prints the losses and a weight checksum after the steps.
TRAIN_TWO_STEPS = """
import json, numpy as np
from explainer.models.backend import TrainStep, deterministic, ops
from explainer.models.configs import TextEncoderConfig, UNetConfig
from explainer.models.text_encoder import TextEncoder
from explainer.models.unet import UNet
from explainer.schedulers.base import SchedulerConfig, noise_schedule
from explainer.shapes.train import _optimizer, diffusion_loss
deterministic(0)
text = TextEncoder(TextEncoderConfig(vocab_size=1000, width=32, layers=1, heads=2, mlp_width=64))
unet = UNet(UNetConfig(block_channels=(32, 64), attention_levels=(True, False), layers_per_block=1,
                       heads=(2, 2), context_width=32, norm_groups=8, sample_size=8))
variables = text.trainable_variables + unet.trainable_variables
rng = np.random.default_rng(0)
for v in variables:
    v.assign(0.05 * rng.standard_normal(tuple(v.shape)).astype("float32"))
alpha_bar = np.asarray(noise_schedule(SchedulerConfig())[1], np.float32)
ids = rng.integers(0, 1000, (4, 77)).astype("int32")
x0 = rng.standard_normal((4, 8, 8, 4)).astype("float32")
t = np.array([10, 300, 600, 990], "int32")
eps = rng.standard_normal((4, 8, 8, 4)).astype("float32")
loss = lambda *a: ops.mean(diffusion_loss(text, unet, *a, alpha_bar, 5.0))
step = TrainStep(loss, variables, _optimizer(1e-3, 10, 1, 0.995))
losses = [step(ids, x0, t, eps) for _ in range(3)]
total = float(sum(np.abs(ops.convert_to_numpy(v)).sum() for v in variables))
print(json.dumps({"losses": losses, "weights": total}))
"""


@pytest.fixture(scope="module")
def trained():
    out = {}
    for name in ("tensorflow", "jax", "torch"):
        done = _run(TRAIN_TWO_STEPS, KERAS_BACKEND=name)
        assert done.returncode == 0, done.stderr[-3000:]
        out[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def test_training_steps_are_the_same_on_every_backend(trained):
    reference = trained["tensorflow"]
    assert reference["losses"][2] < reference["losses"][0]              # the steps learn
    for name in ("jax", "torch"):
        # float32 gradients through ~30 layers, summed in other orders per backend: 1e-4 rel.
        np.testing.assert_allclose(trained[name]["losses"], reference["losses"], rtol=1e-4)
        np.testing.assert_allclose(trained[name]["weights"], reference["weights"], rtol=1e-5)


def test_a_missing_backend_is_a_clear_error():
    done = _run("import sys; sys.modules['tensorflow'] = None\n"
                "import explainer; explainer.load_pipeline()", KERAS_BACKEND="tensorflow")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: Keras's backend here is tensorflow"), done.stderr[-2000:]
    assert "KERAS_BACKEND=jax" in last and "explainer[tensorflow]" in last


PLAN = """
import json
import numpy as np
from explainer.models import backend
from explainer.models.configs import PRESETS
from explainer.models.text_encoder import TextEncoder

encoder = TextEncoder(PRESETS["tiny-shapes"].text)
ids = np.empty((2, 77), np.int32)
plan = encoder.memory_plan("call", ids)
weights = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in encoder.variables)
print(json.dumps({**plan, "weights": weights, "ran": encoder.compilations["call"]}))
"""


def test_memory_plan_is_xlas_plan_for_the_shapes_without_running():
    done = _run(PLAN, KERAS_BACKEND="jax")
    assert done.returncode == 0, done.stderr[-3000:]
    plan = json.loads(done.stdout.strip().splitlines()[-1])
    # the arguments are the weights and the ids, exactly; the output is the context [2, 77, 64]
    assert plan["arguments"] == plan["weights"] + 2 * 77 * 4
    assert plan["outputs"] == 2 * 77 * 64 * 4
    assert plan["temporaries"] > 0 and plan["ran"] == 1  # traced once, for these shapes


def test_memory_plan_needs_jax():
    from explainer.models.configs import PRESETS
    from explainer.models.text_encoder import TextEncoder

    with pytest.raises(RuntimeError, match="KERAS_BACKEND=jax"):
        TextEncoder(PRESETS["tiny-shapes"].text).memory_plan("call", np.empty((1, 77), np.int32))
