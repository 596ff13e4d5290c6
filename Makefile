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

# Every test; and, side by side with it, the lessons again on TensorFlow's Eigen kernels
# instead of oneDNN's (other float32 rounding, as on another CPU, against the same stored
# outputs: both runs must pass), then the small-config parity tests, trace save/load and the
# full-loop lesson on JAX and on PyTorch. Two streams on two cores: most of the tests' time is
# one core's Python (tracing, compiling). Each stream's output is printed whole when it ends.
BACKEND_TESTS = -k "parity or trace or ipynb" tests/models/test_text_encoder.py \
	tests/models/test_unet.py tests/models/test_vae.py tests/diffusion/test_trace.py \
	notebooks/07_full_loop.ipynb
test: $(VENV)/.installed-test chromium
	$(MAKE) -j2 --output-sync=target --no-print-directory test-every test-again

test-every:
	$(PY) -m pytest

# niced: it takes the core the first stream leaves idle, without slowing that one down
test-again:
	TF_ENABLE_ONEDNN_OPTS=0 nice -n 10 $(PY) -m pytest -p no:cacheprovider notebooks
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
