"""Questions about the essay as an essay: its thesis, evidence, parts and summary, not a fact in it.

"What is the thesis?" or "Summarize the essay" shares no words with the sentences that answer it,
so retrieval alone refuses it. An essay is built to be read by position: the introduction ends with
the thesis, a paragraph opens with its topic sentence and ends with its point, the last paragraph
concludes, and the evidence is the quotations with page citations. This module reads a question for
such a part (or for a cited page) and finds its sentences. Words like "essay", "quote" and "page"
describe the document, not its content, so they are left out when matching a question's words to
sentences. Leaves out essays built another way (the answer then quotes the same positions) and
generated summaries (the Explain mode writes those from the same passages).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.answering.extractive import Selection
from assistant.index import LoadedIndex
from assistant.retrieval import Hits
from assistant.schema import Chunk
from assistant.text import listing, terms

MAX_PAGE_SENTENCES = 3
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
# Words that place a part of the essay. Only a question made of these and the document words
# asks about the essay itself; they stay content words for retrieval ("When did the war end?").
POSITION_WORDS = frozenset(
    terms(
        "introduction intro introduce introduces introductory opening open opens begin begins "
        "beginning start starts conclusion conclude concludes concluding end ends ending close "
        "closes closing final finally last first second third fourth fifth sixth seventh eighth "
        "ninth tenth two three four five six seven eight nine ten sentence sentences line lines "
        "part parts section sections body topic sum summed summing overview outline gist recap "
        "structure structured organized organised key whole entire brief short words thought"
    )
)
# Words of asking, not of what is asked about: "Please explain the thesis", "I'm confused. What is
# the conclusion?", "summary please".
ASKING_WORDS = frozenset(
    terms(
        "explain explains explained please confused confusing tell help understand understanding "
        "describe describes clarify simple simply again quick quickly briefly really exactly "
        "actually hi hello thanks thank want need know"
    )
)
_ORDINALS = {
    word: n
    for n, word in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth".split(), start=1
    )
} | {"opening": 1, "introductory": 1, "last": -1, "final": -1, "closing": -1, "concluding": -1}
_CARDINALS = {w: n for n, w in enumerate("one two three four five six seven eight nine ten".split(), 1)}
_PLACES = _ORDINALS | _CARDINALS
# "paragraph 2", "paragraph two", "the second paragraph"; not "in one paragraph" (a length).
_PARAGRAPH = re.compile(
    rf"\bparagraph\s+(?:no\.?\s*|number\s+)?(\d+|{'|'.join(_PLACES)})\b"
    rf"|\b({'|'.join(_ORDINALS)})\s+paragraph\b"
)
_OPENING = re.compile(
    r"\b(introduc(tion|e|es|tory)|intro|open(s|ing)?|begin(s|ning)?|start(s|ing)?"
    r"|first (sentence|line|part|section|words?))\b"
)
_CLOSING = re.compile(
    r"\b(conclu(sion|de|des|ding)|ends?|ending|clos(e|es|ing)"
    r"|(final|last) (sentence|line|part|section|words?|thoughts?|point))\b"
)
_SUMMARY = re.compile(
    r"\b(summar(y|ies|ize|ise|ized|ised|izing|ising)|overview|gist|outline|recap|sum (it )?up"
    r"|(main|key) points|structured?|organi[sz]ed|in (brief|short)|tl;? ?dr)\b"
)
_PAGE = re.compile(r"\b(?:pages?|pg\.?|pp?\.)\s*(\d+)\b")
_ENDS_SENTENCE = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*\s*$")  # not a heading
_THESIS = re.compile(
    r"\b(thesis|main (argument|claim|point|idea)|central (argument|claim|idea)|argu(e|es|ing|ment)"
    r"|claim|position|stance|what is (the|this) essay about)\b"
)
_EVIDENCE = re.compile(
    r"\b(evidence|quot(e|es|ation|ations)|cit(e|es|ation|ations)|support|examples?)\b"
)


@dataclass(frozen=True)
class Intent:
    """A question about a part of the essay: which part, and for "paragraph" which one."""

    kind: str  # "thesis" | "evidence" | "summary" | "paragraph" | "page"
    paragraph: int = 0  # for "paragraph": 1-based as citations number them; -1 is the last
    page: int = 0  # for "page": a page of the work the essay cites ("What is on page 254?")


def content_terms(question: str) -> list[str]:
    """The question's words that say what it is about (document words removed)."""
    return [t for t in terms(question) if t not in DOCUMENT_WORDS]


