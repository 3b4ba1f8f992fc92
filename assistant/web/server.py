"""One server for everything: the HTTP API, the full chat at `/`, the widget at `/embed`.

    /                 the full Gradio chat
    /embed            the compact chat for an <iframe> (no header or footer; fits 400x600)
    /widget/gradio.js the <gradio-app> web component, served from the installed Gradio package
    /api/ask, /api/health, /docs, /redoc   the HTTP API (api.py)

Origins that may frame or call the app come from `Settings.allowed_origins` (access.py); request
bodies are capped and the HTTP API is rate limited. `serve(settings)` runs it all with uvicorn.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from assistant.config import Settings, apply_offline_env
from assistant.web.access import OriginPolicy

if TYPE_CHECKING:
    from fastapi import FastAPI

    from assistant.assistant import Assistant


WIDGET_PATH = "/widget/gradio.js"
EMBED_PATH = "/embed"


def widget_script() -> str:
    """The web component's entry module: Gradio's own gradio.js, pointed at this server's /assets/.

    The installed package ships `templates/frontend/gradio.js`, a one-line module that imports the
    hashed bundle defining <gradio-app>; the CDN serves the same file. Gradio serves the bundle at
    `/assets/`, so the import is rewritten relative to `/widget/`.
    """
    import gradio

    entry = Path(gradio.__file__).parent / "templates" / "frontend" / "gradio.js"
    text = entry.read_text(encoding="utf-8")
    rewritten, count = re.subn(r"""(["'])\./assets/""", r"\1../assets/", text)
    if not count:
        raise RuntimeError(f"unexpected web component entry in {entry}: {text[:200]!r}")
    return rewritten


def build_app(assistant: Assistant) -> FastAPI:
    """The API, the full chat at `/` and the compact one at `/embed`, behind the guards."""
    apply_offline_env()
    from assistant.web.api import create_api

    app = create_api(assistant)
    script = widget_script()

    @app.get(WIDGET_PATH, include_in_schema=False)
    async def widget() -> Response:
        # A stable URL whose target changes with the Gradio version, so browsers revalidate it.
        return PlainTextResponse(
            script, media_type="text/javascript", headers={"Cache-Control": "no-cache"}
        )

    @app.get(EMBED_PATH, include_in_schema=False)
    async def embed() -> Response:
        # Gradio mounted at /embed answers only below it; the snippet's URL should work as typed.
        return RedirectResponse(f"{EMBED_PATH}/")

    # Routes match in order: the API and the widget first, then /embed, then the chat at /.
    mount_chats(app, assistant)
    return app


def mount_chats(app: FastAPI, assistant: Assistant) -> None:
    """The compact chat at /embed and the full one at / of `app`, for `assistant`."""
    import gradio as gr

    from assistant.web.ui import build_ui, launch_options

    settings = assistant.settings
    for path, compact in ((EMBED_PATH, True), ("/", False)):
        gr.mount_gradio_app(
            app,
            build_ui(assistant, compact=compact),
            path=path,
            server_name=settings.host,
            server_port=settings.port,
            # the full chat takes a student's own document (uploads.py); the widget no file
            max_file_size=settings.max_body_bytes if compact
            else max(settings.max_body_bytes, settings.student_upload_max_bytes),
            **launch_options(compact),
        )


def serve(settings: Settings) -> None:
    """Load the assistant and serve everything on settings.host:settings.port until stopped."""
    apply_offline_env()
    from assistant.assistant import Assistant, check_prompts
    from assistant.student import remove_leftovers

    OriginPolicy.from_settings(settings.allowed_origins)  # a bad origin fails before models load
    # A teacher's broken prompt file stops the start, not every Explain question after it.
    check_prompts(settings)
    remove_leftovers()  # of students' documents a killed server was indexing
    assistant = Assistant.from_settings(settings)
    assistant.warm_up_search()  # the embedding model, before the first student
    # The language model loads and fills its prompt cache once the app is up and answering
    # quotes, so it does not compete with start-up for the two cores.
    listening = threading.Event()
    assistant.warm_up_in_background(after=listening)
    app = build_app(assistant)
    print(
        f"Study Assistant on http://{settings.host}:{settings.port}  (API docs at /docs)",
        flush=True,
    )
    run(app, settings, listening)


def run(app: FastAPI, settings: Settings, listening: threading.Event) -> None:
    """Serve `app` with uvicorn on settings.host:settings.port until stopped; `listening` is set
    once it accepts connections."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        # An answer still being written may finish; nothing waits longer than a generation may take.
        timeout_graceful_shutdown=int(settings.llm_timeout_s) + 5,
    )
    _Server(config, listening).run()


class _Server(uvicorn.Server):
    """uvicorn that says when it listens, and first ends Gradio's keep-alive streams on a stop, so
    a stop never waits on browsers."""

    def __init__(self, config: uvicorn.Config, listening: threading.Event) -> None:
        super().__init__(config)
        self.listening = listening

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        self.listening.set()

    async def shutdown(self, sockets=None) -> None:
        from starlette.routing import Mount

        for route in self.config.app.routes:
            if isinstance(route, Mount) and hasattr(route.app, "stop_event"):
                route.app.stop_event.set()
        await super().shutdown(sockets)
