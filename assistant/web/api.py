"""The HTTP API: `POST /api/ask` and `GET /api/health`, a thin adapter over the Assistant facade.

The API is stateless: a conversation's history comes in the request body. Concurrent extractive
questions are answered together (one embedding call for the batch) and recent answers are reused,
see `Batcher`; generative questions and follow-ups go one by one. Errors a client can fix come
back as 4xx with a one-line `{"error": ...}`. Docs at /docs (Swagger UI) and /redoc are served
from local files, not a CDN. Leaves out the chat and the widget (server.py) and the origin
policy, size limits and rate limiter (access.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections import OrderedDict
from typing import Literal

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.assistant import MAX_K, Assistant
from assistant.errors import AssistantError, InputError, ModelError, UnusableIndexError
from assistant.schema import Answer, Turn
from assistant.web.access import RateLimiter, guard
from assistant.web.study_api import add_study_routes

Key = tuple[str, int | None]  # (question, k)
BUSY = "The assistant is busy; please try again in a moment."
MAX_HISTORY = 50  # turns accepted in a request; the facade uses only the last few


# ---------------------------------------------------------------- request and response shapes


class TurnIn(BaseModel):
    """One earlier exchange of the conversation."""

    model_config = ConfigDict(extra="forbid")
    question: StrictStr
    answer: StrictStr
    cited: list[StrictStr] = Field(
        default_factory=list, max_length=20,
        description="chunk_id of each of that answer's citations: lets \"What page is that on?\" "
                    "answer from the passages it quoted")


class AskRequest(BaseModel):
    """A question about the indexed documents, with the conversation so far."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "What is the essay's thesis?", "k": 5}]},
    )
    question: StrictStr = Field(description="the question; at most Settings.max_question_chars")
    history: list[TurnIn] = Field(default_factory=list, max_length=MAX_HISTORY)
    mode: Literal["extractive", "generative"] | None = Field(
        default=None, description="extractive quotes the essay; generative explains (needs an LLM)"
    )
    k: StrictInt | None = Field(default=None, ge=1, le=MAX_K, description="passages to retrieve")
    id: StrictStr | StrictInt | None = Field(
        default=None, description="echoed in the answer record (a number as a string, as eval does)")


class CitationOut(BaseModel):
    marker: int
    chunk_id: str
    source: str
    paragraph: int
    start: int
    end: int
    text: str
    pages: list[str] = Field(description="the pages the passage's MLA citations name, e.g. (Ishiguro 254)")
    source_pages: list[str] = Field(
        default_factory=list,
        description="the PDF pages the passage is on: their printed labels, else 1-based numbers",
    )


class PassageOut(BaseModel):
    chunk_id: str
    source: str
    paragraph: int
    start: int
    end: int
    text: str
    score: float


class SentenceCheckOut(BaseModel):
    text: str
    markers: list[int]
    verified: bool
    problems: list[str]


class AnswerRecord(BaseModel):
    """The answer record, the same shape as `assistant ask --json` and `assistant eval` write."""

    model_config = ConfigDict(extra="forbid")
    id: str | None
    question: str
    answer: str = Field(description="text with [n] markers that resolve to `citations`")
    refused: bool = Field(description="true when the documents do not support an answer")
    mode: Literal["extractive", "generative"]
    citations: list[CitationOut]
    retrieved: list[PassageOut] = Field(description="the top k passages, in rank order")
    latency_ms: float
    notice: str | None = None
    standalone_question: str | None = None
    verification: list[SentenceCheckOut] | None = None
    draft: list[SentenceCheckOut] | None = Field(
        None, description="a fallback's generated sentences, none of which passed verification"
    )
    nearest: str | None = Field(
        None, description="a refusal's offered sentence, exactly as quoted in `answer`"
    )


class ErrorOut(BaseModel):
    error: str


class Health(BaseModel):
    status: Literal["ok"]
    documents: list[str]
    chunks: int
    mode: str


# ---------------------------------------------------------------- batching


class Batcher:
    """Answers concurrent extractive questions together with one `ask_many` call.

    While one batch is being answered the next one gathers, so under load each embedding call
    serves many questions and at low load a question waits for nobody. Extractive answers depend
    only on the question, k and the read-only index, so a question already being answered is not
    answered twice, and recent answers are reused: in a class many students ask the same example
    questions.
    """

    def __init__(self, assistant: Assistant, max_batch: int = 64, cache_size: int = 2048) -> None:
        self.assistant = assistant
        self.max_batch = max_batch
        self.cache_size = cache_size
        self._cache: OrderedDict[Key, Answer] = OrderedDict()
        self._pending: dict[Key, asyncio.Future[Answer]] = {}  # asked, not yet answered
        self._waiting: list[Key] = []  # pending, not yet in a batch
        self._worker: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        return len(self._pending)

    async def ask(self, question: str, *, k: int | None, id: str | None) -> Answer:
        """The extractive answer to one (already checked) question."""
        started = time.perf_counter()
        key = (question, k)
        answer = self._cache.get(key)
        if answer is not None:
            self._cache.move_to_end(key)
        else:
            future = self._pending.get(key)
            if future is None:
                future = self._pending[key] = asyncio.get_running_loop().create_future()
                self._waiting.append(key)
                if self._worker is None or self._worker.done():
                    self._worker = asyncio.create_task(self._drain())
            # Shielded: a client that goes away must not cancel the answer others wait for.
            answer = await asyncio.shield(future)
        latency = (time.perf_counter() - started) * 1000
        return dataclasses.replace(answer, id=id, latency_ms=latency)

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
            by_k: dict[int | None, list[Key]] = {}
            for key in batch:
                by_k.setdefault(key[1], []).append(key)
            for k, keys in by_k.items():
                call = functools.partial(self.assistant.ask_many, [q for q, _ in keys], k=k)
                try:
                    answers = await anyio.to_thread.run_sync(call)
                except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                    for key in keys:
                        self._pending.pop(key).set_exception(exc)
                    continue
                for key, answer in zip(keys, answers, strict=True):
                    self._pending.pop(key).set_result(answer)
                    self._cache[key] = answer
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)


