"""The ONLY place that knows the Keras backend (TensorFlow, JAX or PyTorch).

- ``quiet.py``: imports Keras without its start-up noise, on the backend Keras resolves;
- ``compiled.py``: a network method compiled per backend (graph, XLA or eager), one signature;
- ``devices.py``: the backend's name, the GPU, the attention kernel, memory, versions;
- ``training.py``: a training step (gradients and the optimizer update) per backend.

The networks take ``keras`` and ``ops`` from here; building them from shapes is
models/block.py.
"""

from __future__ import annotations

from explainer.models.backend.quiet import (  # noqa: F401
    BACKENDS, SHOW_LOGS, configured_backend, keras, startup_logs_filtered,
)
from explainer.models.backend.devices import (  # noqa: F401,E402
    accelerator, fused_attention, highest_matmul_precision, name, peak_memory,
    set_fused_attention, versions,
)
from explainer.models.backend.compiled import compiled_call, resolve_mode  # noqa: F401,E402
from explainer.models.backend.training import TrainStep, deterministic  # noqa: F401,E402

ops = keras.ops
