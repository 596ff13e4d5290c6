"""A training step per backend: the gradient of a loss and the optimizer's update.

Training code (``explainer/shapes/train.py``) writes its loss with ``keras.ops`` and a Keras
optimizer, and asks here for a compiled step; only this file knows how each backend takes a
gradient:

- TensorFlow: ``tf.GradientTape`` inside a graph function (XLA with ``jit_compile=True``);
- JAX: ``jax.value_and_grad`` of a stateless loss and ``optimizer.stateless_apply``, under
  ``jax.jit``, with the variables and optimizer state passed in and written back;
- PyTorch: ``loss.backward()`` and ``optimizer.apply`` under ``torch.no_grad()``, eager.

Randomness (noise, timesteps) is drawn by the caller with numpy and passed in, so the data a
step sees is the same on every backend, and ``deterministic(seed)`` makes each backend's own
kernels repeat themselves.
"""

from __future__ import annotations

from explainer.models.backend import keras, name


def deterministic(seed: int) -> None:
    """Seed Python, numpy and the backend, and ask the backend for deterministic kernels
    (TensorFlow's op determinism, PyTorch's deterministic algorithms; JAX on a CPU is)."""
    keras.utils.set_random_seed(seed)
    if name() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif name() == "torch":
        import torch

        torch.use_deterministic_algorithms(True)


class TrainStep:
    """``step(*inputs) -> float``: one optimizer update of ``variables`` on ``loss_fn(*inputs)``.

    Args:
        loss_fn: inputs (numpy arrays) -> a scalar loss, written with ``keras.ops`` and calling
            the networks that own ``variables``.
        variables: the trainable variables (Keras ``Variable``s) the gradient is taken for.
        optimizer: a Keras optimizer; it is built for ``variables`` here.
        jit_compile: XLA for TensorFlow; JAX always compiles with XLA; PyTorch runs eagerly.
    """

    def __init__(self, loss_fn, variables, optimizer, jit_compile: bool = False):
        self.loss_fn, self.variables, self.optimizer = loss_fn, list(variables), optimizer
        self.jit_compile = jit_compile
        optimizer.build(self.variables)
        self._step = {"tensorflow": self._tensorflow, "jax": self._jax,
                      "torch": self._torch}[name()]()

    def __call__(self, *inputs) -> float:
        return float(self._step(*inputs))

    def _tensorflow(self):
        import tensorflow as tf

        @tf.function(jit_compile=self.jit_compile, autograph=False)  # no tensor-dependent flow
        def step(*inputs):
            with tf.GradientTape() as tape:
                loss = self.loss_fn(*inputs)
            self.optimizer.apply(tape.gradient(loss, self.variables), self.variables)
            return loss

        return step

    def _jax(self):
        import jax

        def loss(values, inputs):
            with keras.StatelessScope(state_mapping=list(zip(self.variables, values))):
                return self.loss_fn(*inputs)

        gradient = jax.value_and_grad(loss)

        @jax.jit
        def update(values, optimizer_values, inputs):
            value, grads = gradient(values, inputs)
            values, optimizer_values = self.optimizer.stateless_apply(
                optimizer_values, grads, values)
            return value, values, optimizer_values

        def step(*inputs):
            value, values, optimizer_values = update(
                [v.value for v in self.variables], [v.value for v in self.optimizer.variables],
                inputs)
            for variable, new in zip(self.variables, values):
                variable.assign(new)
            for variable, new in zip(self.optimizer.variables, optimizer_values):
                variable.assign(new)
            return value

        return step

    def _torch(self):
        import torch

        def step(*inputs):
            for variable in self.variables:
                variable.value.grad = None
            loss = self.loss_fn(*[keras.ops.convert_to_tensor(x) for x in inputs])
            loss.backward()
            grads = [variable.value.grad for variable in self.variables]
            with torch.no_grad():
                self.optimizer.apply(grads, self.variables)
            return loss.detach().cpu().numpy()

        return step

