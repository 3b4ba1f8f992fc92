"""The study aids as values: an essay map, practice questions, and how one answer to them fared.

Frozen dataclasses passed from the builders (map.py, practice.py) to the facade and the front
ends, with the JSON shape they take in `study.json`, the API and `assistant study --format json`
(`to_dict` / `from_dict` round-trip). Every item names the sentence it rests on (`Ref`), so a
front end can link it to its passage. Leaves out building and exporting (map.py, practice.py,
cards.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Ref:
    """A sentence of a document and the passage (chunk) that holds it: what a study item cites."""

    source: str
    chunk_id: str
    paragraph: int  # 1-based, as citations number them
    start: int  # the sentence's offsets in the document's text
    end: int
    text: str  # the sentence itself
    pages: tuple[str, ...] = ()  # pages its MLA citations name, "(Ishiguro 254)" -> "254"

    def where(self) -> str:
        """"never-let-me-go-essay.txt, paragraph 2, p. 166": how a card or a guide cites it."""
        parts = [self.source, f"paragraph {self.paragraph}"]
        if self.pages:
            parts.append(("pp. " if len(self.pages) > 1 else "p. ") + ", ".join(self.pages))
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "chunk_id": self.chunk_id, "paragraph": self.paragraph,
                "start": self.start, "end": self.end, "text": self.text, "pages": list(self.pages)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ref:
        return cls(data["source"], data["chunk_id"], int(data["paragraph"]), int(data["start"]),
                   int(data["end"]), data["text"], tuple(data.get("pages", ())))


@dataclass(frozen=True)
class Claim:
    """One paragraph's point: its topic sentence (the thesis, for an introduction that states it)
    and the evidence the paragraph gives for it (sentences with quotations or page citations)."""

    paragraph: int
    role: str  # "introduction" | "body" | "conclusion"
    sentence: Ref
    evidence: tuple[Ref, ...] = ()
    gloss: str | None = None  # a plain-language line, when one was written and verified

    def to_dict(self) -> dict[str, Any]:
        return {"paragraph": self.paragraph, "role": self.role, "sentence": self.sentence.to_dict(),
                "evidence": [e.to_dict() for e in self.evidence], "gloss": self.gloss}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Claim:
        return cls(int(data["paragraph"]), data["role"], Ref.from_dict(data["sentence"]),
                   tuple(Ref.from_dict(e) for e in data.get("evidence", ())), data.get("gloss"))


@dataclass(frozen=True)
class EssayMap:
    """A document's thesis, its claims in reading order and their evidence; `notice` says what
    could not be found (no thesis, too short)."""

    source: str
    thesis: Ref | None
    claims: tuple[Claim, ...]
    notice: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "thesis": self.thesis.to_dict() if self.thesis else None,
                "claims": [c.to_dict() for c in self.claims], "notice": self.notice}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EssayMap:
        thesis = data.get("thesis")
        return cls(data["source"], Ref.from_dict(thesis) if thesis else None,
                   tuple(Claim.from_dict(c) for c in data.get("claims", ())), data.get("notice"))


@dataclass(frozen=True)
class Question:
    """A practice question, its answer and the sentence that proves it.

    `kind` is "choice" (pick one of `choices`, the answer among them) or "short" (type it);
    `origin` is "model" (written by the language model, then checked by asking it of the
    product's own answerer) or "cloze" (the sentence with its answer blanked out as `____`).
    """

    id: str  # stable: from the source, the sentence's offsets and the answer
    kind: str
    origin: str
    prompt: str
    answer: str
    ref: Ref
    choices: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "origin": self.origin, "prompt": self.prompt,
                "answer": self.answer, "choices": list(self.choices), "ref": self.ref.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Question:
        return cls(data["id"], data["kind"], data["origin"], data["prompt"], data["answer"],
                   Ref.from_dict(data["ref"]), tuple(data.get("choices", ())))


@dataclass(frozen=True)
class DocumentAids:
    """Everything made for one document: its map, its practice questions and what to say."""

    source: str
    map: EssayMap
    questions: tuple[Question, ...]
    notice: str | None = None  # about the questions: too short, the model failed midway, ...
    suggestions: tuple[str, ...] = ()  # questions for the chat, each answered by the document

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "map": self.map.to_dict(),
                "questions": [q.to_dict() for q in self.questions], "notice": self.notice,
                "suggestions": list(self.suggestions)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DocumentAids:
        return cls(data["source"], EssayMap.from_dict(data["map"]),
                   tuple(Question.from_dict(q) for q in data.get("questions", ())),
                   data.get("notice"), tuple(data.get("suggestions", ())))


@dataclass(frozen=True)
class StudyAids:
    """The study aids of every document of an index, and what they were built from (document
    sha256s, prompt hashes, the model) so that a changed document is noticed."""

    documents: tuple[DocumentAids, ...]
    built_from: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0  # how long the build took

    def of(self, source: str) -> DocumentAids | None:
        return next((d for d in self.documents if d.source == source), None)

    def to_dict(self) -> dict[str, Any]:
        return {"built_from": self.built_from, "seconds": round(self.seconds, 3),
                "documents": [d.to_dict() for d in self.documents]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyAids:
        return cls(tuple(DocumentAids.from_dict(d) for d in data["documents"]),
                   dict(data.get("built_from", {})), float(data.get("seconds", 0.0)))


@dataclass(frozen=True)
class Progress:
    """How far a build is: questions the model has written and the check has judged so far."""

    source: str
    done: int
    total: int
    kept: tuple[Question, ...] = ()  # verified so far, in this document


@dataclass(frozen=True)
class Verdict:
    """A student's answer to a practice question, judged: right or wrong, and the proof."""

    question_id: str
    right: bool
    given: str
    answer: str
    ref: Ref

    def to_dict(self) -> dict[str, Any]:
        return {"question_id": self.question_id, "right": self.right, "given": self.given,
                "answer": self.answer, "ref": self.ref.to_dict()}
