"""Shared fixtures: the real embedding model (loaded once), a real essay index on disk, an isolated
environment, and helpers to run the real command line and to fingerprint an index directory.

Tests never write outside tmp_path and never touch indexes/default. Fixtures other test modules
define for themselves (e.g. their own `embedder`) take precedence inside those modules.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assistant.config import DEFAULT_DOCUMENT, OFFLINE_ENV, Settings

CLI_TIMEOUT_S = 300  # a generous ceiling for one CLI run that loads the model, not a speed target


@pytest.fixture(scope="session", autouse=True)
def offline_session() -> Iterator[None]:
    """No call home and no model hub for the whole session, session fixtures included."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in OFFLINE_ENV.items():
            patch.setenv(key, value)
        yield


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without ASSISTANT_* settings from the developer's shell, and offline."""
    for key in list(os.environ):
        if key.startswith("ASSISTANT_"):
            monkeypatch.delenv(key)
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)


# --- the real model and the essay index, built once per session ---------------------------------


@pytest.fixture(scope="session")
def embedder(offline_session):
    """The process-wide embedder with its model loaded (the same object the CLI in-process uses)."""
    from assistant.embeddings import load_embedder

    embedder = load_embedder()
    assert embedder.model.get_embedding_dimension() == 384  # loads it now, not mid-test
    # Exported now if the cache has none, not inside a later test's server or CLI run.
    assert embedder.prepare_queries() is not None
    return embedder


@pytest.fixture(scope="session")
def essay_index_dir(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:
    """A real index of the shipped essay with default settings; tests must not modify it."""
    from assistant.assistant import build_documents

    directory = tmp_path_factory.mktemp("essay-index")
    build_documents([DEFAULT_DOCUMENT], directory, Settings(), embedder)
    return directory


@pytest.fixture(scope="session")
def essay_settings(essay_index_dir: Path) -> Settings:
    return Settings(index_dir=essay_index_dir, llm_backend="none")


@pytest.fixture(scope="session")
def essay_assistant(essay_settings: Settings, embedder):
    """The facade over the essay index, extractive only."""
    from assistant import Assistant

    return Assistant.from_settings(essay_settings, embedder=embedder)


@pytest.fixture(scope="session")
def rules_assistant(essay_settings: Settings, embedder):
    """The same, scoring sentences with the hand-set rules instead of the trained reader."""
    from assistant import Assistant

    return Assistant.from_settings(essay_settings.with_(scoring="rules"), embedder=embedder)


@pytest.fixture(scope="session")
def essay_document():
    from assistant.ingest import read_document

    return read_document(DEFAULT_DOCUMENT)


@pytest.fixture(scope="session")
def essay_chunks(essay_document):
    from assistant.ingest import chunk_document

    settings = Settings()
    return chunk_document(essay_document, settings.chunk_chars, settings.chunk_overlap)


@pytest.fixture(scope="module")
def chunks(essay_chunks):
    """The essay's passages, under the short name the generation tests use."""
    return essay_chunks


@pytest.fixture(scope="module")
def prompts():
    """The prompt files shipped in prompts/."""
    from assistant import Settings
    from assistant.generation.prompting import load_prompts

    return load_prompts(Settings().prompts_dir)


@pytest.fixture
def index_copy(essay_index_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the essay index, for tests that damage or rebuild it."""
    return Path(shutil.copytree(essay_index_dir, tmp_path / "index"))


# --- helpers ------------------------------------------------------------------------------------


def digest_tree(directory: Path) -> dict[str, str]:
    """sha256 of every file under `directory` by relative path ({} when it is absent)."""
    directory = Path(directory)
    if not directory.exists():
        return {}
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def tree_digest() -> Callable[[Path], dict[str, str]]:
    return digest_tree


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run `python -m assistant ARGS...` from tmp_path with the test's environment."""

    def run(*args: str, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "assistant", *map(str, args)],
            cwd=tmp_path,
            env=dict(os.environ),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


def make_text(sentences: int, seed: int = 0, width: int = 78) -> str:
    """Deterministic hard-wrapped prose with `<br>` paragraph marks, as students' files arrive."""
    rng = random.Random(seed)
    syllables = ["ka", "tho", "mir", "len", "da", "vos", "rel", "ush", "pen", "gal", "ti", "no"]
    words = ["".join(rng.choices(syllables, k=rng.randint(1, 3))) for _ in range(400)]
    lines, line = [], ""
    for n in range(sentences):
        sentence = " ".join(rng.choices(words, k=rng.randint(8, 18))).capitalize() + "."
        for word in sentence.split():
            if len(line) + len(word) + 1 > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        if n % 12 == 11:
            lines.append(line + " <br>")
            line = ""
    lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.fixture
def text_maker() -> Callable[..., str]:
    return make_text


# --- the local language model (generative answers) ---------------------------------------------


@pytest.fixture(scope="session")
def local_chat_model():
    """The embedded LLM (llama.cpp with the pinned GGUF), loaded once per session; slow tests only."""
    from assistant.runtime.llm import build_chat_model

    return build_chat_model(Settings(llm_backend="llamacpp"))
