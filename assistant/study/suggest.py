"""Questions to suggest in the chat, made from the document: its thesis, a quotation and its
speaker, a page it cites, its paragraphs, and the practice questions the model wrote and the
check kept. Each is asked of the product's own answerer first and offered only when it is
answered with a citation, so a teacher's own document gets examples that work on it. Leaves out
where the chat shows them (web/ui.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from assistant.schema import Answer
from assistant.study.aids import EssayMap, Question
from assistant.text import find_names, find_speaker, quotations

MAX_SUGGESTIONS = 5
MAX_QUOTE_WORDS = 10  # a quotation is cut at a sentence end inside it, to about this many words


def suggestions(essay_map: EssayMap, questions: Sequence[Question], ask: Callable[[str], Answer],
                paragraphs: int, limit: int = MAX_SUGGESTIONS) -> tuple[str, ...]:
    """Up to `limit` questions about the document that its answerer answers with a citation."""
    out: list[str] = []
    for question in _candidates(essay_map, questions, paragraphs):
        if len(out) == limit:
            break
        if question in out:
            continue
        said = ask(question)
        if not said.refused and said.citations:
            out.append(question)
    return tuple(out)


def _candidates(essay_map: EssayMap, questions: Sequence[Question], paragraphs: int) -> list[str]:
    found = []
    if essay_map.thesis:
        found.append("What is the essay's thesis?")
    written = [q.prompt for q in questions if q.origin == "model"]
    found += written[:1]
    evidence = [e for claim in essay_map.claims for e in claim.evidence]
    for ref in evidence:
        who = _speaker_question(ref.text)
        if who:
            found.append(who)
            break
    pages = [p for claim in essay_map.claims[1:] for e in claim.evidence for p in e.pages]
    pages += [p for e in evidence for p in e.pages]
    if pages:
        found.append(f"What is on page {pages[0]}?")
    found += written[1:2]
    if len(essay_map.claims) > 1:
        found.append("Summarize the essay")
    if paragraphs > 1:
        found.append("What is paragraph 2 about?")
    return found + written[2:]


def _speaker_question(sentence: str) -> str | None:
    """'Who says "..."?' for a quotation with a named speaker in the sentence."""
    quotes = quotations(sentence)
    names = find_names(sentence)
    previous = 0
    for body, start, end in quotes:
        if find_speaker(sentence, names, start, end, previous) and len(body.split()) >= 3:
            quote = _cut(body)
            return f'Who says "{quote}"' + ("" if quote[-1:] in "?!" else "?")
        previous = end
    return None


def _cut(quote: str) -> str:
    """The quotation's first sentences, up to about MAX_QUOTE_WORDS words."""
    pieces = re.split(r"(?<=[.!?…])\s+", quote.strip())
    out = pieces[0]
    for piece in pieces[1:]:
        if len((out + " " + piece).split()) > MAX_QUOTE_WORDS:
            break
        out += " " + piece
    return out.rstrip(" ,;:")
