"""The language model as a LangChain chat model, for the backend the settings name.

"llamacpp" runs the pinned GGUF (see modelfile.py) in-process through llama-cpp-python, with token
streaming and token-level steering; "openai" talks to any OpenAI-compatible server (llama.cpp's,
vLLM, Ollama, a hosted API); "none" has no model. Prompting and verification live in generate.py
and verify.py, not here.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.utils import convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from assistant.config import Settings
from assistant.errors import ModelError
from assistant.runtime.modelfile import INSTALL_COMMAND, PINNED, verified_model_path
from assistant.runtime.prompt_state import (
    SavedState,
    StateCache,
    StateKey,
    StateMismatch,
    read_state,
    tokens_sha256,
    write_state,
)
from assistant.runtime.pump import pump

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]  # (tokens evaluated, tokens in all)


@dataclass(frozen=True)
class Prefix:
    """A prompt start every question of a document shares, to keep evaluated between questions.

    `samples` are two prompts that differ only after it (two questions, say): the tokens they
    share are the prefix, cut where the chat template puts them. `path` is where its evaluated
    state is saved (None: kept in memory only); `prompts` names the prompt files it was made from,
    with their sha256, so a state made from other prompts is not restored.
    """

    samples: tuple[tuple[BaseMessage, ...], tuple[BaseMessage, ...]]
    path: Path | None = None
    prompts: tuple[tuple[str, str], ...] = ()


class ModelThread:
    """One long-lived thread that makes every llama.cpp call, in the order they were submitted.

    llama.cpp computes with an OpenMP team started from the calling thread, and it shares the
    OpenMP runtime with PyTorch (the embedder). The runtime keeps a pool of worker threads for
    every thread that ever started a team, and once those outnumber the cores it stops letting
    idle workers spin, which on 2 cores slows decoding from ~42 to ~27 tokens/s. Generating from
    whichever thread a request arrives on (a new pool each) was that slow; one thread that owns
    the model keeps a single pool (and embeddings.py keeps PyTorch's queries off OpenMP).
    """

    def __init__(self, name: str = "llama") -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except BaseException:  # a job's failure is its caller's business (see call)
                pass

    def here(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, job: Callable[[], None]) -> None:
        """Run `job` on the model's thread after the jobs before it."""
        self._jobs.put(job)

    def call(self, fn: Callable[[], Any]) -> Any:
        """`fn()` run on the model's thread (in place when already there); its result or error."""
        if self.here():
            return fn()
        done: Future = Future()

        def job() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        self.submit(job)
        return done.result()


class LlamaCppChat(BaseChatModel):
    """A LangChain chat model over an in-process llama_cpp.Llama, with token streaming.

    llama.cpp keeps the evaluated tokens of the last call and reuses their longest common prefix,
    so prompts that share a fixed prefix only pay for their tail. One call runs at a time, on the
    model's own thread (ModelThread); `submit` lets a caller run its reading work there too.
    """

    model_path: str
    n_threads: int = 2
    n_ctx: int = 4096
    max_tokens: int = 256
    temperature: float = 0.0  # greedy: answers are reproducible and stick to the passages
    n_batch: int = 256  # llama-cpp-python keeps n_batch x vocabulary logits; 512 would cost 300 MB
    draft_tokens: int = 3  # prompt lookup decoding (lookup.py): guesses checked per step; 0 = off
    states_in_memory: int = 2  # evaluated document prefixes kept in memory (prompt_state.py)
    model_sha256: str = ""  # the weights' sha256, which saved states record; "" = hash the file

    # Callers may pass guide=f, f(text so far, next piece) -> None to accept the piece, the text to
    # write instead (its first token, e.g. " ["; "" stops), or a list of pieces to pick the
    # likeliest from (an empty list: anything but this piece). A cheap way to steer greedy
    # decoding token by token.
    supports_guide: bool = True

    _llama: Any = PrivateAttr(default=None)
    _thread: ModelThread = PrivateAttr(default_factory=ModelThread)
    _states: StateCache | None = PrivateAttr(default=None)
    _prefix_tokens: dict[int, Any] = PrivateAttr(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx, "temperature": self.temperature}

    def submit(self, work: Callable[[], None]) -> None:
        """Run `work` on the model's thread, after the calls before it (for pump's `run`)."""
        self._thread.submit(work)

    def load(self) -> LlamaCppChat:
        """Load the weights now (otherwise on first use); ModelError if llama.cpp rejects the file."""
        if self._llama is None:
            self._thread.call(self._load)
        return self

    def _load(self) -> None:
        if self._llama is None:
            try:
                from llama_cpp import Llama

                from assistant.runtime.lookup import LookupLlama
            except ImportError:
                raise ModelError(
                    "llama-cpp-python is not installed; run `pip install -e .[llm]` "
                    "or set ASSISTANT_LLM_BACKEND=openai or none"
                ) from None
            drafting = {"draft_tokens": self.draft_tokens} if self.draft_tokens > 0 else {}
            kind = LookupLlama if drafting else Llama
            try:
                self._llama = kind(model_path=self.model_path, n_threads=self.n_threads,
                                   n_threads_batch=self.n_threads, n_ctx=self.n_ctx,
                                   n_batch=self.n_batch, verbose=False, **drafting)
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"llama.cpp cannot load {self.model_path}: {exc}; "
                                 f"delete it and run `{INSTALL_COMMAND}`") from exc

    def count_tokens(self, text: str) -> int:
        """Tokens the model's tokenizer makes of `text`."""
        return len(self.load()._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _completion_args(self, messages: list[BaseMessage], stop: list[str] | None,
                         **kwargs: Any) -> dict[str, Any]:
        args = {
            "messages": convert_to_openai_messages(messages),
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
            "stop": stop or [],
        }
        if kwargs.get("guide"):
            args["logits_processor"] = [self._steer(kwargs["guide"])]
        return args

    def _steer(self, guide: Callable[[str, str], str | list[str] | None]) -> Callable[..., Any]:
        """A llama.cpp logits processor that lets `guide` replace the greedy choice."""
        import numpy as np

        llama = self._llama
        eos = llama.token_eos()
        prompt_tokens: list[int] = []

        def piece(tokens: Sequence[int]) -> str:
            return llama.detokenize(list(tokens)).decode("utf-8", errors="ignore")

        def process(input_ids: Any, scores: Any) -> Any:
            if not prompt_tokens:
                prompt_tokens.append(len(input_ids))
            top = int(np.argmax(scores))
            instead = guide(piece(input_ids[prompt_tokens[0]:]), "" if top == eos else piece([top]))
            if instead is None:
                return scores
            options = [first_token(p) for p in ([instead] if isinstance(instead, str) else instead)]
            if options:
                best = max(options, key=lambda t: scores[t])
                scores[best] = scores[top] + 1.0
            else:
                scores[top] = -np.inf
            return scores

        def first_token(text: str) -> int:
            return llama.tokenize(text.encode("utf-8"), add_bos=False)[0] if text else eos

        return process

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        llama = self.load()._llama
        args = self._completion_args(messages, stop, **kwargs)
        prefix = kwargs.get("prefix")

        def complete() -> Any:
            if prefix is not None:
                self._keep(prefix)
            return llama.create_chat_completion(**args)

        result = self._thread.call(complete)
        choice = result["choices"][0]
        message = AIMessage(content=choice["message"]["content"] or "",
                            response_metadata={"finish_reason": choice.get("finish_reason")},
                            usage_metadata=_usage(result.get("usage")))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        llama = self.load()._llama
        if not self._thread.here():  # generate on the model's thread, read here
            yield from pump(lambda: self._stream(messages, stop, run_manager, **kwargs), None,
                            math.inf, run=self._thread.submit)
            return
        if kwargs.get("prefix") is not None:
            self._keep(kwargs["prefix"])
        chunks = llama.create_chat_completion(stream=True,
                                              **self._completion_args(messages, stop, **kwargs))
        try:
            for chunk in chunks:
                choice = chunk["choices"][0]
                delta = choice["delta"].get("content") or ""
                finish = choice.get("finish_reason")
                if not delta and not finish:
                    continue
                metadata = {"finish_reason": finish} if finish else {}
                piece = ChatGenerationChunk(
                    message=AIMessageChunk(content=delta, response_metadata=metadata))
                if run_manager and delta:
                    run_manager.on_llm_new_token(delta, chunk=piece)
                yield piece
        finally:
            chunks.close()  # leaves llama.cpp's cache consistent when the reader stops early


    # --- a document's prompt prefix, kept evaluated (prompt_state.py) -----------------------------

    def keep_prefix(self, prefix: Prefix, progress: Progress | None = None) -> str:
        """Make the model hold `prefix` evaluated, so the next prompt that starts with it pays only
        for the rest: "held" (it already did), "memory" or "disk" (restored from a saved state),
        or "built" (evaluated now, with `progress` called as it goes, and saved)."""
        self.load()
        return self._thread.call(lambda: self._keep(prefix, progress))

    def prefix_tokens(self, prefix: Prefix) -> Any:
        """The tokens both of the prefix's sample prompts start with."""
        self.load()
        return self._thread.call(lambda: self._tokens_of(prefix))

    def _keep(self, prefix: Prefix, progress: Progress | None = None) -> str:
        import numpy as np

        llama = self._llama
        tokens = self._tokens_of(prefix)
        n = len(tokens)
        if llama.n_tokens >= n and np.array_equal(llama.input_ids[:n], tokens):
            return "held"
        key = self._state_key(prefix, tokens)
        if self._states is None:
            self._states = StateCache(self.states_in_memory)
        state, source = self._states.get(key.prefix_sha256), "memory"
        if state is None and prefix.path is not None:
            state, source = self._read(prefix.path, key), "disk"
        if state is not None:
            try:
                self._restore(state)
            except RuntimeError as exc:
                log.warning("llama.cpp refused the saved prompt state %s (%s); evaluating the "
                            "document again", prefix.path, exc)
                llama.reset()
            else:
                self._states.put(state)
                return source
        self._evaluate(tokens, progress)
        state = self._capture(key, tokens)
        self._states.put(state)
        if prefix.path is not None:
            try:
                write_state(prefix.path, state)
            except OSError as exc:  # a full or read-only disk: answers still work, just slower
                log.warning("could not save the prompt state %s (%s); the next start evaluates "
                            "the document again", prefix.path, exc)
        return "built"

    def _tokens_of(self, prefix: Prefix) -> Any:
        import numpy as np

        cache_key = hash(tuple(str(m.content) for sample in prefix.samples for m in sample))
        tokens = self._prefix_tokens.get(cache_key)
        if tokens is None:
            a, b = (self._prompt_tokens(list(sample)) for sample in prefix.samples)
            same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            tokens = np.asarray(a[:same], dtype=np.intc)
            self._prefix_tokens = {cache_key: tokens, **dict(list(self._prefix_tokens.items())[-7:])}
        return tokens

    def _prompt_tokens(self, messages: list[BaseMessage]) -> list[int]:
        """The tokens create_chat_completion evaluates for `messages` (the GGUF's chat template)."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llama = self._llama
        eos, bos = llama.token_eos(), llama.token_bos()
        formatter = Jinja2ChatFormatter(
            template=llama.metadata["tokenizer.chat_template"],
            eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
        )
        result = formatter(messages=convert_to_openai_messages(messages))
        return llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special,
                              special=True)

    def _state_key(self, prefix: Prefix, tokens: Any) -> StateKey:
        import llama_cpp

        return StateKey(model_sha256=self._model_digest(), llama_cpp=llama_cpp.__version__,
                        n_ctx=self.n_ctx, prompts=tuple(prefix.prompts),
                        prefix_sha256=tokens_sha256(tokens))

    def _model_digest(self) -> str:
        if not self.model_sha256:
            digest = hashlib.sha256()
            with open(self.model_path, "rb") as f:
                while block := f.read(1 << 22):
                    digest.update(block)
            self.model_sha256 = digest.hexdigest()
        return self.model_sha256

    @staticmethod
    def _read(path: Path, key: StateKey) -> SavedState | None:
        try:
            return read_state(path, key)
        except FileNotFoundError:
            return None
        except (StateMismatch, OSError) as exc:
            log.warning("the saved prompt state %s is not used (%s); evaluating the document "
                        "again", path, exc)
            return None

    def _evaluate(self, tokens: Any, progress: Progress | None) -> None:
        """Evaluate `tokens` from the longest start the model already holds, a batch at a time."""
        llama = self._llama
        held = llama.input_ids[: llama.n_tokens]
        same = next((i for i, (x, y) in enumerate(zip(held, tokens)) if x != y),
                    min(len(held), len(tokens)))
        llama.n_tokens = same
        for start in range(same, len(tokens), self.n_batch):
            llama.eval(tokens[start : start + self.n_batch])
            if progress is not None:
                progress(min(start + self.n_batch, len(tokens)), len(tokens))

    def _capture(self, key: StateKey, tokens: Any) -> SavedState:
        import ctypes

        import llama_cpp

        ctx = self._llama._ctx.ctx
        size = llama_cpp.llama_state_get_size(ctx)
        data = bytearray(size)
        written = llama_cpp.llama_state_get_data(ctx, (ctypes.c_uint8 * size).from_buffer(data),
                                                 size)
        if written > size:
            raise ModelError("llama.cpp could not copy its state")
        del data[written:]
        return SavedState(key=key, tokens=tokens.copy(), data=data)

    def _restore(self, state: SavedState) -> None:
        import ctypes

        import llama_cpp

        llama = self._llama
        size = len(state.data)
        buffer = (ctypes.c_uint8 * size).from_buffer(state.data)
        if llama_cpp.llama_state_set_data(llama._ctx.ctx, buffer, size) != size:
            raise RuntimeError("llama_state_set_data failed")
        n = len(state.tokens)
        llama.input_ids[:n] = state.tokens
        llama.n_tokens = n


def _usage(usage: dict[str, int] | None) -> dict[str, int] | None:
    if not usage:
        return None
    return {"input_tokens": usage.get("prompt_tokens", 0),
            "output_tokens": usage.get("completion_tokens", 0),
            "total_tokens": usage.get("total_tokens", 0)}


def build_chat_model(settings: Settings) -> BaseChatModel | None:
    """The chat model the settings ask for (None for backend "none"); ModelError if unusable."""
    if settings.llm_backend == "none":
        return None
    if settings.llm_backend == "openai":
        return _openai_chat(settings)
    return _local_chat(str(verified_model_path(settings)), settings.llm_threads,
                       settings.llm_context, settings.llm_max_tokens, settings.llm_draft_tokens,
                       settings.llm_states_in_memory)


@functools.lru_cache(maxsize=2)
def _local_chat(path: str, threads: int, context: int, max_tokens: int,
                draft_tokens: int, states_in_memory: int) -> LlamaCppChat:
    # Process-wide: every assistant in a process (one per index in a batch evaluation, say) shares
    # one loaded model, which takes one call at a time anyway; loading it twice costs 1.9 GB.
    return LlamaCppChat(model_path=path, n_threads=threads, n_ctx=context,
                        max_tokens=max_tokens, draft_tokens=draft_tokens,
                        states_in_memory=states_in_memory, model_sha256=PINNED.sha256).load()


def _openai_chat(settings: Settings) -> BaseChatModel:
    if not settings.openai_base_url or not settings.openai_model:
        raise ModelError("the openai backend needs ASSISTANT_OPENAI_BASE_URL and "
                         "ASSISTANT_OPENAI_MODEL")
    check_reachable(settings.openai_base_url)
    from langchain_openai import ChatOpenAI

    # Local servers (llama.cpp, vLLM, Ollama) accept any key; the client insists on one.
    api_key = os.environ.get(settings.openai_api_key_env) or "not-needed"
    return ChatOpenAI(base_url=settings.openai_base_url, model=settings.openai_model,
                      api_key=api_key, timeout=settings.llm_timeout_s, max_retries=1,
                      temperature=0.0, max_tokens=settings.llm_max_tokens)


def check_reachable(base_url: str, timeout_s: float = 5.0) -> None:
    """ModelError unless something answers HTTP at base_url (any status: auth may be needed)."""
    import httpx

    try:
        httpx.get(base_url.rstrip("/") + "/models", timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise ModelError(f"the model server at {base_url} is unreachable ({exc})") from None
