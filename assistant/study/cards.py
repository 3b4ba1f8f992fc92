"""Flashcards and a study guide from the study aids: CSV for Anki and Quizlet, an Anki package,
Markdown to read.

A card's front is a practice question (a multiple-choice one lists its choices), its back the
answer; a third column says where in the document the answer is. The CSV has no header row, so
Anki and Quizlet import every row as a card (Anki: fields Front, Back and a third for the
reference; Quizlet: term and definition, the third column ignored). The Anki package (.apkg,
written by genanki) is one deck per document with those three fields; its ids come from the
document's name and the question ids, so importing a newer package updates the same cards.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
from collections.abc import Sequence

from assistant.study.aids import DocumentAids, Question


def card(question: Question) -> tuple[str, str, str]:
    """(front, back, reference) of one question."""
    front = question.prompt
    if question.kind == "choice":
        front += " (" + " / ".join(question.choices) + ")"
    return front, question.answer, question.ref.where()


def cards_csv(documents: Sequence[DocumentAids]) -> str:
    """The questions of these documents as CSV rows: front, back, reference."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for doc in documents:
        for question in doc.questions:
            writer.writerow(card(question))
    return out.getvalue()


ANKI_MODEL_ID = 1_607_392_319  # the note type's id: one "Study Assistant card" type everywhere
ANKI_CARD = {
    "name": "Question",
    "qfmt": "{{Front}}",
    "afmt": '{{FrontSide}}<hr id="answer">{{Back}}<br><small>{{Where}}</small>',
}


def cards_apkg(documents: Sequence[DocumentAids], deck: str) -> bytes:
    """The questions of these documents as an Anki package: a deck named `deck`, one note
    (Front, Back, Where) per question, the text escaped as Anki's fields are HTML."""
    import genanki

    model = genanki.Model(ANKI_MODEL_ID, "Study Assistant card",
                          fields=[{"name": "Front"}, {"name": "Back"}, {"name": "Where"}],
                          templates=[ANKI_CARD])
    package_deck = genanki.Deck(_anki_id(deck), deck)
    for doc in documents:
        for question in doc.questions:
            package_deck.add_note(genanki.Note(
                model=model, fields=[html.escape(f) for f in card(question)],
                guid=genanki.guid_for(doc.source, question.id)))
    out = io.BytesIO()
    genanki.Package(package_deck).write_to_file(out)
    return out.getvalue()


def _anki_id(name: str) -> int:
    """A stable id for a deck name, in the range Anki's ids use."""
    return 1 << 30 | int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big")


def markdown(documents: Sequence[DocumentAids]) -> str:
    """A study guide: each document's map (thesis, claims, evidence), then its questions with
    their answers and where to check them."""
    lines: list[str] = []
    for doc in documents:
        lines += [f"# {doc.source}", ""]
        essay_map = doc.map
        if essay_map.notice:
            lines += [f"*{essay_map.notice}*", ""]
        if essay_map.thesis:
            lines += ["## Thesis", "", f"> {essay_map.thesis.text}", "",
                      f"({essay_map.thesis.where()})", ""]
        if essay_map.claims:
            lines += ["## Claims and evidence", ""]
        for claim in essay_map.claims:
            lines.append(f"- **Paragraph {claim.paragraph} ({claim.role})**: {claim.sentence.text}")
            if claim.gloss:
                lines.append(f"  - *In plain words*: {claim.gloss}")
            for e in claim.evidence:
                pages = f" (p. {', '.join(e.pages)})" if e.pages else ""
                lines.append(f"  - Evidence{pages}: {e.text}")
        if essay_map.claims:
            lines.append("")
        if doc.questions or doc.notice:
            lines += ["## Practice questions", ""]
        if doc.notice:
            lines += [f"*{doc.notice}*", ""]
        for number, question in enumerate(doc.questions, start=1):
            lines.append(f"{number}. {question.prompt}")
            for choice in question.choices:
                lines.append(f"   - {choice}")
            lines.append(f"   - **Answer**: {question.answer} ({question.ref.where()})")
        if doc.questions:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
