#!/usr/bin/env bash
# The Python packages the device machine lacks, as wheels in .whl/ (ignored by git), for
# bench/gpu_session.sh. Run here, where pip reaches PyPI; the device machine reaches nothing.
#
#     bash bench/gpu_wheels.sh            # then: device run, carry [".whl"], bench/gpu_session.sh
#
# That machine (Python 3.12, x86-64) has JAX 0.11 and torch 2.11 with CUDA, transformers, numpy,
# safetensors, tokenizers, matplotlib, pillow, absl-py, rich, h5py, ml-dtypes, requests, regex,
# pygments (see the device library's KINDS.md), but no Keras, diffusers or IPython/ipywidgets
# (the lessons' widgets). One version of each; --no-deps, so every need is named here.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qxF "/.whl/" .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo "/.whl/" >> .git/info/exclude; }
rm -rf .whl && mkdir .whl
PACKAGES=(
  keras==3.15.1 namex==0.1.0 optree==0.20.0                       # Keras 3
  diffusers==0.42.1 importlib_metadata==10.2.0 zipp                # the reference, bench/gpu.py
  ipywidgets==8.1.9 comm traitlets widgetsnbextension jupyterlab_widgets   # lessons' widgets
  ipython==9.18.1 ipython_pygments_lexers decorator jedi parso matplotlib-inline pexpect
  ptyprocess prompt_toolkit wcwidth stack_data asttokens executing pure_eval
)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  -d .whl "${PACKAGES[@]}"
du -sh .whl
