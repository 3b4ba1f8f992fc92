"""The study aids over HTTP: `GET /api/study[/map|/questions|/cards.csv|/cards.apkg]`, a thin
adapter over the facade's `study_aids`, `study_export` and `study_package`.

    GET /api/study?document=NAME            map, questions, suggestions and what they were built from
    GET /api/study/map?document=NAME        the essay map alone
    GET /api/study/questions?document=NAME  the practice questions with answers and passages
    GET /api/study/cards.csv?document=NAME  flashcards: front, back, where (Anki, Quizlet)
    GET /api/study/cards.apkg?document=NAME the same flashcards as an Anki deck

`document` may be left out when the index holds one. The routes never call the language model:
they serve the stored study aids (those `assistant study` built, questions by the model
included), else fill-in-the-blank ones made on the spot (under a second). Leaves out the HTTP
API's other routes and its errors (api.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Query
from fastapi.responses import JSONResponse, Response

if TYPE_CHECKING:
    from assistant.assistant import Assistant

DOCUMENT = Query(None, description="the document's name in the index; optional when it holds one")
ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"description": "no such document, or the index holds several and none was named"},
    429: {"description": "rate limit; see Retry-After"},
}


def add_study_routes(app: FastAPI, assistant: Assistant, rate_limit: Callable) -> None:
    """Register the study routes (before api.py's catch-all for unknown /api/ paths)."""

    async def export(document: str | None, fmt: str) -> str:
        return await anyio.to_thread.run_sync(lambda: assistant.study_export(document, fmt))

    async def record(document: str | None) -> dict[str, Any]:
        return json.loads(await export(document, "json"))

    @app.get("/api/study", summary="A document's study aids: map, practice questions, suggestions",
             responses=ERRORS, dependencies=[Depends(rate_limit)])
    async def study(document: str | None = DOCUMENT) -> JSONResponse:
        return JSONResponse(await record(document))

    @app.get("/api/study/map", summary="The essay map: thesis, claims and their evidence",
             responses=ERRORS, dependencies=[Depends(rate_limit)])
    async def study_map(document: str | None = DOCUMENT) -> JSONResponse:
        return JSONResponse((await record(document))["map"])

    @app.get("/api/study/questions", summary="Practice questions, each with its answer and passage",
             responses=ERRORS, dependencies=[Depends(rate_limit)])
    async def study_questions(document: str | None = DOCUMENT) -> JSONResponse:
        data = await record(document)
        return JSONResponse({"source": data["source"], "notice": data["notice"],
                             "questions": data["questions"]})

    @app.get("/api/study/cards.csv", summary="Flashcards as CSV: front, back, where (no header)",
             responses=ERRORS, dependencies=[Depends(rate_limit)], response_class=Response)
    async def study_cards(document: str | None = DOCUMENT) -> Response:
        return Response(await export(document, "csv"), media_type="text/csv; charset=utf-8",
                        headers=_attachment(assistant, document, "-cards.csv"))

    @app.get("/api/study/cards.apkg", summary="Flashcards as an Anki package (one deck)",
             responses=ERRORS, dependencies=[Depends(rate_limit)], response_class=Response)
    async def study_deck(document: str | None = DOCUMENT) -> Response:
        data = await anyio.to_thread.run_sync(lambda: assistant.study_package(document))
        return Response(data, media_type="application/octet-stream",
                        headers=_attachment(assistant, document, ".apkg"))


def _attachment(assistant: Assistant, document: str | None, suffix: str) -> dict[str, str]:
    """A download's Content-Disposition: the document's name, made safe, and `suffix`."""
    stem = assistant.study_source(document).rsplit(".", 1)[0] or "study"
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem)
    return {"Content-Disposition": f'attachment; filename="{safe}{suffix}"'}
