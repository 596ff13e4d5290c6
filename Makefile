# Two commands do all the set-up on a fresh machine (see README.md):
#   make demo   create/reuse .venv/, install the package, run the main job on tiny-shapes
#   make test   create/reuse .venv/, install the package with its test extras, run every test
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
PROMPT ?= a small red circle on the left

.PHONY: demo test test-every test-again lab bench clean chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

demo: $(VENV)/.installed-lessons
	$(PY) -m explainer explain "$(PROMPT)" --out explainer-report
	@echo "open explainer-report/index.html in a browser: every stage of the run, offline"

# Every test, in two streams on two cores (most of the tests' time is one core's Python:
# tracing, compiling; each stream's output is printed whole when it ends):
# - test-every: the tests and the lessons, as TensorFlow chooses its CPU kernels here;
# - test-again (niced, so it takes the core the first leaves idle): the training and bench
#   tests (subprocesses, minutes each), then the lessons again on TensorFlow's *other* CPU
#   kernels (Eigen where TensorFlow picks oneDNN, as on AVX-512/AMX CPUs; oneDNN where it
#   picks Eigen, as on AVX2 CPUs): other float32 rounding, as on another CPU, against the same
#   stored outputs, and both runs must pass; then the small-config parity tests, trace
#   save/load and the full-loop lesson on JAX and on PyTorch.
HEAVY_TESTS = tests/shapes/test_shapes.py tests/test_bench.py tests/explore/test_edit_backends.py
BACKEND_TESTS = -k "parity or trace or ipynb" tests/models/test_text_encoder.py \
	tests/models/test_unet.py tests/models/test_vae.py tests/diffusion/test_trace.py \
	tests/models/test_attention_hook.py tests/diffusion/test_attention_capture.py \
	tests/explore/test_prompt_to_prompt.py \
	notebooks/07_full_loop.ipynb
# 1 where TensorFlow turns oneDNN on by itself on this CPU, else 0
ONEDNN_HERE = $(shell env -u TF_ENABLE_ONEDNN_OPTS $(PY) -c "from tensorflow.python.util \
	import _pywrap_util_port as p; print(int(p.IsMklEnabled()))" 2>/dev/null)
test: $(VENV)/.installed-test chromium
	$(MAKE) -j2 --output-sync=target --no-print-directory test-every test-again

test-every:
	$(PY) -m pytest $(addprefix --ignore=,$(HEAVY_TESTS))

test-again:
	nice -n 10 $(PY) -m pytest -p no:cacheprovider $(HEAVY_TESTS)
	TF_ENABLE_ONEDNN_OPTS=$(if $(filter 1,$(ONEDNN_HERE)),0,1) nice -n 10 $(PY) -m pytest \
	  -p no:cacheprovider notebooks
	KERAS_BACKEND=jax nice -n 10 $(PY) -m pytest -p no:cacheprovider $(BACKEND_TESTS)
	KERAS_BACKEND=torch nice -n 10 $(PY) -m pytest -p no:cacheprovider $(BACKEND_TESTS)

# the browser tests drive Debian's chromium (not a browser downloaded by Playwright)
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium; }

lab: $(VENV)/.installed-lessons
	$(VENV)/bin/jupyter lab notebooks/

# every figure this CPU can give: the GPU scripts in their CPU forms, JAX's memory plans
GPU_BENCH = bench/gpu.py bench/xla_memory.py bench/run_lesson.py
bench: $(VENV)/.installed-test
	for script in $(filter-out $(GPU_BENCH),$(wildcard bench/*.py)); do $(PY) $$script || exit 1; done
	KERAS_BACKEND=jax $(PY) bench/gpu.py --small
	KERAS_BACKEND=jax $(PY) bench/xla_memory.py
	$(PY) bench/run_lesson.py notebooks/07_full_loop.ipynb

$(PY):
	$(PYTHON) -m venv $(VENV)

# pip prints errors only (-qq): start-up output stays readable, and nothing in it names absl
$(VENV)/.installed-lessons: pyproject.toml | $(PY)
	$(PY) -m pip install -qq -e ".[tensorflow,lessons]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install -qq -e ".[tensorflow,lessons,test]"
	touch $@ $(VENV)/.installed-lessons

clean:
	rm -rf $(VENV) build *.egg-info
