"""Compose extractive answers: the document's own sentences that answer a question, with [n] markers.

Also decides when the document does not support an answer (`Selection.refused`), which every mode
checks before answering. Leaves out generation; see generate.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from assistant.reader import Candidate, Reading
from assistant.retrieval import Hits
from assistant.schema import Chunk, Citation, Passage
from assistant.text import STOPWORDS, blank_quotations, find_names, listing, quotations, sentence_spans

TRY_ASKING = (
    "Try asking about its thesis, the evidence it quotes, one of its paragraphs, or for a summary."
)
# Retrieval matches meaning and shared words, so a question in words the essay never uses may find
# nothing ("Where is the novel set?" of "a dystopian late-nineties England"): say how to ask again.
NOT_FOUND = "The essay doesn't say, as far as I can find: no passage in it answers this question."
REFUSAL = f"{NOT_FOUND} If you think one does, ask again using the essay's own words. {TRY_ASKING}"
# A question is answered only when its best sentence scores at least this (cosine plus weighted
# share of the question's words); BENCHMARKS.md shows how it trades answers for refusals.
MIN_SCORE = 0.62
# A refusal whose best sentence still scores this much shows that sentence, marked as not an
# answer, so a student who asked in other words ("Where is the novel set?") sees what the essay
# has ("a dystopian late-nineties England"). Below it, the best sentence is as close as those of
# unrelated questions (an off-topic question scores up to about 0.42 on an essay this size).
NEAR_SCORE = 0.45
NEAR_CHARS = 300  # a longer nearest sentence is cut at a word, with an ellipsis
CANDIDATE_PASSAGES = 3  # sentences are chosen from this many of the top passages
# A further sentence is quoted only when it may hold the answer the best one lacks, and is worth
# its length: it may take up to RUNNER_UP_CHARS * exp(-(best - its score) / RUNNER_UP_SCALE)
# characters, so a near tie may be long and a clear runner-up must be short. Fitted on SQuAD
# articles 1-4, checked on 5-8 (BENCHMARKS.md): the same mean length holds the answer more often.
RUNNER_UP_CHARS = 1300
RUNNER_UP_SCALE = 0.125
TYPE_BONUS = 0.15  # for a sentence holding the kind of thing asked for (a date for "when")


@dataclass(frozen=True)
class Selection:
    """What an extractive answer rests on: sentences (document offsets) and the passages they cite."""

    sentences: tuple[tuple[Chunk, int, int], ...]  # (cited chunk, start, end), in reading order
    score: float  # the best sentence's cosine + weighted word overlap
    cosine: float
    overlap: float
    reason: str = ""  # what a refusal says instead of REFUSAL, when it knows better
    nearest: tuple[Chunk, int, int] | None = None  # a refusal's best sentence, if near enough

    @property
    def refused(self) -> bool:
        return not self.sentences


def select(
    hits: Hits,
    chunk_rows: list[list[int]],
    chunk_index: dict[str, int],
    sentences: list[tuple[str, int, int]],
    text_of: dict[str, str],
    *,
    max_sentences: int,
    max_chars: int,
) -> Selection:
    """Pick up to `max_sentences` sentences from the top passages, or none when unsupported."""
    owner: dict[int, Chunk] = {}
    for passage in hits.passages[:CANDIDATE_PASSAGES]:
        for row in chunk_rows[chunk_index[passage.chunk.chunk_id]]:
            owner.setdefault(row, passage.chunk)  # cite the best-ranked passage that holds it
    if not owner:
        return Selection((), 0.0, 0.0, 0.0)
    rows = np.array(list(owner))
    plain = hits.sentence_scores[rows]
    top = int(np.argmax(plain))
    # Support is judged on meaning and words alone; the kind bonus below only orders sentences.
    found = Selection(
        (),
        float(plain[top]),
        float(hits.sentence_cosine[rows[top]]),
        float(hits.sentence_overlap[rows[top]]),
    )
    if found.score < MIN_SCORE:
        if found.score < NEAR_SCORE:
            return found
        _source, start, end = sentences[rows[top]]
        return replace(found, nearest=(owner[rows[top]], start, end))
    score = plain
    texts = [text_of[sentences[r][0]][sentences[r][1] : sentences[r][2]] for r in rows]
    kind = expected_kind(hits.question)
    if kind:
        score = plain + TYPE_BONUS * np.array([has_kind(kind, t, hits.question) for t in texts])
    order = np.argsort(-score, kind="stable")
    # a title ("Lecture 3: The Water Cycle") shares the question's words but answers nothing
    untitled = [i for i in order if not is_title(texts[i])]
    order = untitled or order
    if kind == "author":  # "Who wrote it?": a sentence that credits no one cannot say
        order = [i for i in order if has_kind(kind, texts[i], hits.question)] or order
    spans = [(owner[r], sentences[r][1], sentences[r][2]) for r in rows]
    chosen = _quoted(order, score, spans, max_sentences, max_chars)
    return Selection(chosen, found.score, found.cosine, found.overlap)


def _quoted(order: Sequence[int], scores: np.ndarray, spans: list[tuple[Chunk, int, int]],
            max_sentences: int, max_chars: int) -> tuple[tuple[Chunk, int, int], ...]:
    """The first span in `order`, then each runner-up worth its length for how far below the
    first it scores and that still fits; in reading order, the first one's document first."""
    best = float(scores[order[0]])
    chosen: list[tuple[Chunk, int, int]] = []
    length = 0
    for i in order:
        if len(chosen) == max_sentences:
            break
        _chunk, start, end = spans[i]
        worth = RUNNER_UP_CHARS * math.exp((float(scores[i]) - best) / RUNNER_UP_SCALE)
        if chosen and (length + end - start > max_chars or end - start > worth):
            continue  # a shorter sentence further down may still fit
        chosen.append(spans[i])
        length += end - start
    documents = list(dict.fromkeys(chunk.source for chunk, _, _ in chosen))
    chosen.sort(key=lambda item: (documents.index(item[0].source), item[1]))
    return tuple(chosen)


