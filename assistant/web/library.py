"""A library on one server: every index of a directory at its own address, and a page listing them.

    / and /library              the library page: each document with its links and embed snippets
    /d/<name>/                  the full chat about one document
    /d/<name>/embed             its compact chat, for an <iframe> or a <gradio-app>
    /api/d/<name>/ask, .../health, .../study...   that document's HTTP API (api.py, unchanged)
    GET /api/library            the documents, as JSON
    GET /api/health             status and the documents' names
    /widget/gradio.js, /assets/ the web component

A document's chat pages and API are built on its first request (its index loads then, sharing the
process-wide models), so a library of many documents starts at once. Names are looked up only
among those library.py found on disk; any other name is a 404. The origin policy, body limits and
security headers (access.guard) wrap the whole app, once. `serve_library(settings)` runs it.
"""

from __future__ import annotations

import asyncio
import threading
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread
from fastapi import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.config import Settings, apply_offline_env
from assistant.errors import AssistantError
from assistant.library import Library
from assistant.web.access import RateLimiter
from assistant.web.server import EMBED_PATH, WIDGET_PATH, mount_chats, run, widget_script

if TYPE_CHECKING:
    from fastapi import FastAPI

    from assistant.assistant import Assistant

DOCUMENT_PATH = "/d"  # /d/<name>/ and /d/<name>/embed
API_PATH = "/api/d"  # /api/d/<name>/ask


def unknown(name: str) -> str:
    return f"There is no document named {name!r} in this library; /library lists them."


class Documents:
    """Each document's chat pages and API, built on its first request and kept."""

    def __init__(self, library: Library, parent: FastAPI) -> None:
        self.library = library
        self.parent = parent  # Gradio looks at its middleware: its CORS policy is the one
        # by name: (the library's generation of that document, its pages or API); a document
        # replaced or deleted since is built again (or found gone)
        self._pages: dict[str, tuple[int, ASGIApp]] = {}
        self._apis: dict[str, tuple[int, ASGIApp]] = {}
        self._gradio: list = []  # the mounted Gradio apps, to end their streams on a stop
        self._locks: dict[str, asyncio.Lock] = {}
        self._build = threading.Lock()  # Gradio builds one Blocks at a time
        # one budget per client for the whole library, not one per document
        self.limiter = RateLimiter(library.settings.rate_limit_per_minute)

    async def _assistant(self, name: str) -> Assistant | None:
        return await anyio.to_thread.run_sync(self.library.assistant, name)

    async def pages(self, name: str) -> ASGIApp | None:
        """The chat and the widget of that document, or None for an unknown name."""
        generation = self.library.generation(name)
        if self._pages.get(name, (None,))[0] != generation:
            async with self._locks.setdefault(name, asyncio.Lock()):
                if self._pages.get(name, (None,))[0] != generation:
                    assistant = await self._assistant(name)
                    if assistant is None:
                        return None
                    router, apps = await anyio.to_thread.run_sync(self._build_pages, assistant)
                    for app in apps:  # what the lifespan of a mount made at start-up would do
                        app.get_blocks().run_startup_events()
                        await app.get_blocks().run_extra_startup_events()
                    self._gradio.extend(apps)
                    self._pages[name] = (generation, router)
        return self._pages[name][1]

    async def api(self, name: str) -> ASGIApp | None:
        """That document's HTTP API (api.create_api, without a second guard), or None."""
        generation = self.library.generation(name)
        if self._apis.get(name, (None,))[0] != generation:
            async with self._locks.setdefault(f"api:{name}", asyncio.Lock()):
                if self._apis.get(name, (None,))[0] != generation:
                    assistant = await self._assistant(name)
                    if assistant is None:
                        return None
                    from assistant.web.api import create_api

                    self._apis[name] = (generation, create_api(assistant, guarded=False,
                                                               limiter=self.limiter))
        return self._apis[name][1]

    def _build_pages(self, assistant: Assistant) -> tuple[ASGIApp, list]:
        from fastapi import FastAPI
        from starlette.routing import Mount

        # Only its router is called; the app object holds the parent's middleware list so that
        # Gradio sees the library's CORS policy and adds none of its own.
        holder = FastAPI()
        holder.user_middleware = self.parent.user_middleware

        async def embed(request: Request) -> RedirectResponse:
            return RedirectResponse(f"{request.url.path}/")

        holder.router.add_route(EMBED_PATH, embed, include_in_schema=False)
        with self._build:
            mount_chats(holder, assistant)
        apps = [r.app for r in holder.routes if isinstance(r, Mount)]
        return holder.router, apps

    @property
    def stop_event(self) -> _StopAll:
        """server._Server sets this on a stop: it ends every loaded chat's keep-alive streams."""
        return _StopAll(self._gradio)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path_params"]["name"]
        try:
            app = await self.pages(name)
        except AssistantError as exc:  # a corrupt or mismatched index: say how to rebuild it
            await PlainTextResponse(str(exc), status_code=503)(scope, receive, send)
            return
        if app is None:
            await PlainTextResponse(unknown(name), status_code=404)(scope, receive, send)
            return
        await app(scope, receive, send)


