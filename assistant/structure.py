"""Questions about the essay as an essay: its thesis and its evidence, not a fact inside it.

"What is the thesis?" shares no words with the thesis sentence, so retrieval alone refuses it. An
essay states its thesis at the end of its introduction and rests its evidence on quotations with
page citations; this module finds those sentences. Words like "essay", "quote" and "page" describe
the document, not its content, so they are left out when matching a question's words to sentences.
Leaves out essays whose thesis comes elsewhere (the answer then cites the introduction's close).
"""

from __future__ import annotations

import re

from assistant.index import LoadedIndex
from assistant.retrieval import terms

# Words (as `terms` stems them) that name parts of an essay rather than what it is about.
DOCUMENT_WORDS = frozenset(
    terms(
        "essay essays thesis argument argue argues claim claims main central point idea ideas "
        "position stance contend purpose evidence quote quotes quotation quotations cite cites "
        "citation citations support supports example examples page pages paragraph paragraphs "
        "author writer text passage passages say says said mention mentions discuss discusses "
        "state states statement overall summary summarize summarise use uses used give gives "
        "provide provides offer offers present presents rely relies include includes show shows"
    )
)
_THESIS = re.compile(
    r"\b(thesis|main (argument|claim|point|idea)|central (argument|claim|idea)|argu(e|es|ing|ment)"
    r"|claim|position|stance|what is (the|this) essay about)\b"
)
_EVIDENCE = re.compile(
    r"\b(evidence|quot(e|es|ation|ations)|cit(e|es|ation|ations)|support|examples?)\b"
)


def content_terms(question: str) -> list[str]:
    """The question's words that say what it is about (document words removed)."""
    return [t for t in terms(question) if t not in DOCUMENT_WORDS]


def intent(question: str) -> str | None:
    """ "thesis" or "evidence" when the question asks about the essay as a whole, else None."""
    if content_terms(question):
        return None
    lowered = question.lower()
    if _EVIDENCE.search(lowered):
        return "evidence"
    if _THESIS.search(lowered):
        return "thesis"
    return None


def thesis_rows(index: LoadedIndex) -> list[int]:
    """The last sentence of the first paragraph long enough to be an introduction."""
    for source, doc in index.documents.items():
        for start, end in doc.paragraphs:
            rows = [
                i
                for i, (src, s, e) in enumerate(index.sentences)
                if src == source and start <= s and e <= end
            ]
            if len(rows) >= 3:
                return rows[-1:]
    return []


def evidence_rows(index: LoadedIndex) -> list[int]:
    """Sentences that carry a parenthetical page citation, in reading order."""
    cited = {(c.source, x.start) for c in index.chunks for x in c.citations}
    rows = []
    for i, (src, s, e) in enumerate(index.sentences):
        if any(source == src and s <= at < e for source, at in cited):
            rows.append(i)
    return rows