def intent(question: str, names: frozenset[str] = frozenset()) -> Intent | None:
    """What part of the essay a question asks for, when it asks about the essay as a whole or
    about a page (then with any other words: "What does Ruth say on page 166?"; the facade asks
    only of documents that cite pages). `names`: words naming one document of several
    (`document_names`), which may say whose part is meant ("paragraph 2 of the lecture")."""
    lowered = question.lower()
    page = _PAGE.search(lowered)
    if page:
        return Intent("page", page=int(page.group(1)))
    named = _PARAGRAPH.search(lowered)
    rest = lowered[: named.start()] + " " + lowered[named.end() :] if named else lowered
    if any(t not in POSITION_WORDS and t not in ASKING_WORDS and t not in names
           for t in content_terms(rest)):
        return None
    if _EVIDENCE.search(lowered):
        return Intent("evidence")
    if named:
        number = next(g for g in named.groups() if g is not None)
        return Intent("paragraph", int(number) if number.isdigit() else _PLACES[number])
    if _CLOSING.search(rest):
        return Intent("paragraph", -1)
    if _OPENING.search(rest):
        return Intent("paragraph", 1)
    if _SUMMARY.search(rest):
        return Intent("summary")
    if _THESIS.search(rest):
        return Intent("thesis")
    return None


def paragraph_rows(index: LoadedIndex, source: str) -> list[list[int]]:
    """The sentence rows of each of a document's paragraphs, in reading order."""
    doc = index.documents[source]
    rows: list[list[int]] = [[] for _ in doc.paragraphs]
    for i, (src, s, e) in enumerate(index.sentences):
        if src == source:
            for p, (start, end) in enumerate(doc.paragraphs):
                if start <= s and e <= end:
                    rows[p].append(i)
                    break
    return rows


def thesis_rows(index: LoadedIndex, source: str) -> list[int]:
    """The last sentence of the first paragraph long enough to be an introduction."""
    return _thesis(paragraph_rows(index, source))


def _thesis(paragraphs: list[list[int]]) -> list[int]:
    return next((rows[-1:] for rows in paragraphs if len(rows) >= 3), [])


def paragraph_point(rows: list[int]) -> list[int]:
    """A paragraph's topic sentence and its closing sentence (or its one sentence)."""
    return sorted({rows[0], rows[-1]}) if rows else []


def summary_rows(index: LoadedIndex, source: str) -> list[int]:
    """The sentences an outline is made of, most important first: the thesis, the essay's last
    sentence, then each later paragraph's topic sentence (headings are not sentences)."""
    text = index.documents[source].text

    def prose(rows: list[int]) -> bool:
        _src, start, end = index.sentences[rows[-1]]
        return bool(_ENDS_SENTENCE.search(text[start:end]))

    every = paragraph_rows(index, source)
    paragraphs = [rows for rows in every if rows and prose(rows)]
    if not paragraphs:
        return []
    thesis = _thesis(every) or paragraphs[0][:1]
    after = [rows for rows in paragraphs if rows[0] > thesis[0]]
    ranked = thesis + [paragraphs[-1][-1]] + [rows[0] for rows in after]
    return list(dict.fromkeys(ranked))