class _StopAll:
    def __init__(self, apps: list) -> None:
        self.apps = apps

    def set(self) -> None:
        for app in self.apps:
            app.stop_event.set()


class DocumentApi:
    """/api/d/<name>/... answered by that document's API as /api/...: the same routes, the same
    answer record and errors as the single-index server."""

    def __init__(self, documents: Documents) -> None:
        self.documents = documents

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette._utils import get_route_path

        name = scope["path_params"]["name"]
        try:
            app = await self.documents.api(name)
        except AssistantError as exc:
            await JSONResponse({"error": str(exc)}, status_code=503)(scope, receive, send)
            return
        if app is None:
            await JSONResponse({"error": unknown(name)}, status_code=404)(scope, receive, send)
            return
        path = "/api" + get_route_path(scope)
        child = {**scope, "path": path, "raw_path": path.encode(), "root_path": "",
                 "app_root_path": ""}
        await app(child, receive, send)


def build_library_app(library: Library) -> FastAPI:
    """The library page, each document's chat, widget and API, behind the guards."""
    apply_offline_env()
    from fastapi_offline import FastAPIOffline
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from assistant.web.access import guard

    settings = library.settings
    app = FastAPIOffline(
        title="Study Assistant library",
        version="1.0",
        description=(
            "Every document of the library has the single-index API under its name: "
            "`POST /api/d/<name>/ask`, `GET /api/d/<name>/health`, `GET /api/d/<name>/study`. "
            "`GET /api/library` lists the names."
        ),
    )
    from assistant.web.teacher import UPLOADS, add_teacher_routes

    # before the pages are built: Gradio sees this CORS policy
    guard(app, settings, own_limits=(UPLOADS,))
    documents = Documents(library, app)
    script = widget_script()

    @app.get("/api/library", summary="The documents of the library and their addresses")
    async def listing() -> dict:
        entries = await anyio.to_thread.run_sync(library.refresh)
        return {"documents": [
            {"name": e.name, "sources": list(e.sources), "loaded": library.is_loaded(e.name),
             **addresses(e.name)} for e in entries]}

    @app.get("/api/health", summary="Is the server up? (a document loads on its first question)")
    async def health() -> dict:
        return {"status": "ok", "library": [e.name for e in library.entries()]}

    @app.get(WIDGET_PATH, include_in_schema=False)
    async def widget() -> PlainTextResponse:
        return PlainTextResponse(
            script, media_type="text/javascript", headers={"Cache-Control": "no-cache"}
        )

    @app.get("/", include_in_schema=False)
    @app.get("/library", include_in_schema=False)
    async def page(request: Request) -> HTMLResponse:
        entries = await anyio.to_thread.run_sync(library.refresh)
        return HTMLResponse(library_page(str(request.base_url).rstrip("/"), entries))

    @app.get(DOCUMENT_PATH + "/{name}", include_in_schema=False)
    async def document(name: str) -> Response:
        # the chat answers only below its mount; the address should work as typed
        if library.find(name) is None:
            return PlainTextResponse(unknown(name), status_code=404)
        return RedirectResponse(f"{DOCUMENT_PATH}/{name}/")

    if settings.teacher_token:  # never on without a token: /teacher is then a 404
        add_teacher_routes(app, library)
    app.router.routes.append(Mount(API_PATH + "/{name}", app=DocumentApi(documents)))
    app.router.routes.append(Mount(DOCUMENT_PATH + "/{name}", app=documents))
    # The web component's bundle, which Gradio serves at /assets/ when a chat is mounted at /.
    import gradio

    assets = Path(gradio.__file__).parent / "templates" / "frontend" / "assets"
    app.router.routes.append(Mount("/assets", app=StaticFiles(directory=assets)))

    @app.api_route("/api/{rest:path}", include_in_schema=False, methods=["GET", "POST"])
    async def elsewhere(request: Request) -> JSONResponse:
        return JSONResponse({"error": f"no such endpoint: {request.url.path}; see /docs"}, 404)

    return app


