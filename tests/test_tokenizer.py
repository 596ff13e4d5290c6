"""CLIP tokenizer: parity with transformers' CLIPTokenizer, framing, readable pieces, bad input."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import explainer
from explainer.assets import asset_path
from explainer.tokenizer import (
    CONTEXT_LENGTH,
    PromptTruncatedWarning,
    Tokenizer,
    default_tokenizer,
    tokenize,
)
from tokenizer_corpus import LONG_TEXT, corpus

START, END = 49406, 49407


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """transformers' CLIPTokenizer loaded the way diffusers loads SD's tokenizer/ folder."""
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tokenizer")
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(asset_path("clip-tokenizer", name), folder / name)
    (folder / "tokenizer_config.json").write_text('{"model_max_length": 77}')
    return transformers.CLIPTokenizer.from_pretrained(folder)


def test_vocabulary_is_clips():
    tok = default_tokenizer()
    assert len(tok) == 49408
    assert len(tok.merges) == 48894
    assert tok.token(START) == "<|startoftext|>" and tok.token(END) == "<|endoftext|>"
    assert tok.token(0) == "!" and tok.token(256) == "!</w>"  # bytes, then bytes + </w>


def test_parity_with_transformers_on_corpus(reference):
    prompts = corpus()
    assert len(prompts) >= 300, len(prompts)
    expected = reference(
        prompts, padding="max_length", max_length=CONTEXT_LENGTH, truncation=True
    ).input_ids
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PromptTruncatedWarning)
        ours = default_tokenizer().ids(prompts)
    mismatched = [p for p, a, b in zip(prompts, ours.tolist(), expected) if a != b]
    # Exact equality: ids are integers, so there is no tolerance to choose.
    assert not mismatched, f"{len(mismatched)} of {len(prompts)} differ, e.g. {mismatched[:3]!r}"


def test_single_and_batch_agree():
    prompts = corpus()[:40]
    batch = tokenize(prompts)
    assert [t.ids for t in batch] == [tokenize(p).ids for p in prompts]


def test_unconditional_prompt():
    tokens = tokenize("")
    assert tokens.ids == (START,) + (END,) * 76
    assert tokens.n_real == 2 and tokens.n_padding == 75 and tokens.truncated == ()
    assert tokens.pieces[:2] == ("<|startoftext|>", "<|endoftext|>")


def test_framing_and_pieces():
    tokens = tokenize("A small red circle on the left")
    assert len(tokens.ids) == len(tokens.pieces) == 77
    assert tokens.pieces[:tokens.n_real] == (
        "<|startoftext|>", "a", "small", "red", "circle", "on", "the", "left", "<|endoftext|>"
    )
    assert tokens.n_real == 9
    assert set(tokens.ids[tokens.n_real :]) == {END}  # padding is the end token
    assert tokens.array().dtype == np.int32 and tokens.array().shape == (77,)


def test_subword_and_byte_pieces():
    tok = default_tokenizer()
    tokens = tokenize("explainer 🔥")
    body = tokens.pieces[1 : tokens.n_real - 1]
    assert body[-1] == "🔥" or body[-1].startswith("\\x")
    assert any(p.endswith("@@") for p in body[:-1]), body  # "explainer" is split
    assert "".join(p.removesuffix("@@") for p in body[:-1]) == "explainer"
    assert tok.decode(tokens.ids) == "explainer 🔥"


@pytest.mark.parametrize("n_body,n_cut", [(74, 0), (75, 0), (76, 1), (77, 2), (300, 225)])
def test_truncation_keeps_the_first_75(n_body, n_cut):
    # one token per word, so body position k is words[k]
    words = (["red", "green", "blue", "cat"] * 80)[:n_body]
    prompt = " ".join(words)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tokens = tokenize(prompt)
    assert len(tokens.truncated) == n_cut
    assert tokens.ids[-1] == END and tokens.ids[0] == START
    assert tokens.n_real == min(n_body, 75) + 2
    assert list(tokens.pieces[1 : 1 + min(n_body, 75)]) == words[:75]
    assert list(tokens.truncated) == words[75:]
    truncation_warnings = [w for w in caught if issubclass(w.category, PromptTruncatedWarning)]
    assert len(truncation_warnings) == (1 if n_cut else 0)
    if n_cut:
        assert f"{n_cut} dropped" in str(truncation_warnings[0].message)


def test_long_prompt_loses_its_tail_not_its_head():
    with pytest.warns(PromptTruncatedWarning):
        tokens = tokenize(LONG_TEXT * 2)
    assert tokens.pieces[1:4] == ("an", "intricate", "and")
    assert len(tokens.truncated) > 0


@pytest.mark.parametrize("bad", [None, b"a red circle", 42, 3.5, ["ok", 7], ("ok", None), {"a"}])
def test_not_text_is_a_type_error_naming_the_type(bad):
    with pytest.raises(TypeError) as info:
        tokenize(bad)
    name = type(bad).__name__ if not isinstance(bad, (list, tuple)) else type(bad[1]).__name__
    assert name in str(info.value)
    if isinstance(bad, bytes):
        assert "decode" in str(info.value)


def test_from_folder_names_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="merges.txt"):
        shutil.copy(asset_path("clip-tokenizer", "vocab.json"), tmp_path / "vocab.json")
        Tokenizer.from_folder(tmp_path)


@pytest.fixture(scope="module")
def saved_by_transformers(reference, tmp_path_factory):
    """A tokenizer/ folder as today's transformers saves it (save_pretrained)."""
    folder = tmp_path_factory.mktemp("tokenizer-json")
    reference.save_pretrained(folder)
    return folder


