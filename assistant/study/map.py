"""The essay map: a document's thesis, each paragraph's claim, and the evidence under each claim.

Built from the essay's own sentences by position, the way essays are written and the way the
chat answers "What is the thesis?" (answering/parts.py): the thesis ends the introduction (the
first paragraph of three or more sentences, among the first few), a paragraph's claim is its
first sentence that states something (not a question, not mostly a quotation), and its evidence
is its sentences that carry a page citation or a quotation. Needs no language model and runs in
milliseconds. Leaves out judging whether a claim is good; a document built another way gets the
same positions, with a notice when no thesis can be found.
"""

from __future__ import annotations

from assistant.study.aids import Claim, EssayMap
from assistant.study.essay import Essay, Sentence
from assistant.text import quotations

MIN_SENTENCES = 4  # fewer sentences of prose make no map (nor a quiz)
INTRO_SENTENCES = 3  # an introduction has at least this many sentences...
INTRO_WITHIN = 3  # ...and is among the first few paragraphs of prose (after a title, an epigraph)
MIN_THESIS_WORDS = 6
MOSTLY_QUOTED = 0.5  # a sentence more than half inside quotation marks is the source's words
EVIDENCE_QUOTE_WORDS = 3  # a quotation this long makes a sentence evidence (not a scare quote)
MAX_EVIDENCE = 4  # per claim, first-cited pages first


def too_short(essay: Essay) -> str | None:
    """What to say when the document is too short for study aids, or None."""
    count = sum(len(p) for p in essay.prose())
    if count >= MIN_SENTENCES:
        return None
    return (f"{essay.source} is too short for study aids: it has {count} sentence"
            f"{'' if count == 1 else 's'} of prose, and a map or a quiz needs at least "
            f"{MIN_SENTENCES}.")


def build_map(essay: Essay) -> EssayMap:
    """The map of one document; its notice says when it is too short or has no thesis."""
    short = too_short(essay)
    if short:
        return EssayMap(essay.source, None, (), notice=short)
    prose = essay.prose()
    intro, thesis, missing = _thesis(prose)
    claims = []
    for paragraph in prose:
        point = thesis if paragraph is intro and thesis else _topic(paragraph)
        if point is None:
            continue
        claims.append((paragraph, point))
    out = []
    for i, (paragraph, point) in enumerate(claims):
        role = ("introduction" if paragraph is intro and thesis else
                "conclusion" if i == len(claims) - 1 and i > 0 else "body")
        out.append(Claim(point.paragraph, role, point.ref(),
                         tuple(s.ref() for s in evidence(paragraph, point))))
    return EssayMap(essay.source, thesis.ref() if thesis else None, tuple(out), notice=missing)


def is_statement(sentence: Sentence) -> bool:
    """A sentence in the writer's own words that asserts something: what claims are made of."""
    return (not sentence.is_question() and sentence.quoted_share() <= MOSTLY_QUOTED
            and sentence.words >= MIN_THESIS_WORDS)


def evidence(paragraph: tuple[Sentence, ...], claim: Sentence | None = None) -> list[Sentence]:
    """A paragraph's sentences that cite a page or quote the source, new pages first."""
    found = [s for s in paragraph if s is not claim and (s.pages or _quotes(s))]
    seen: set[str] = set()
    first, rest = [], []
    for s in found:
        (first if set(s.pages) - seen else rest).append(s)
        seen |= set(s.pages)
    chosen = (first + rest)[:MAX_EVIDENCE]
    return sorted(chosen, key=lambda s: s.start)


def _quotes(sentence: Sentence) -> bool:
    return any(len(q.split()) >= EVIDENCE_QUOTE_WORDS for q, _, _ in quotations(sentence.text))


def _thesis(prose: list[tuple[Sentence, ...]]
            ) -> tuple[tuple[Sentence, ...] | None, Sentence | None, str | None]:
    """(the introduction, its thesis, what to say when there is none)."""
    intro = next((p for p in prose[:INTRO_WITHIN] if len(p) >= INTRO_SENTENCES), None)
    if intro is None:
        return None, None, (
            f"No thesis found: none of the first {INTRO_WITHIN} paragraphs has {INTRO_SENTENCES} "
            "or more sentences, so the essay has no introduction to end with one. Its paragraphs' "
            "claims are below.")
    last = intro[-1]
    if is_statement(last):
        return intro, last, None
    what = ("a question" if last.is_question() else "a quotation"
            if last.quoted_share() > MOSTLY_QUOTED else "a sentence too short to state one")
    return intro, None, (
        f"No thesis found: the introduction (paragraph {last.paragraph}) ends with {what}, not "
        "a statement of what the essay argues. Its paragraphs' claims are below.")


def _topic(paragraph: tuple[Sentence, ...]) -> Sentence | None:
    return next((s for s in paragraph if is_statement(s)), None)