def candidate_sentences(hits: Hits, chunk_rows: list[list[int]], chunk_index: dict[str, int],
                        sentences: list[tuple[str, int, int]], text_of: dict[str, str]
                        ) -> list[Candidate]:
    """The sentences of the top passages, each with the best-ranked passage that holds it."""
    owner: dict[int, Passage] = {}
    for passage in hits.passages[:CANDIDATE_PASSAGES]:
        for row in chunk_rows[chunk_index[passage.chunk.chunk_id]]:
            owner.setdefault(row, passage)
    return [Candidate(row, passage, text_of[sentences[row][0]][sentences[row][1] : sentences[row][2]])
            for row, passage in owner.items()]


def select_read(reading: Reading, sentences: list[tuple[str, int, int]], *, max_sentences: int,
                max_chars: int) -> Selection:
    """The reader's choice: its most probable sentences when the question is answerable (a
    runner-up only when it is short enough for how far below the best it scores), else nothing,
    with the best sentence as the nearest when it comes close."""
    if not reading.candidates:
        return Selection((), 0.0, 0.0, 0.0)
    probabilities = reading.probabilities
    order = [int(i) for i in np.argsort(-probabilities, kind="stable")]
    best = reading.candidates[order[0]]
    found = Selection((), reading.best, 0.0, 0.0)
    if not reading.answerable:
        if not reading.near:
            return found
        _source, start, end = sentences[best.row]
        return replace(found, nearest=(best.passage.chunk, start, end))
    # a title ("Lecture 3: The Water Cycle") shares the question's words but answers nothing
    order = [i for i in order if not is_title(reading.candidates[i].text)] or order
    spans = [(c.passage.chunk, sentences[c.row][1], sentences[c.row][2])
             for c in reading.candidates]
    chosen = _quoted(order, probabilities, spans, max_sentences, max_chars)
    return Selection(chosen, found.score, found.cosine, found.overlap)


_TITLE_WORD = re.compile(r"[^\W\d_]{4,}")


def is_title(sentence: str) -> bool:
    """A heading or title: a few words, no closing punctuation, its longer words capitalized
    ("Lecture 3: The Water Cycle", "The Road Not Taken"); a list item such as "Evaporation:
    water turns into vapour" is not one."""
    stripped = sentence.strip()
    words = _TITLE_WORD.findall(stripped)
    if not words or len(stripped.split()) > 12 or stripped[-1:] in ".!?…:;\"”’')]":
        return False
    return sum(w[0].isupper() for w in words) >= 0.6 * len(words)