def test_tokenizer_json_layout_matches_transformers(saved_by_transformers):
    import transformers

    names = {p.name for p in saved_by_transformers.iterdir()}
    # transformers 5 writes the single-file layout only; the legacy files are not there
    assert "tokenizer.json" in names and not names & {"vocab.json", "merges.txt"}, names
    reloaded = transformers.CLIPTokenizer.from_pretrained(saved_by_transformers)
    prompts = corpus()
    expected = reloaded(prompts, padding="max_length", max_length=CONTEXT_LENGTH,
                        truncation=True).input_ids
    ours = Tokenizer.from_folder(saved_by_transformers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PromptTruncatedWarning)
        ids = ours.ids(prompts)
    mismatched = [p for p, a, b in zip(prompts, ids.tolist(), expected) if a != b]
    # Exact equality: ids are integers, so there is no tolerance to choose.
    assert not mismatched, f"{len(mismatched)} of {len(prompts)} differ, e.g. {mismatched[:3]!r}"
    # the same vocabulary as the legacy files, so readable pieces and decoding agree too
    legacy = default_tokenizer()
    assert len(ours) == len(legacy) and ours.merges == legacy.merges
    assert ours("explainer 🔥").pieces == legacy("explainer 🔥").pieces


def test_tokenizer_json_is_preferred_and_both_layouts_agree(saved_by_transformers, tmp_path):
    both = Path(shutil.copytree(saved_by_transformers, tmp_path / "both"))
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(asset_path("clip-tokenizer", name), both / name)
    (both / "merges.txt").write_text("#version: 0.2\n")  # would break every prompt if it were read
    tok = Tokenizer.from_folder(both)
    assert tok("a small red circle").ids == default_tokenizer()("a small red circle").ids


def test_folder_with_neither_layout_names_both(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text("{}")
    with pytest.raises(FileNotFoundError) as info:
        Tokenizer.from_folder(tmp_path)
    message = str(info.value)
    assert "tokenizer.json" in message and "vocab.json" in message and "merges.txt" in message
    with pytest.raises(FileNotFoundError, match="not found"):
        Tokenizer.from_folder(tmp_path / "missing")


def test_a_broken_tokenizer_json_is_a_clear_error(tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"model": {"type": "WordPiece"}}')
    with pytest.raises(ValueError, match="not a CLIP tokenizer.json"):
        Tokenizer.from_folder(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{ not json")
    with pytest.raises(ValueError, match="not a CLIP tokenizer.json"):
        Tokenizer.from_folder(tmp_path)


def test_not_a_clip_vocabulary():
    with pytest.raises(ValueError, match="startoftext"):
        Tokenizer({"a": 0, "<|endoftext|>": 1}, [])


def test_public_api():
    assert explainer.tokenize is tokenize
    assert isinstance(explainer.tokenize("a"), explainer.Tokens)
    assert "2 padding" not in repr(explainer.tokenize("a"))  # 3 real + 74 padding
    assert repr(explainer.tokenize("a red circle")) == "Tokens('a red circle': 5 real + 72 padding)"