# ---------------------------------------------------------------- the app


def create_api(assistant: Assistant, *, guarded: bool = True,
               limiter: RateLimiter | None = None) -> FastAPI:
    """A FastAPI app with the HTTP API and offline docs; server.py adds the chat and the widget.
    A library's documents pass guarded=False (the library app is guarded once) and one limiter."""
    from fastapi_offline import FastAPIOffline

    settings = assistant.settings
    app = FastAPIOffline(
        title="Study Assistant",
        version="1.0",
        description=(
            "Ask questions about the indexed essay and get answers that cite its passages.\n\n"
            "`POST /api/ask` is stateless: send earlier turns in `history`. The chat is also "
            "callable with `gradio_client`: `Client(url).predict(question, [], 'extractive', "
            "api_name='/ask')`."
        ),
    )
    batcher = Batcher(assistant)
    if limiter is None:
        limiter = RateLimiter(settings.rate_limit_per_minute)
    one_by_one = 0  # generative questions and follow-ups being answered

    async def rate_limit(request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        wait = limiter.retry_after(client)
        if wait:
            raise _Refusal(
                429, "Too many requests; wait and try again.", {"Retry-After": str(wait)}
            )

    @app.post(
        "/api/ask",
        response_model=AnswerRecord,
        responses={
            413: {"model": ErrorOut, "description": "body larger than Settings.max_body_bytes"},
            422: {
                "model": ErrorOut,
                "description": "missing, empty or over-long question; bad types",
            },
            429: {"model": ErrorOut, "description": "rate limit; see Retry-After"},
            503: {"model": ErrorOut, "description": "busy, or the index/model is unusable"},
        },
        summary="Answer one question with citations",
        dependencies=[Depends(rate_limit)],
    )
    async def ask(body: AskRequest) -> JSONResponse:
        nonlocal one_by_one
        question = assistant.check_question(body.question)
        if batcher.waiting + one_by_one >= settings.queue_size:
            raise _Refusal(503, BUSY, {"Retry-After": "1"})
        mode = body.mode or settings.mode
        if mode == "extractive" and not body.history:
            answer = await batcher.ask(question, k=body.k, id=_id(body.id))
        else:
            history = tuple(Turn(t.question, t.answer, tuple(t.cited)) for t in body.history)
            call = functools.partial(
                assistant.ask, question, k=body.k, mode=mode, history=history, id=_id(body.id)
            )
            one_by_one += 1
            try:
                answer = await anyio.to_thread.run_sync(call)
            finally:
                one_by_one -= 1
        # The record is built by the facade; returning it as is keeps it identical to the CLI's.
        return JSONResponse(answer.to_dict())

    @app.get("/api/health", response_model=Health, summary="Is the server ready to answer?")
    async def health() -> dict:
        return {
            "status": "ok",
            "documents": sorted(assistant.documents),
            "chunks": len(assistant.chunks),
            "mode": settings.mode,
        }

    add_study_routes(app, assistant, rate_limit)

    @app.api_route("/api/{rest:path}", include_in_schema=False,
                   methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    async def elsewhere(request: Request, rest: str) -> None:
        # answered here, not by the chat mounted at "/": the API's errors keep the API's shape
        known = {r.path for r in app.routes if r.path != "/api/{rest:path}"}
        raise StarletteHTTPException(405 if request.url.path in known else 404)

    _add_error_handlers(app)
    if guarded:
        guard(app, settings)
    return app


class _Refusal(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def _add_error_handlers(app: FastAPI) -> None:
    def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.exception_handler(_Refusal)
    async def refused(_: Request, exc: _Refusal) -> JSONResponse:
        return error(exc.status, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error(422, _one_line(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):  # noqa: ANN202
        # this API's errors are {"error": ...} (a body that is not UTF-8, an unknown route or
        # method); the chat's routes keep the framework's own shape
        if not request.url.path.startswith("/api/"):
            return await http_exception_handler(request, exc)
        message = {400: "the body could not be read (send UTF-8 JSON)",
                   404: f"no such endpoint: {request.url.path}; see /docs",
                   405: f"{request.method} is not allowed here; see /docs"}.get(
            exc.status_code, str(exc.detail))
        return error(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(AssistantError)
    async def assistant_error(_: Request, exc: AssistantError) -> JSONResponse:
        if isinstance(exc, InputError):
            return error(422, str(exc))
        if isinstance(exc, UnusableIndexError | ModelError):
            return error(503, str(exc))
        return error(400, str(exc))


def _id(given: str | int | None) -> str | None:
    return None if given is None else str(given)


def _one_line(errors) -> str:
    """The first validation problem as `field: message`, e.g. `question: Field required`."""
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = first.get("msg", "invalid value")
    if first.get("type") == "json_invalid":
        return "the body is not valid JSON"
    if not where and first.get("type") in ("model_attributes_type", "dict_type"):
        return ('the body must be a JSON object such as {"question": "..."}, sent with '
                "content-type: application/json")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{where or 'body'}: {message}{more}"
