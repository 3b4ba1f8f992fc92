"""Flashcards and a study guide from the study aids: CSV for Anki and Quizlet, Markdown to read.

A card's front is a practice question (a multiple-choice one lists its choices), its back the
answer; a third column says where in the document the answer is. The CSV has no header row, so
Anki and Quizlet import every row as a card (Anki: fields Front, Back and a third for the
reference; Quizlet: term and definition, the third column ignored). Leaves out an Anki package
file (.apkg): Anki imports the CSV directly.
"""

from __future__ import annotations

import csv
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
