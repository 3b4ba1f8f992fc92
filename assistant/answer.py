"""Compose extractive answers: the essay's own sentences that answer a question, with [n] citations.

Also decides when the document does not support an answer (`support`), which every mode uses before
answering. Leaves out generation; see generate.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assistant.retrieval import BM25, Hits, terms
from assistant.schema import Chunk, Citation, Passage

REFUSAL = (
    "The essay doesn't say, as far as I can find: no passage in it answers this question. "
    "Try asking about its thesis, its argument or the evidence it quotes."
)
# A question is answered only when its best sentence is close in meaning (cosine) or shares most of
# the question's rarer words; see BENCHMARKS.md for how these trade answers for refusals.
MIN_COSINE = 0.42
MIN_SUPPORT = 0.55
CANDIDATE_PASSAGES = 3  # sentences are chosen from this many of the top passages
LEXICAL_WEIGHT = 0.3  # how much shared rare words count next to cosine when choosing sentences


@dataclass(frozen=True)
class Selection:
    """What an extractive answer rests on: sentences (document offsets) and the passages they cite."""

    sentences: tuple[tuple[Chunk, int, int], ...]  # (cited chunk, start, end), in reading order
    support: float
    cosine: float

    @property
    def refused(self) -> bool:
        return not self.sentences


class SentenceScorer:
    """Scores every sentence of an index against a question: meaning plus shared rare words."""

    def __init__(self, texts: list[str], bm25: BM25) -> None:
        self.bm25 = bm25
        self.sentence_terms = [frozenset(terms(t)) for t in texts]

    def overlap(self, query_terms: tuple[str, ...], row: int) -> float:
        """IDF-weighted share of the question's words found in sentence `row`."""
        return _overlap(query_terms, self.sentence_terms[row], self.bm25)

    def select(
        self,
        hits: Hits,
        chunk_rows: list[list[int]],
        chunk_index: dict[str, int],
        sentences: list[tuple[str, int, int]],
        *,
        max_sentences: int,
        max_chars: int,
    ) -> Selection:
        """Pick up to `max_sentences` sentences from the top passages, or none when unsupported."""
        owner: dict[int, Chunk] = {}
        for passage in hits.passages[:CANDIDATE_PASSAGES]:
            for row in chunk_rows[chunk_index[passage.chunk.chunk_id]]:
                owner.setdefault(row, passage.chunk)  # cite the best-ranked passage holding it
        if not owner:
            return Selection((), 0.0, 0.0)
        rows = list(owner)
        cosine = hits.sentence_scores[rows]
        lexical = np.array([self.overlap(hits.query_terms, r) for r in rows])
        score = cosine + LEXICAL_WEIGHT * lexical
        order = np.argsort(-score, kind="stable")
        best = order[0]
        passage_terms = frozenset().union(*(self.sentence_terms[r] for r in rows))
        support = max(float(lexical[best]), _overlap(hits.query_terms, passage_terms, self.bm25) * 0.9)
        if cosine[best] < MIN_COSINE and support < MIN_SUPPORT:
            return Selection((), support, float(cosine[best]))
        chosen, length = [], 0
        for i in order[:max_sentences]:
            src, start, end = sentences[rows[i]]
            if chosen and (length + end - start > max_chars or score[i] < score[best] - 0.15):
                break
            chosen.append((owner[rows[i]], start, end))
            length += end - start
        chosen.sort(key=lambda item: item[1])
        return Selection(tuple(chosen), support, float(cosine[best]))


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


def retrieved_passages(hits: Hits) -> tuple[Passage, ...]:
    return hits.passages


def _overlap(query_terms: tuple[str, ...], found: frozenset[str], bm25: BM25) -> float:
    unique = set(query_terms)
    if not unique:
        return 0.0
    total = sum(bm25.weight(t) for t in unique)
    return sum(bm25.weight(t) for t in unique if t in found) / total
