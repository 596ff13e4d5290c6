"""Textual inversion (Gal et al. 2022): a new word for a concept, learned as one vector.

Every weight of the model stays frozen. One word of the vocabulary (a nonce word such as
"dax", which the model never saw) gets a vector v of its own in place of its row of the token
embedding E_tok, and v alone is trained with the training objective (diffusion/objective.py)
on a handful of pictures of the concept, each with a caption that uses the word:

    v* = argmin_v  E_{x_0, t, ε} ‖ε − ε_θ(x_t, t, c_v(caption))‖²

where c_v is the text encoder with E_tok[word] = v. Only 768 numbers for SD v1.5 (64 for
tiny-shapes) are learned; the word then composes with the rest of a prompt.

| code name     | symbol     | shape                     |
|---------------|------------|---------------------------|
| ``vector``    | v          | [C] (the encoder's width) |
| ``word_id``   | its token  | int                       |
| ``init_word`` | v at start | [C] (E_tok of that word)  |
"""

from __future__ import annotations

import contextlib

import numpy as np

from explainer.diffusion.objective import diffusion_loss
from explainer.models.backend import TrainStep, keras, ops


class TextualInversion:
    """``TextualInversion(pipe, word="dax", init_word="shape")``: learn ``word`` for a concept.

    ``fit(images, captions)`` trains the word's vector; ``with ti.installed(): pipe(...)`` runs
    prompts with it (the token embedding row is written, and restored on leaving).
    """

    def __init__(self, pipe, word: str = "dax", init_word: str = "shape"):
        self.pipe = pipe
        self.word, self.init_word = word, init_word
        self.word_id = self._single_token(word, "word")
        init_id = self._single_token(init_word, "init_word")
        table = ops.convert_to_numpy(pipe.text_encoder.token_embedding.embeddings.value)  # E_tok [V, C]
        self.original_row = np.array(table[self.word_id])
        self.start = np.array(table[init_id], np.float32)  # E_tok[init]
        self.vector = keras.Variable(self.start, name=f"textual_inversion_{word}")  # v [C]
        self.losses: list[float] = []

    def _single_token(self, word: str, what: str) -> int:
        if not isinstance(word, str):
            raise TypeError(f"{what} must be a word (a string), got {type(word).__name__}")
        tokens = self.pipe.tokenizer(word)
        pieces = tokens.ids[1: tokens.n_real - 1]         # between the start and the end token
        if len(pieces) != 1:
            raise ValueError(f"{what}={word!r} is {len(pieces)} tokens; textual inversion learns "
                             "one token's vector: choose a word the tokenizer keeps whole, "
                             "e.g. 'dax' or 'sks'")
        return pieces[0]

    def _encode(self, ids):
        """c_v(ids): the text encoder with E_tok[word] replaced by v.   ids [B, 77] -> [B, 77, C]"""
        encoder = self.pipe.text_encoder
        rows = encoder.token_embedding(ids)                                  # [B, 77, C]
        is_word = ops.expand_dims(ops.equal(ids, self.word_id), -1)          # [B, 77, 1]
        rows = ops.where(is_word, ops.cast(self.vector, rows.dtype)[None, None], rows)
        return encoder.encode_embeddings(rows)                               # [B, 77, C]

    def fit(self, images, captions, steps: int = 200, batch: int = 16, lr: float = 5e-3,
            seed: int = 0, snr_gamma: float | None = 5.0, progress: bool = False) -> list[float]:
        """Train v on ``images`` (uint8 ``[N, H, W, 3]``) and ``captions`` (N strings, or one
        list of strings per image to draw from), each using the word. Returns the loss of every
        step (also kept in ``self.losses``). Deterministic from ``seed``."""
        captions = [c if isinstance(c, (list, tuple)) else [c] for c in captions]
        if len(captions) != len(images):
            raise ValueError(f"{len(images)} images but {len(captions)} captions; give one "
                             "caption (or a list of captions) per image")
        for options in captions:
            for text in options:
                if self.word_id not in self.pipe.tokenizer(text).ids:
                    raise ValueError(f"caption {text!r} does not use the word {self.word!r}; "
                                     f"every caption must, e.g. 'a {self.word} on the left'")
        for name, value in (("steps", steps), ("batch", batch)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name}={value!r}; use a positive integer")
        x0_all = self.pipe.encode_image(images)    # [N, h, w, 4]
        alpha_bar = np.asarray(self.pipe.scheduler.alpha_bar, np.float32)   # ᾱ_t [T]
        unet = self.pipe.unet

        def loss_fn(ids, x0, t, eps):
            return ops.mean(diffusion_loss(self._encode, unet, ids, x0, t, eps, alpha_bar,
                                           snr_gamma))

        optimizer = keras.optimizers.Adam(lr)
        step_fn = TrainStep(loss_fn, [self.vector], optimizer)
        bar = range(steps)
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(bar, desc=f"learning '{self.word}'")
        for step in bar:
            rng = np.random.default_rng([seed, step])
            picks = rng.integers(0, len(x0_all), batch)
            texts = [captions[k][rng.integers(len(captions[k]))] for k in picks]
            t = rng.integers(0, len(alpha_bar), batch).astype(np.int32)     # t ~ U{0..T-1}
            eps = rng.standard_normal(x0_all[picks].shape, np.float32)      # ε ~ N(0, I)
            self.losses.append(step_fn(self.pipe.tokenizer.ids(texts), x0_all[picks], t, eps))
        return self.losses

    @property
    def value(self) -> np.ndarray:
        """v as numpy ``[C]``."""
        return np.array(ops.convert_to_numpy(self.vector.value), np.float32)

    @contextlib.contextmanager
    def installed(self):
        """Within the block, the pipeline's text encoder reads v for the word."""
        table = self.pipe.text_encoder.token_embedding.embeddings
        values = np.array(ops.convert_to_numpy(table.value))
        values[self.word_id] = self.value
        table.assign(values)
        try:
            yield self
        finally:
            values[self.word_id] = self.original_row
            table.assign(values)
