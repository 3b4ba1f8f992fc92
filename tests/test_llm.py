"""The chat-model backends: "none", and "openai" against a real llama.cpp server with the same GGUF."""

from __future__ import annotations

import os
import sys
import threading

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from servers import free_port, start, stop

from assistant import ModelError, Settings
from assistant.generation.generate import build_generator
from assistant.runtime.llm import LlamaCppChat, ModelThread, build_chat_model
from assistant.runtime.modelfile import verified_model_path

SERVER_START_S = 180  # a ceiling for loading the model on a busy CI machine, not a speed target


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


@pytest.mark.slow
def test_llamacpp_chat_model_generates_streams_and_can_be_steered(local_chat_model):
    assert isinstance(local_chat_model, LlamaCppChat)
    messages = [SystemMessage("Reply with one short sentence."), HumanMessage("Say hello.")]
    reply = local_chat_model.invoke(messages, max_tokens=12)
    assert isinstance(reply, AIMessage) and reply.content.strip()
    pieces = [c.content for c in local_chat_model.stream(messages, max_tokens=12)]
    assert len([p for p in pieces if p]) > 1
    assert "".join(pieces) == reply.content  # greedy decoding: the same words either way
    seen, decoding_threads = [], set()

    def shout(text: str, piece: str) -> str | None:
        seen.append(piece)
        decoding_threads.add(threading.current_thread().name)
        return None if text else "HELLO"  # replace only the first token

    steered = "".join(c.content for c in local_chat_model.stream(messages, max_tokens=6, guide=shout))
    assert steered.startswith("HELLO") and len(seen) >= 2
    assert decoding_threads == {"llama"}  # read here, decoded on the model's own thread
    assert local_chat_model.count_tokens("Hello world") == 2


@pytest.mark.slow
def test_a_stream_closed_early_frees_the_model_for_the_next_call(local_chat_model):
    messages = [HumanMessage("Count from one to fifty in words.")]
    stream = local_chat_model.stream(messages, max_tokens=200)
    next(stream)
    stream.close()
    reply = local_chat_model.invoke([HumanMessage("Say hello.")], max_tokens=4)
    assert reply.content.strip()


def test_the_model_thread_runs_jobs_in_order_and_hands_back_results_and_errors():
    worker, order = ModelThread(name="test-model"), []
    for n in range(5):
        worker.submit(lambda n=n: order.append(n))
    assert worker.call(lambda: threading.current_thread().name) == "test-model"
    assert order == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="bad"):
        worker.call(lambda: int("bad"))
    # a call made from the thread itself runs in place instead of waiting for itself
    assert worker.call(lambda: worker.call(lambda: 42)) == 42


# --- a real OpenAI-compatible server: llama.cpp's, with the same GGUF -----------------------------


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """`python -m llama_cpp.server` on 127.0.0.1 and a free port; stopped by its PID afterwards."""
    model = verified_model_path(Settings())
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    process = start(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
         "--host", "127.0.0.1", "--port", str(port), "--n_threads", "2", "--n_ctx", "4096",
         "--model_alias", "study-model"],
        os.environ.copy(), tmp_path_factory.mktemp("llama-server") / "server.log",
        f"{base_url}/models", SERVER_START_S,
    )
    try:
        yield process, base_url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def served(llama_server, essay_index_dir, embedder):
    """The facade answering through the openai backend against the real server."""
    from assistant import Assistant

    _, base_url = llama_server
    settings = Settings(index_dir=essay_index_dir, mode="generative", llm_backend="openai",
                        openai_base_url=base_url, openai_model="study-model", llm_timeout_s=120)
    assistant = Assistant.from_settings(settings, embedder=embedder)
    assistant.warm_up()
    return assistant


# Over HTTP there is no token-level steering, so the test asks what the small model cites unaided.
QUESTION = "How old is Kathy H.?"


@pytest.mark.slow
def test_openai_backend_answers_through_a_real_server(served):
    assert served.generative_available
    items = list(served.stream(QUESTION))
    answer = items[-1]
    assert answer.mode == "generative", answer.notice
    assert len(items) > 2  # streamed over HTTP before the final answer
    assert "thirty-one" in answer.answer or "31" in answer.answer
    assert any("thirty-one" in c.chunk.text for c in answer.citations)
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
    assert any("thirty-one" in c.chunk.text for c in answer.citations)
