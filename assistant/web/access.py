"""Who may embed and call the server, and how much: origins, request sizes, request rates.

Origins come from `Settings.allowed_origins` and nowhere else; this module turns them into a
`Content-Security-Policy: frame-ancestors` header and a CORS policy. Small ASGI middlewares add
the security headers, refuse oversized bodies (413) and refuse Gradio's URL relay; `RateLimiter`
keeps per-client token buckets for the HTTP API (429); `guard` installs them all on the root app.
Authentication is left out: the app holds no private data.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.errors import ConfigError

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from assistant.config import Settings

# The chat's own requests carry the visible conversation (Gradio sends the Chatbot's value), so
# they may be larger than an API question; still bounded.
CHAT_BODY_BYTES = 2_000_000

# Gradio's upload route (a student's own document, web/uploads.py), under each chat's path; the
# file is bounded by Gradio's max_file_size as it streams in, this by the body around it
GRADIO_UPLOAD = "/gradio_api/upload"
MULTIPART_BYTES = 64_000

# A page on the user's own machine cannot be planted by someone else, so localhost may always
# embed and call; Gradio itself trusts localhost the same way.
LOCAL_ORIGIN_REGEX = r"https?://(localhost|127\.0\.0\.1)(:\d+)?"
LOCAL_FRAME_SOURCES = ("http://localhost:*", "http://127.0.0.1:*", "https://localhost:*")


@dataclass(frozen=True)
class OriginPolicy:
    """The origins allowed to frame the app and to call it from a browser, besides its own."""

    origins: tuple[str, ...] = ()  # exact origins, or ("*",) for anyone

    @classmethod
    def from_settings(cls, allowed_origins: Iterable[str]) -> OriginPolicy:
        """Validate `Settings.allowed_origins`: each is `scheme://host[:port]`, or `*`."""
        cleaned = []
        for origin in allowed_origins:
            origin = origin.strip().rstrip("/")
            if origin == "*":
                cleaned.append(origin)
                continue
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
                raise ConfigError(
                    f"allowed origin {origin!r} must look like https://school.example[:port]"
                    " (scheme and host, no path), or be *"
                )
            cleaned.append(f"{parts.scheme}://{parts.netloc}".lower())
        return cls(tuple(cleaned))

    @property
    def anyone(self) -> bool:
        return "*" in self.origins

    def frame_ancestors(self) -> str:
        """The value of the Content-Security-Policy header."""
        if self.anyone:
            return "frame-ancestors *"
        return " ".join(("frame-ancestors 'self'", *LOCAL_FRAME_SOURCES, *self.origins))

    def cors_options(self) -> dict[str, object]:
        """Keyword arguments for Starlette's CORSMiddleware."""
        return {
            "allow_origins": ["*"] if self.anyone else list(self.origins),
            "allow_origin_regex": None if self.anyone else LOCAL_ORIGIN_REGEX,
            "allow_methods": ["GET", "POST", "OPTIONS"],
            "allow_headers": ["*"],  # Gradio's client sends its own headers (no cookies)
            "expose_headers": ["Retry-After"],
            "allow_credentials": False,  # neither Gradio's client nor the API sends cookies
        }


class SecurityHeaders:
    """Adds frame-ancestors and nosniff to every response: only allowed pages may frame the app."""

    def __init__(self, app: ASGIApp, *, frame_ancestors: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", frame_ancestors.encode("latin-1")),
            (b"x-content-type-options", b"nosniff"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeadAsGet:
    """Answers HEAD as GET without the body: FastAPI and Gradio routes take GET only, so link
    checkers and health probes that send HEAD (to /embed/, /widget/gradio.js) saw a 404."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        ended = False

        async def headers_only(message: Message) -> None:
            nonlocal ended
            if message["type"] == "http.response.body":
                if ended or message.get("more_body", False):
                    return  # the body's parts are dropped; the end is sent once, empty
                message, ended = {"type": "http.response.body", "body": b""}, True
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class NoRemoteFiles:
    """Refuses Gradio's `file=<url>` form, which makes the server fetch and relay a public URL.

    Gradio serves only its own cache and static files for local paths; a URL is never one of ours.
    """

    _url = re.compile(r"/file=[A-Za-z][A-Za-z0-9+.-]*:")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._url.search(scope["path"]):
            body = b'{"error": "This server serves only its own files."}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """Answers 413 to a request body larger than its path's limit, before the app reads any of it.

    Bodies with a Content-Length are judged by it; chunked bodies are read up to the limit and
    replayed to the app, which is cheap because the limits are small.
    """

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int | None]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        if limit is None:  # a route that streams its body to disk and bounds it itself
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > limit:
                await _too_large(send, limit)
                return
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                await _too_large(send, limit)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"error": f"Request body too large: the limit is {limit} bytes."}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RateLimiter:
    """Per-client token buckets: `per_minute` requests a minute, refilled evenly; 0 turns it off.

    A client may spend a whole minute's allowance at once, then waits for tokens to come back.
    Only the event loop touches it, so it needs no lock.
    """

    max_clients = 10_000  # past this many tracked clients, full buckets are forgotten

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, time)

    def retry_after(self, client: str) -> int:
        """Take one token for `client`: 0 if allowed, else whole seconds until a token is back."""
        if self.capacity <= 0:
            return 0
        now = self.clock()
        tokens, then = self._buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_clients:
                self._forget_full(now)
            return 0
        self._buckets[client] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.rate))

    def _forget_full(self, now: float) -> None:
        for client, (tokens, then) in list(self._buckets.items()):
            if tokens + (now - then) * self.rate >= self.capacity:
                del self._buckets[client]


def guard(app: Starlette, settings: Settings, *, own_limits: tuple[str, ...] = ()) -> None:
    """Install the origin policy, the body limits, the file-route check and HEAD on the root app.
    Bodies sent to paths under `own_limits` are bounded by their routes (uploads)."""
    from starlette.middleware.cors import CORSMiddleware

    policy = OriginPolicy.from_settings(settings.allowed_origins)

    def limit_for(path: str) -> int | None:
        if own_limits and path.startswith(own_limits):
            return None
        if path.endswith(GRADIO_UPLOAD):
            return max(CHAT_BODY_BYTES, settings.student_upload_max_bytes + MULTIPART_BYTES)
        return settings.max_body_bytes if path.startswith("/api/") else CHAT_BODY_BYTES

    # Added innermost first: the file check and size check, then CORS (so refusals stay readable
    # cross-origin), then the headers every response carries. Gradio sees this CORSMiddleware on
    # the parent app and adds no CORS headers of its own.
    app.add_middleware(NoRemoteFiles)
    app.add_middleware(BodyLimit, limit_for=limit_for)
    app.add_middleware(CORSMiddleware, **policy.cors_options())
    app.add_middleware(SecurityHeaders, frame_ancestors=policy.frame_ancestors())
    app.add_middleware(HeadAsGet)