def addresses(name: str) -> dict[str, str]:
    """A document's paths on this server."""
    base = f"{DOCUMENT_PATH}/{name}"
    return {"chat": f"{base}/", "embed": f"{base}{EMBED_PATH}",
            "ask": f"{API_PATH}/{name}/ask"}


def snippets(base_url: str, name: str) -> tuple[str, str]:
    """The <iframe> and the <gradio-app> that embed a document's widget in a course page."""
    embed = f"{base_url}{DOCUMENT_PATH}/{name}{EMBED_PATH}"
    iframe = (f'<iframe title="Study Assistant: {name}" src="{embed}"\n'
              '        width="400" height="600"></iframe>')
    component = (f'<script type="module" src="{base_url}{WIDGET_PATH}"></script>\n'
                 f'<gradio-app src="{embed}/" eager="true" info="false"\n'
                 '            theme_mode="light"></gradio-app>')
    return iframe, component


def library_page(base_url: str, entries: list) -> str:
    """The library page: each document, its links, and its two embed snippets (escaped)."""
    items = []
    for entry in entries:
        paths = addresses(entry.name)
        iframe, component = snippets(base_url, entry.name)
        sources = ", ".join(entry.sources) or "(its manifest could not be read)"
        items.append(
            f'<section id="{escape(entry.name)}"><h2>{escape(entry.name)}</h2>'
            f"<p>{escape(sources)}</p>"
            f'<p><a href="{escape(paths["chat"])}">Chat</a> · '
            f'<a href="{escape(paths["embed"])}">Widget</a> · '
            f'<code>POST {escape(paths["ask"])}</code></p>'
            f"<p>Embed it in a frame:</p><pre><code>{escape(iframe)}</code></pre>"
            f"<p>or as a web component:</p><pre><code>{escape(component)}</code></pre></section>"
        )
    body = "\n".join(items) or "<p>The library is empty: build an index in one of its " \
                                "subdirectories with <code>assistant ingest</code>.</p>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Study Assistant library</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;"
        "padding:0 1rem}pre{background:#f4f4f5;padding:.75rem;overflow-x:auto}</style>"
        f"</head><body><h1>Study Assistant library</h1>\n{body}\n</body></html>"
    )


def serve_library(settings: Settings) -> None:
    """Serve every index under settings.library_dir on settings.host:settings.port until stopped."""
    apply_offline_env()
    from assistant.assistant import check_prompts
    from assistant.student import remove_leftovers as remove_students_leftovers
    from assistant.web.access import OriginPolicy

    OriginPolicy.from_settings(settings.allowed_origins)  # a bad origin fails before anything loads
    check_prompts(settings)
    library = Library(settings)
    library.remove_leftovers()  # of uploads the last run did not finish
    remove_students_leftovers()  # of students' documents a killed server was indexing
    app = build_library_app(library)
    print(
        f"Study Assistant library of {len(library.entries())} documents on "
        f"http://{settings.host}:{settings.port}/library  (API docs at /docs)",
        flush=True,
    )
    run(app, settings, threading.Event())
