"""Saved prompt states: the file format and its refusals, and, with the real model, a document's
Explain prefix saved, restored and rebuilt."""

from __future__ import annotations

import errno
import logging
import os
import threading

import numpy as np
import pytest

from assistant.generation.generate import Generator
from assistant.runtime.prompt_state import (
    SavedState,
    StateCache,
    StateKey,
    StateMismatch,
    read_state,
    write_state,
)

KEY = StateKey(model_sha256="m" * 64, llama_cpp="0.3.36", n_ctx=8192,
               prompts=(("answer_system.md", "a" * 64),), prefix_sha256="p" * 64)


def saved(fill: int = 7, size: int = 4096, key: StateKey = KEY) -> SavedState:
    return SavedState(key=key, tokens=np.arange(100, dtype=np.intc), data=bytearray([fill]) * size)


def test_a_state_reads_back_as_written(tmp_path):
    path = tmp_path / "state.bin"
    written = write_state(path, saved())
    assert path.stat().st_size == written
    state = read_state(path, KEY)
    assert state.tokens.tolist() == list(range(100)) and state.data == saved().data
    assert [p.name for p in tmp_path.iterdir()] == ["state.bin"]  # no temporary file left


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("model_sha256", "x" * 64, "another model"),
    ("n_ctx", 4096, "another context size"),
    ("prompts", (("answer_system.md", "b" * 64),), "other prompt files"),
    ("prefix_sha256", "q" * 64, "another version of the document"),
    ("llama_cpp", "0.4.0", "another llama.cpp version"),
])
def test_a_state_made_for_something_else_is_refused_naming_what(tmp_path, field, value, reason):
    from dataclasses import replace

    path = tmp_path / "state.bin"
    write_state(path, saved())
    with pytest.raises(StateMismatch, match=reason):
        read_state(path, replace(KEY, **{field: value}))


