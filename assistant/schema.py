"""Frozen dataclasses passed between stages, and the one JSON shape of an answer record.

ingest -> Document, Chunk; retrieval -> Passage; answering -> Answer (with Citation, SentenceCheck).
`Answer.to_dict()` is the record shared by `ask --json`, `eval` and the HTTP API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InTextCitation:
    """An MLA-style parenthetical citation found in the text, e.g. (Ishiguro 254)."""

    author: str | None
    page: str  # "254" or a range such as "12-14"
    start: int  # offsets into the cleaned document text
    end: int


@dataclass(frozen=True)
class Document:
    """A cleaned document: paragraphs joined by blank lines; offsets elsewhere point into `text`."""

    source: str  # a short name shown to users, e.g. "never-let-me-go-essay.txt"
    text: str
    paragraphs: tuple[tuple[int, int], ...]  # (start, end) of each paragraph in `text`
    sha256: str  # of the raw bytes as read
    # (start, end, label) of each page of a PDF in `text`: its printed label ("xii", "254") when
    # the PDF has labels, else its 1-based number; empty for formats without pages
    pages: tuple[tuple[int, int, str], ...] = ()


@dataclass(frozen=True)
class Chunk:
    """A passage small enough to cite precisely: whole sentences from one paragraph."""

    chunk_id: str  # stable: derived from source and offsets
    source: str
    paragraph: int  # 1-based
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]  # (start, end) of each sentence, document offsets
    citations: tuple[InTextCitation, ...] = ()
    source_pages: tuple[str, ...] = ()  # labels of the PDF pages the passage is on, in order

    @property
    def pages(self) -> list[str]:
        """The pages the passage's MLA citations name (pages of the work it cites)."""
        return sorted({c.page for c in self.citations}, key=_page_key)

    def location(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "source": self.source,
            "paragraph": self.paragraph,
            "start": self.start,
            "end": self.end,
            "text": self.text,
        }


@dataclass(frozen=True)
class Passage:
    """A chunk as retrieved for one question, with its fused score and rank (1-based)."""

    chunk: Chunk
    score: float
    rank: int
    dense: float = 0.0  # cosine similarity of question and passage
    lexical: float = 0.0  # BM25 score

    def to_dict(self) -> dict[str, Any]:
        return {**self.chunk.location(), "score": round(self.score, 6)}


@dataclass(frozen=True)
class Citation:
    """What an answer's [marker] resolves to: one specific passage."""

    marker: int
    chunk: Chunk

    def to_dict(self) -> dict[str, Any]:
        return {
            "marker": self.marker,
            **self.chunk.location(),
            "pages": self.chunk.pages,
            "source_pages": list(self.chunk.source_pages),
        }


@dataclass(frozen=True)
class SentenceCheck:
    """The verification of one generated sentence against the passages it cites."""

    text: str
    markers: tuple[int, ...]
    verified: bool
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "markers": list(self.markers),
            "verified": self.verified,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation."""

    question: str
    answer: str
    cited: tuple[str, ...] = ()  # chunk ids of the passages the answer cited (the chat keeps them)


@dataclass(frozen=True)
class Answer:
    """The result of one question, in every mode and for every front end."""

    question: str
    answer: str
    refused: bool
    mode: str
    citations: tuple[Citation, ...] = ()
    retrieved: tuple[Passage, ...] = ()
    latency_ms: float = 0.0
    id: str | None = None
    notice: str | None = None  # e.g. "the model timed out; showing quotations instead"
    standalone_question: str | None = None  # the follow-up as rewritten for retrieval
    verification: tuple[SentenceCheck, ...] | None = None  # generative mode only
    draft: tuple[SentenceCheck, ...] | None = None  # a fallback's generated sentences, all failed
    nearest: str | None = None  # a refusal's offered sentence, as quoted in `answer`

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "mode": self.mode,
            "citations": [c.to_dict() for c in self.citations],
            "retrieved": [p.to_dict() for p in self.retrieved],
            "latency_ms": round(self.latency_ms, 3),
        }
        if self.notice:
            record["notice"] = self.notice
        if self.standalone_question and self.standalone_question != self.question:
            record["standalone_question"] = self.standalone_question
        if self.verification is not None:
            record["verification"] = [s.to_dict() for s in self.verification]
        if self.draft:
            record["draft"] = [s.to_dict() for s in self.draft]
        if self.nearest:
            record["nearest"] = self.nearest
        return record


def page_reference(labels: Sequence[str]) -> str:
    """Where in a paged source a passage is: "p. 12", "pp. 12-13" (first and last), or ""."""
    if not labels:
        return ""
    if len(labels) == 1:
        return f"p. {labels[0]}"
    return f"pp. {labels[0]}-{labels[-1]}"


def _page_key(page: str) -> tuple[int, str]:
    head = page.split("-")[0]
    return (int(head) if head.isdigit() else 10**9, page)