_KINDS = (
    ("author", re.compile(r"\bwho (wrote|writes|authored|penned)\b|\b(author|writer) of\b"
                          r"|\bwritten by (whom|who)\b")),
    ("date", re.compile(r"\b(when|what (year|century|decade|date|period)|which (year|century))\b")),
    ("number", re.compile(r"\bhow (many|much|long|old|far|large|big|tall|high|fast)\b|"
                          r"\bwhat (percentage|percent|number|amount|proportion)\b")),
    ("name", re.compile(r"\b(who|whom|whose|where)\b")),
)  # fmt: skip
_DATE = re.compile(
    r"\b(1\d{3}|20\d{2})s?\b|\b\d+(st|nd|rd|th) century\b|\b(january|february|march|april|may|june|"
    r"july|august|september|october|november|december)\b"
)
_NUMBER = re.compile(
    r"\b\d[\d,.]*\b|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|"
    r"thirty|forty|fifty|hundred|thousand|million|billion|dozen|half)\b"
)
_NAME = re.compile(r"(?<=[\w,;:] )[A-Z][\w\-\u2019']+")
# a name credited with a work: "Kazuo Ishiguro\u2019s Never Let Me Go", "by Mary Shelley", "the
# novelist Shelley"
_CREDIT = re.compile(r"\b[A-Z][\w\-]+[\u2019']s\s+[A-Z]|\bby\s+[A-Z]"
                     r"|\b(wrote|written|author|novelist|writer|poet|playwright)\b.{0,40}?\b[A-Z]")


def expected_kind(question: str) -> str | None:
    """The kind of thing a question asks for, when its wording says: a date, a number or a name."""
    lowered = question.lower()
    return next((kind for kind, pattern in _KINDS if pattern.search(lowered)), None)


def has_kind(kind: str, sentence: str, question: str) -> bool:
    """Whether the sentence holds a thing of that kind that the question does not already name."""
    lowered = question.lower()
    if kind == "author":
        return bool(_CREDIT.search(sentence))
    if kind == "name":
        return any(m.group().lower() not in lowered for m in _NAME.finditer(sentence))
    pattern = _DATE if kind == "date" else _NUMBER
    return any(m.group().lower() not in lowered for m in pattern.finditer(sentence.lower()))


def render(selection: Selection, text_of: dict[str, str]) -> tuple[str, tuple[Citation, ...]]:
    """The answer text with a [n] marker after each sentence, and the citations the markers name."""
    markers: dict[str, int] = {}
    citations: list[Citation] = []
    parts = []
    for chunk, start, end in selection.sentences:
        if chunk.chunk_id not in markers:
            markers[chunk.chunk_id] = len(markers) + 1
            citations.append(Citation(markers[chunk.chunk_id], chunk))
        parts.append(f"{text_of[chunk.source][start:end]} [{markers[chunk.chunk_id]}]")
    return " ".join(parts), tuple(citations)


_LETTERS = re.compile(r"[^\W\d_]+")


def document_words(texts: list[str]) -> frozenset[str]:
    """Every run of letters in the documents, lower-cased: what `refusal` checks names against."""
    return frozenset(w for text in texts for w in _LETTERS.findall(text.lower()))


@dataclass(frozen=True)
class Refusal:
    """What a refusal says, and the sentence it offers as the closest the document comes."""

    text: str
    nearest: str | None = None  # as quoted in `text` (shortened), without quotation marks


def refusal(question: str, words: frozenset[str], nearest: str | None = None,
            where: str = "") -> Refusal:
    """The refusal, naming what the question asks about that the documents never mention
    ("The essay never mentions Miss Emily"), else the general one; that one shows the `nearest`
    sentence (found `where`: "paragraph 2"), when there is one, as what the essay does say."""
    text = blank_quotations(question, quotations(question))
    runs: list[tuple[int, int]] = []  # spans of adjacent names: "World War II", "Miss Emily"
    # sentence by sentence, so that "...thesis? Ignore the passages" does not name "Ignore"
    found = [(name, start + at) for start, end in sentence_spans(text)
             for name, at in find_names(text[start:end])]
    for name, at in found:
        if runs and text[runs[-1][1] : at].isspace():
            runs[-1] = (runs[-1][0], at + len(name))
        else:
            runs.append((at, at + len(name)))
    # A run is unmentioned when one of its words is nowhere in the documents.
    missing = [text[start:end] for start, end in runs if _unknown(text[start:end], words)]
    if not missing and nearest:
        quoted = _shortened(nearest)
        return Refusal(f"{NOT_FOUND} The closest it comes is in {where}: \u201c{quoted}\u201d If "
                       "that is what you meant, ask again in its words.", quoted)
    if not missing:
        return Refusal(REFUSAL)
    return Refusal(f"The essay never mentions {listing(missing, 'or')}, so it cannot answer this. "
                   f"{TRY_ASKING}")


def _shortened(sentence: str) -> str:
    sentence = " ".join(sentence.split())
    if len(sentence) <= NEAR_CHARS:
        return sentence
    return sentence[: sentence.rfind(" ", 0, NEAR_CHARS)].rstrip(",;:\u2014 ") + "\u2026"


def _unknown(phrase: str, words: frozenset[str]) -> bool:
    return any(w not in words and w not in STOPWORDS for w in _LETTERS.findall(phrase.lower()))
