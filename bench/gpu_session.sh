#!/usr/bin/env bash
# Issue 18's GPU figures in one prepared command for the device machine (bare, no internet).
#
#   here:  bash bench/gpu_wheels.sh                      (once: the wheels it lacks, in .whl/)
#   there: device run, carry [".whl"], timeout_s 600:
#          bash bench/gpu_session.sh [all | bench | lessons | memory | atlas ...]   (parts in one call)
#
# bench:   bench/gpu.py (parity, warm speed vs diffusers fp16, cold starts, peak memory)
# lessons: lessons 04, 07 and 11 at 512² on sd-v1-5 shapes (random weights), timed per cell
# memory:  bench/xla_memory.py, XLA's memory plan of every network call at 512²
# atlas:   bench/atlas.py, the attention atlas at 512², 20 steps: its size and capture overhead
# Everything it prints also goes to $OUT/*.txt (comes back). Each step has its own time limit,
# so one that hangs cannot eat the others' time. A session has 15 device minutes in all (the
# machine's start included) and 10 per command, so make two calls, the second at once (the
# machine stays warm for 30 s): `bench` (timeout_s 540), then `lessons memory atlas` (timeout_s
# 600; it writes the random folder again if the machine is a fresh one).
# GPU_SESSION_SMALL=1 rehearses every step on a CPU with small configs: run it with only the
# device machine's packages and the carried wheels before spending device time.
set -uo pipefail
cd "$(dirname "$0")/.."
parts=" ${*:-all} "
want() { [[ $parts == *" all "* || $parts == *" $1 "* ]]; }
OUT=${OUT:-/tmp/gpu_session_out}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export KERAS_BACKEND=${KERAS_BACKEND:-jax} XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
if [ "${GPU_SESSION_SMALL:-0}" = 1 ]; then
  SMALL=--small; MEMORY="--preset tiny-shapes"; FOLDER=/tmp/sd-small-random
  LESSON=(size=64 steps=26)
  LESSON_11=(grounding_prompts=3)
else
  SMALL=; MEMORY=""; FOLDER=/tmp/sd15-random
  LESSON=(preset=sd-v1-5 "weights=$FOLDER" size=512 steps=30)
  # lesson 11's parameters comment: a photograph's words; no grounding score (tiny-shapes only)
  LESSON_11=("prompt=a red apple on a wooden table" word=apple "swap=('red', 'green')"
             grounding_prompts=0)
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU"
  python3 -c "import jax, torch, keras; print('jax', jax.__version__, jax.devices()[0].device_kind, '| torch', torch.__version__, '| keras', keras.__version__)"
} 2>&1 | tee "$OUT/machine.txt"
status=0
if want bench; then
  # no persistent compilation cache here: the cold start is measured cold
  timeout 450 python3 bench/gpu.py $SMALL --folder "$FOLDER" 2>&1 | tee "$OUT/gpu.txt" || status=1
fi
if want lessons; then
  [ -n "$SMALL" ] || [ -f "$FOLDER/unet/config.json" ] || \
    timeout 120 python3 -c "import sys; sys.path.insert(0, 'bench'); import gpu; gpu.write_folder(gpu.Path('$FOLDER'), gpu.settings(False))"
  # one compilation cache for the three lessons, as on a course machine (README)
  export JAX_COMPILATION_CACHE_DIR=/tmp/jax-cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=1
  for lesson in 04 07 11; do
    extra=(); [ $lesson = 11 ] && extra=("${LESSON_11[@]}")
    timeout 110 python3 bench/run_lesson.py notebooks/${lesson}_*.ipynb "${LESSON[@]}" \
      "${extra[@]}" 2>&1 | tail -n 25 | tee "$OUT/lesson_$lesson.txt" || status=1
  done
fi
if want atlas; then
  [ -n "$SMALL" ] || [ -f "$FOLDER/unet/config.json" ] || \
    timeout 120 python3 -c "import sys; sys.path.insert(0, 'bench'); import gpu; gpu.write_folder(gpu.Path('$FOLDER'), gpu.settings(False))"
  if [ -n "$SMALL" ]; then ATLAS=(--steps 5 --repeats 2); else
    ATLAS=(--weights "$FOLDER" --size 512 --steps 20 --repeats 3); fi
  timeout 100 python3 bench/atlas.py "${ATLAS[@]}" 2>&1 | tee "$OUT/atlas.txt" || status=1
fi
if want memory; then
  timeout 120 python3 bench/xla_memory.py $MEMORY --images 1 2>&1 | tee "$OUT/xla_memory.txt" || status=1
fi
# XLA's warnings when a program does not fit (issue 18: one wanted ~130 GB before
# rematerialisation): which call, and how much
grep -ih "remat\|reduce memory\|out of memory\|RESOURCE_EXHAUSTED" "$OUT"/*.txt > "$OUT/xla_warnings.txt"
exit $status