@pytest.mark.parametrize(("damage", "reason"), [
    (lambda raw: raw[: len(raw) // 2], "truncated"),
    (lambda raw: raw[:-1], "truncated"),
    (lambda raw: raw + b"\0", "after its end"),
    (lambda raw: raw[:-10] + bytes([raw[-10] ^ 1]) + raw[-9:], "checksums"),
    (lambda raw: b"GGUF" + raw[4:], "not a saved prompt state"),
    (lambda raw: raw[:12] + b"[" + raw[13:], "header is damaged"),
    (lambda raw: b"", "not a saved prompt state"),
])
def test_a_damaged_state_file_is_refused(tmp_path, damage, reason):
    path = tmp_path / "state.bin"
    write_state(path, saved())
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(StateMismatch, match=reason):
        read_state(path, KEY)


def test_a_missing_state_is_not_a_mismatch(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_state(tmp_path / "none.bin", KEY)


def test_a_failed_write_leaves_the_previous_state_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "state.bin"
    write_state(path, saved(fill=1))

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_state(path, saved(fill=2))
    assert read_state(path, KEY).data == saved(fill=1).data
    assert [p.name for p in tmp_path.iterdir()] == ["state.bin"]


def test_two_writers_at_once_leave_one_whole_state(tmp_path):
    path = tmp_path / "state.bin"
    states = [saved(fill=n, size=1 << 20) for n in range(1, 7)]
    threads = [threading.Thread(target=write_state, args=(path, s)) for s in states]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert read_state(path, KEY).data in [s.data for s in states]
    assert [p.name for p in tmp_path.iterdir()] == ["state.bin"]


def test_the_memory_cache_keeps_the_most_recently_used():
    from dataclasses import replace

    cache = StateCache(2)
    a, b, c = (saved(key=replace(KEY, prefix_sha256=name)) for name in "abc")
    cache.put(a)
    cache.put(b)
    assert cache.get("a") is a  # a is now the most recent
    cache.put(c)
    assert cache.get("b") is None and cache.get("a") is a and cache.get("c") is c
    assert len(cache) == 2 and cache.nbytes == a.nbytes + c.nbytes
    assert len(StateCache(0).put(a) or StateCache(0)) == 0


# --- the real model ----------------------------------------------------------------------------

QUESTIONS = ["How old is Kathy H.?", "Who says “We’re modeled from trash”?"]


@pytest.fixture(scope="module")
def llm_settings(essay_settings):
    return essay_settings.with_(llm_backend="llamacpp", mode="generative")


def answers(generator: Generator, chunks) -> list[str]:
    """What the model wrote for each question, as streamed (before verification)."""
    return ["".join(item for item in generator.stream(question, _passages(chunks, question))
                    if isinstance(item, str)) for question in QUESTIONS]


def _passages(chunks, question):
    from assistant.schema import Passage

    words = "thirty-one" if "old" in question else "modeled from trash"
    return [Passage(c, 1.0, 1) for c in chunks if words in c.text][:1]


def _forget(model) -> None:
    """The model holds nothing and remembers no state in memory: the next call starts cold."""
    model._states = None
    model._llama.reset()


@pytest.mark.slow
def test_a_saved_state_restores_and_answers_as_a_fresh_prefix_does(
        llm_settings, chunks, prompts, local_chat_model, tmp_path):
    path = tmp_path / "explain-state.bin"
    generator = Generator(local_chat_model, prompts, chunks, llm_settings, path)
    _forget(local_chat_model)
    assert generator.prepare() == "built" and path.exists()
    assert generator.prepare() == "held"
    fresh = answers(generator, chunks)  # after the prefix was evaluated here

    _forget(local_chat_model)
    assert generator.prepare() == "disk"
    restored = answers(generator, chunks)  # after it was read back from the file
    assert restored == fresh and all(restored)
    assert "thirty-one" in restored[0]


@pytest.mark.slow
def test_a_corrupted_state_is_detected_rebuilt_and_saved_again(
        llm_settings, chunks, prompts, local_chat_model, tmp_path, caplog):
    path = tmp_path / "explain-state.bin"
    generator = Generator(local_chat_model, prompts, chunks, llm_settings, path)
    _forget(local_chat_model)
    assert generator.prepare() == "built"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))

    _forget(local_chat_model)
    with caplog.at_level(logging.WARNING):
        assert generator.prepare() == "built"
    assert "checksums" in caplog.text and "evaluating the document again" in caplog.text
    _forget(local_chat_model)
    assert generator.prepare() == "disk"  # the rebuilt file is whole again


@pytest.mark.slow
def test_two_documents_take_turns_restoring_their_own_prefix(
        llm_settings, chunks, prompts, local_chat_model, tmp_path):
    from assistant.ingest import chunk_document, document_from_text

    other_text = ("Kathy H. is forty-two years old in this other text. " * 3 +
                  "Ruth says nothing about trash here.")
    other = chunk_document(document_from_text("other.txt", other_text), chunk_chars=800)
    first = Generator(local_chat_model, prompts, chunks, llm_settings, tmp_path / "a.bin")
    second = Generator(local_chat_model, prompts, other, llm_settings, tmp_path / "b.bin")
    _forget(local_chat_model)
    assert first.prepare() == "built" and second.prepare() == "built"
    assert first.prepare() == "memory"  # two states fit the default memory cache
    before = answers(first, chunks)
    second.prepare()
    after = answers(first, chunks)  # the stream restores the first document's prefix itself
    assert after == before


@pytest.mark.slow
def test_a_state_that_can_be_neither_read_nor_written_only_costs_time(
        llm_settings, chunks, prompts, local_chat_model, tmp_path, caplog):
    path = tmp_path / "explain-state.bin"
    path.mkdir()  # where the file should be, something that is not one
    generator = Generator(local_chat_model, prompts, chunks, llm_settings, path)
    _forget(local_chat_model)
    with caplog.at_level(logging.WARNING):
        assert generator.prepare() == "built"
        assert "thirty-one" in answers(generator, chunks)[0]
    assert "is not used" in caplog.text and "could not save the prompt state" in caplog.text
    assert path.is_dir() and not list(path.iterdir())