def evidence_rows(index: LoadedIndex, source: str) -> list[int]:
    """Sentences that carry a parenthetical page citation: the first to cite each page, then the
    rest, so a short answer shows as many different pieces of evidence as it can."""
    first, rest, seen = [], [], set()
    for row, pages in _citing(index, source):
        (rest if pages <= seen else first).append(row)
        seen |= pages
    return first + rest


def page_rows(index: LoadedIndex, source: str, page: int) -> list[int]:
    """Sentences whose citation covers that page ("(Ishiguro 254)", "(Smith 12-14)" for 13)."""
    return [row for row, pages in _citing(index, source) if any(_covers(p, page) for p in pages)]


def cited_pages(index: LoadedIndex) -> list[str]:
    """The pages the documents' citations name, in page order."""
    return _in_page_order({c.page for chunk in index.chunks for c in chunk.citations})


def _in_page_order(pages: set[str]) -> list[str]:
    return sorted(pages, key=lambda p: (int(p.split("-")[0]), p))


def _citing(index: LoadedIndex, source: str) -> list[tuple[int, set[str]]]:
    """(sentence row, the pages it cites) for each sentence with a parenthetical citation."""
    pages: dict[int, str] = {}  # where each citation starts -> its page
    for chunk in index.chunks:
        if chunk.source == source:
            for c in chunk.citations:
                pages.setdefault(c.start, c.page)
    out = []
    for i, (src, s, e) in enumerate(index.sentences):
        cited = {page for at, page in pages.items() if s <= at < e} if src == source else set()
        if cited:
            out.append((i, cited))
    return out


def _covers(cited: str, page: int) -> bool:
    first, _, last = cited.partition("-")
    if len(last) < len(first):  # MLA shortens a range's end: "112-14" is 112 to 114
        last = first[: len(first) - len(last)] + last
    return int(first) <= page <= int(last)


# --- answering ----------------------------------------------------------------------------------


def pages_of(chunks: Sequence[Chunk], index: LoadedIndex) -> Selection:
    """For "What page is that on?": the sentences of the passages just cited that cite a page,
    or a refusal saying that those passages cite none (and which pages the essay does cite)."""
    chosen = []
    for chunk in chunks:
        rows = set(index.chunk_sentences[index.chunks.index(chunk)])
        chosen += [(chunk, *index.sentences[row][1:]) for row, _ in _citing(index, chunk.source)
                   if row in rows]
    if chosen:
        return Selection(tuple(chosen[:MAX_PAGE_SENTENCES]), 1.0, 1.0, 1.0)
    places = listing(list(dict.fromkeys(f"paragraph {c.paragraph}" for c in chunks)), "and")
    one = len(chunks) == 1
    said = (f"The passage{'' if one else 's'} that answer quoted ({places}) "
            f"cite{'s' if one else ''} no page.")
    pages = cited_pages(index)
    if pages:
        said += f" The essay cites page{'s' if len(pages) > 1 else ''} {listing(pages, 'and')}."
    return Selection((), 0.0, 0.0, 0.0, reason=said)


def pages_cited(selection: Selection) -> list[str]:
    """The pages the selected sentences cite, in page order."""
    return _in_page_order({c.page for chunk, start, end in selection.sentences
                           for c in chunk.citations if start <= c.start < end})


