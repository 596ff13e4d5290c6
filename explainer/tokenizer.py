"""CLIP tokenization: a prompt becomes 77 integer ids.

Stable Diffusion v1 conditions on CLIP ViT-L/14's text encoder, which reads exactly 77
tokens. This module is CLIP's byte-level BPE (Radford et al. 2021, after Sennrich et al. 2016
and GPT-2), run by the Hugging Face ``tokenizers`` library, set up as CLIP and transformers
set it up:

1. normalise: Unicode NFC, every run of whitespace -> one space, lowercase;
2. pre-tokenize: split into words, single digits and punctuation runs with CLIP's regex
   ``'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+`` (spaces are dropped);
3. byte-level: each piece's UTF-8 bytes map to 256 printable symbols, so any text (CJK,
   emoji, ...) is representable and nothing is ever "unknown";
4. BPE: merge symbol pairs in rank order (merges.txt); a piece's last token carries the
   end-of-word mark ``</w>`` ("circle</w>" and "circle" are different tokens);
5. frame: ``<|startoftext|>`` (49406) + at most 75 tokens + ``<|endoftext|>`` (49407), then
   pad with 49407 up to 77. A longer prompt keeps its FIRST 75 tokens; the rest is dropped
   (and a ``PromptTruncatedWarning`` says how many).

Readable pieces: ``Tokens.pieces`` shows each token as text. A token that ends a word is
shown plainly ("circle"); a token that does not end its word gets ``@@``, the mark Sennrich
et al. used for non-final subword units ("explain@@", "er"). Bytes that are not a whole
UTF-8 character on their own are shown as escapes ("\\xf0\\x9f").
"""

from __future__ import annotations

import functools
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, overload

import numpy as np
from tokenizers import Regex, decoders, models, normalizers, pre_tokenizers
from tokenizers import Tokenizer as _HFTokenizer

from explainer.assets import asset_path

CONTEXT_LENGTH = 77  # CLIP's text context, fixed by its learned position embeddings
START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"  # also the padding token in SD v1
END_OF_WORD = "</w>"
SUBWORD_MARK = "@@"  # shown after a piece that does not end its word
CLIP_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


class PromptTruncatedWarning(UserWarning):
    """A prompt was longer than the 75 tokens CLIP can read; the tail was dropped."""


@dataclass(frozen=True)
class Tokens:
    """One prompt, tokenized and framed to CLIP's 77 positions.

    Attributes:
        prompt: the text as given.
        ids: 77 ints: start token, the prompt's tokens, end token, then end-token padding.
        pieces: 77 readable strings, one per id (see the module docstring).
        n_real: positions before the padding, start and end tokens included (2 for "").
        truncated: readable pieces of the tokens that were cut off; empty when none.
    """

    prompt: str
    ids: tuple[int, ...]
    pieces: tuple[str, ...]
    n_real: int
    truncated: tuple[str, ...] = ()

    @property
    def n_padding(self) -> int:
        """How many padding positions follow the end token."""
        return len(self.ids) - self.n_real

    def array(self) -> np.ndarray:
        """The ids as an int32 array ``[77]``, what the text encoder takes."""
        return np.asarray(self.ids, dtype=np.int32)

    def table(self, show_padding: bool = False) -> str:
        """A plain-text table, one row per position: position, id, readable piece."""
        shown = len(self.ids) if show_padding else self.n_real
        rows = [f"{'pos':>3}  {'id':>5}  piece"]
        rows += [f"{k:>3}  {self.ids[k]:>5}  {self.pieces[k]}" for k in range(shown)]
        if not show_padding and self.n_padding:
            rows.append(f"... and {self.n_padding} padding positions (id {self.ids[-1]}) up to 77")
        if self.truncated:
            rows.append(f"truncated ({len(self.truncated)} tokens): {' '.join(self.truncated)}")
        return "\n".join(rows)

    def __repr__(self) -> str:
        words = " ".join(self.pieces[1 : self.n_real - 1])
        cut = f", {len(self.truncated)} truncated" if self.truncated else ""
        return f"Tokens({words!r}: {self.n_real} real + {self.n_padding} padding{cut})"