def select_part(
    asked: Intent, hits: Hits, index: LoadedIndex, *, max_sentences: int, max_chars: int
) -> Selection:
    """Quote the part of the essay asked for, from the document the question names or else the
    one retrieval ranks first (for a paragraph, the first that has it); a refusal that says what
    the essay has instead when it has no such part."""
    source = _source(asked, hits, index)
    if source is None:
        return Selection((), 0.0, 0.0, 0.0)
    if asked.kind == "page":
        found = next(
            (rows for s in [source, *index.documents] if (rows := page_rows(index, s, asked.page))), []
        )
        if not found:
            return Selection((), 0.0, 0.0, 0.0, reason=_no_such_page(asked.page, index))
        rows = sorted(found, key=lambda row: -float(hits.sentence_scores[row]))
    elif asked.kind == "paragraph":
        paragraphs = paragraph_rows(index, source)
        n = asked.paragraph
        if not 1 <= abs(n) <= len(paragraphs):
            counts = {s: len(d.paragraphs) for s, d in index.documents.items()}
            return Selection((), 0.0, 0.0, 0.0, reason=_no_such_paragraph(n, counts))
        rows = paragraph_point(paragraphs[n - 1 if n > 0 else n])
    elif asked.kind == "summary":
        rows = summary_rows(index, source)
    elif asked.kind == "thesis":
        rows = thesis_rows(index, source)
    else:
        rows = evidence_rows(index, source)
    chosen, length = [], 0
    for row in rows:  # in order of preference, up to the answer's length
        if len(chosen) == max_sentences:
            break
        _src, start, end = index.sentences[row]
        if chosen and length + end - start > max_chars:
            continue  # a shorter sentence further down may still fit
        owner = next(c for c, held in zip(index.chunks, index.chunk_sentences) if row in held)
        chosen.append((owner, start, end))
        length += end - start
    chosen.sort(key=lambda item: item[1])
    return Selection(tuple(chosen), 1.0, 1.0, 1.0)


def _source(asked: Intent, hits: Hits, index: LoadedIndex) -> str | None:
    """The document a question about a part means: one whose name it uses ("paragraph 2 of the
    lecture"), else retrieval's order, skipping documents too short to have the paragraph."""
    ranked = list(dict.fromkeys([p.chunk.source for p in hits.passages] + list(index.documents)))
    words = set(re.findall(r"[a-z0-9]+", hits.question.lower()))
    named = [s for s in ranked if len(index.documents) > 1 and _name_words(s) & words]
    if asked.kind == "paragraph":
        ranked = [s for s in ranked if len(index.documents[s].paragraphs) >= abs(asked.paragraph)
                  ] or ranked
    return next(iter(named + ranked), None)


def document_names(index: LoadedIndex) -> frozenset[str]:
    """The words (as `terms` stems them) by which a question can name one of an index's several
    documents; none for an index of one."""
    if len(index.documents) < 2:
        return frozenset()
    return frozenset(t for source in index.documents for w in _name_words(source) for t in terms(w))


def _name_words(source: str) -> set[str]:
    """The words of a document's name that could only mean it: "lecture-3.md" -> {"lecture"}."""
    stem = source.rsplit(".", 1)[0].lower()
    return {w for w in re.findall(r"[a-z]+", stem)
            if len(w) > 3 and not set(terms(w)) <= DOCUMENT_WORDS | POSITION_WORDS}


def _no_such_paragraph(asked: int, counts: dict[str, int]) -> str:
    """`counts`: the paragraphs of each document of the index."""
    which = "a last paragraph" if asked == -1 else f"paragraph {asked}"
    count = max(counts.values())
    span = "1" if count == 1 else "1 or 2" if count == 2 else f"1 to {count}"
    if len(counts) > 1:
        longest = max(counts, key=counts.get)
        return (f"None of the {len(counts)} documents has {which}; the longest, {longest}, has "
                f"{count}. Ask about paragraph {span}, its thesis or its evidence.")
    return (
        f"The essay has {count} paragraph{'s' if count != 1 else ''}, so there is no {which}. "
        f"Ask about paragraph {span}, its thesis or its evidence."
    )


def _no_such_page(page: int, index: LoadedIndex) -> str:
    pages = cited_pages(index)
    if not pages:
        return f"The essay cites no page numbers, so it cannot say what is on page {page}."
    return (
        f"The essay cites no page {page}: it cites page{'s' if len(pages) > 1 else ''} "
        f"{listing(pages, 'and')}. "
        f"Ask about one of those, its thesis or its evidence."
    )