class Tokenizer:
    """CLIP's BPE tokenizer, from a diffusers ``tokenizer/`` folder in either of its layouts.

    Args:
        vocab: token string -> id (49,408 entries for CLIP).
        merges: BPE merges in rank order, as pairs of symbols.
        context_length: positions after framing and padding (77 for CLIP).
        backend: the ``tokenizers`` pipeline to run, when it was read from a tokenizer.json
            (``from_folder`` does that); by default CLIP's is built from ``vocab``/``merges``.
    """

    def __init__(
        self,
        vocab: dict[str, int],
        merges: Sequence[tuple[str, str]],
        context_length: int = CONTEXT_LENGTH,
        *,
        backend: _HFTokenizer | None = None,
    ):
        for special in (START_TOKEN, END_TOKEN):
            if special not in vocab:
                raise ValueError(f"the vocabulary has no {special!r}: it is not a CLIP vocabulary")
        if context_length < 3:
            raise ValueError(f"context_length must be at least 3, got {context_length}")
        self.vocab = dict(vocab)
        self.merges = [tuple(m) for m in merges]
        self.context_length = context_length
        self.start_id = self.vocab[START_TOKEN]
        self.end_id = self.vocab[END_TOKEN]
        self.pad_id = self.end_id
        self._tokens = {i: tok for tok, i in self.vocab.items()}
        self._byte_of = {ch: b for b, ch in _bytes_to_unicode().items()}
        # backend: a ``tokenizers`` pipeline read from a tokenizer.json; None builds CLIP's
        self._hf = self._build(self.vocab, self.merges) if backend is None else backend
        self._hf.no_truncation()  # framing to 77 is ours (_frame), not the file's settings
        self._hf.no_padding()

    @staticmethod
    def _build(vocab: dict[str, int], merges: list[tuple[str, str]]) -> _HFTokenizer:
        bpe = models.BPE(
            vocab=vocab,
            merges=merges,
            continuing_subword_prefix="",
            end_of_word_suffix=END_OF_WORD,
            fuse_unk=False,
            unk_token=END_TOKEN,
        )
        tok = _HFTokenizer(bpe)
        tok.normalizer = normalizers.Sequence(
            [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
        )
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(CLIP_PATTERN), behavior="removed", invert=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False),
            ]
        )
        tok.decoder = decoders.ByteLevel()
        # Typed "<|endoftext|>" is the special token, as in CLIP and transformers.
        tok.add_special_tokens([START_TOKEN, END_TOKEN])
        return tok

    @classmethod
    def from_folder(cls, folder: str | Path) -> "Tokenizer":
        """Load a diffusers ``tokenizer/`` folder, in either layout it is written in.

        ``tokenizer.json`` (what transformers 5 saves; the ``tokenizers`` library reads it
        directly) is used when it is there, else ``vocab.json`` + ``merges.txt`` (the legacy
        layout of the published SD v1.5 folder).
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"tokenizer folder not found: {folder}")
        single = folder / "tokenizer.json"
        if single.is_file():
            return cls._from_tokenizer_json(single)
        paths = [folder / "vocab.json", folder / "merges.txt"]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"no CLIP tokenizer in {folder}: it has neither tokenizer.json (the layout "
                f"transformers 5 writes) nor {' and '.join(missing)} (the legacy layout: "
                "vocab.json + merges.txt). Point to an SD v1 folder's tokenizer/, or copy one "
                "of the two layouts into it."
            )
        vocab = json.loads(paths[0].read_text(encoding="utf-8"))
        lines = paths[1].read_text(encoding="utf-8").split("\n")
        merges = [tuple(line.split()) for line in lines if line and not line.startswith("#version")]
        return cls(vocab, merges)

    @classmethod
    def _from_tokenizer_json(cls, path: Path) -> "Tokenizer":
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
            model = spec["model"]
            if model.get("type") != "BPE":
                raise ValueError(f"its model is {model.get('type')!r}, not BPE")
            backend = _HFTokenizer.from_str(json.dumps(spec))
        except Exception as error:  # tokenizers raises plain Exception on a bad file
            raise ValueError(
                f"{path} is not a CLIP tokenizer.json ({error}). Re-save the tokenizer with "
                "transformers' CLIPTokenizer.save_pretrained, or use vocab.json + merges.txt."
            ) from error
        # merges: "a b" strings (tokenizers < 0.20) or [a, b] pairs (newer files)
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        return cls(dict(model["vocab"]), merges, backend=backend)

    # -- the stage ---------------------------------------------------------------------------

    @overload
    def __call__(self, prompt: str) -> Tokens: ...
    @overload
    def __call__(self, prompt: Sequence[str]) -> list[Tokens]: ...

    def __call__(self, prompt):
        """Tokenize one prompt (-> ``Tokens``) or a list of prompts (-> list of ``Tokens``)."""
        return self._tokenize(prompt, warn_depth=4)

    def _tokenize(self, prompt, warn_depth: int):
        # warn_depth: frames between the truncation warning and the user's own call
        if isinstance(prompt, str):
            body = self._hf.encode(prompt, add_special_tokens=False).ids
            return self._frame(prompt, body, warn_depth)
        prompts = check_prompts(prompt)
        encodings = self._hf.encode_batch(prompts, add_special_tokens=False)
        batch = []
        for p, e in zip(prompts, encodings):  # a loop, not a comprehension: same depth on every Python
            batch.append(self._frame(p, e.ids, warn_depth))
        return batch

    def ids(self, prompts: str | Sequence[str]) -> np.ndarray:
        """Token ids ``[B, 77]`` int32 for one prompt or a batch (B = 1 for a single string)."""
        batch = [prompts] if isinstance(prompts, str) else prompts
        return np.stack([t.array() for t in self(batch)])

    def _frame(self, prompt: str, body: list[int], warn_depth: int) -> Tokens:
        keep = self.context_length - 2  # 75 for CLIP: start + 75 + end = 77
        kept, cut = body[:keep], body[keep:]
        ids = [self.start_id, *kept, self.end_id]
        n_real = len(ids)
        ids += [self.pad_id] * (self.context_length - n_real)
        truncated = tuple(self.piece(i) for i in cut)
        if cut:
            warnings.warn(
                f"prompt has {len(body)} tokens but CLIP reads only the first {keep}: "
                f"{len(cut)} dropped ({' '.join(truncated)!r}). Shorten the prompt or move "
                "what matters to the front.",
                PromptTruncatedWarning,
                stacklevel=warn_depth,
            )
        return Tokens(prompt, tuple(ids), tuple(self.piece(i) for i in ids), n_real, truncated)

    # -- reading tokens back -----------------------------------------------------------------

    def token(self, token_id: int) -> str:
        """The raw vocabulary entry of an id, e.g. ``'circle</w>'`` (byte-level symbols)."""
        return self._tokens[int(token_id)]

    def piece(self, token_id: int) -> str:
        """The readable form of an id: ``'circle'``, ``'explain@@'``, ``'<|endoftext|>'``."""
        raw = self.token(token_id)
        if raw in (START_TOKEN, END_TOKEN):
            return raw
        ends_word = raw.endswith(END_OF_WORD)
        symbols = raw[: -len(END_OF_WORD)] if ends_word else raw
        text = bytes(self._byte_of[c] for c in symbols).decode("utf-8", errors="backslashreplace")
        return text if ends_word else text + SUBWORD_MARK

    def decode(self, ids: Sequence[int]) -> str:
        """Text back from ids, dropping start/end/padding (lowercased and normalised, as encoded)."""
        words, buf = [], bytearray()
        for i in ids:
            raw = self.token(i)
            if raw in (START_TOKEN, END_TOKEN):
                continue
            ends_word = raw.endswith(END_OF_WORD)
            buf += bytes(self._byte_of[c] for c in (raw[:-4] if ends_word else raw))
            if ends_word:
                words.append(buf.decode("utf-8", errors="replace"))
                buf = bytearray()
        if buf:
            words.append(buf.decode("utf-8", errors="replace"))
        return " ".join(words)

    def __len__(self) -> int:
        return len(self.vocab)

    def get_config(self) -> dict:
        return {"context_length": self.context_length, "vocab_size": len(self.vocab)}


def check_prompts(prompts) -> list[str]:
    """Return ``prompts`` as a list of str, or raise TypeError naming what was wrong."""
    if isinstance(prompts, str):
        return [prompts]
    if prompts is None or isinstance(prompts, (bytes, bytearray)) or not isinstance(
        prompts, (list, tuple)
    ):
        raise TypeError(_not_text("prompt", prompts))
    for k, p in enumerate(prompts):
        if not isinstance(p, str):
            raise TypeError(_not_text(f"prompt[{k}]", p))
    return list(prompts)


def _not_text(name: str, value) -> str:
    hint = " Decode it first, e.g. prompt.decode('utf-8')." if isinstance(value, bytes) else ""
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return (
        f"{name} must be text (a str) or a list of str, got {type(value).__name__}: {shown}."
        f"{hint}"
    )


@functools.lru_cache(maxsize=None)
def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from the 256 byte values to printable unicode symbols."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


@functools.lru_cache(maxsize=1)
def default_tokenizer() -> Tokenizer:
    """The CLIP ViT-L/14 tokenizer shipped in ``assets/clip-tokenizer`` (loaded once)."""
    return Tokenizer.from_folder(asset_path("clip-tokenizer"))


def tokenize(prompt: str | Sequence[str]) -> Tokens | list[Tokens]:
    """Tokenize with CLIP's vocabulary: ``explainer.tokenize("a red circle").ids`` -> 77 ints."""
    if not isinstance(prompt, str):
        check_prompts(prompt)  # a clear TypeError before the vocabulary loads
    return default_tokenizer()._tokenize(prompt, warn_depth=4)
