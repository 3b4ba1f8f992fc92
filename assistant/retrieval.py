"""Hybrid retrieval: dense (FAISS) and lexical (BM25) evidence fused into one passage score.

Every sentence is scored by its cosine with the question plus the IDF-weighted share of the
question's words it contains; a passage scores as its best sentence, plus its own cosine (FAISS)
and its normalized BM25 score. This score fusion beats reciprocal rank fusion on SQuAD
(BENCHMARKS.md compares both), because a one-sentence answer is not diluted by its neighbours.
Also exposes the search as a `langchain_core` retriever. Leaves out judging which sentence
answers (reader.py).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from assistant.index import LoadedIndex
from assistant.schema import Passage
from assistant.text import terms

BM25_K1, BM25_B = 1.2, 0.75
OVERLAP_WEIGHT = 0.7  # shared question words, next to sentence cosine
PASSAGE_COSINE_WEIGHT = 0.3  # the passage's own vector, next to its best sentence
BM25_WEIGHT = 0.2  # the passage's BM25 score divided by the best one's
PREFIX = 6  # words match on their first letters too: "invaded" ~ "invasion"

class BM25:
    """Okapi BM25 over a fixed list of texts, kept as postings so a query touches only its terms."""

    def __init__(self, texts: Sequence[str]) -> None:
        docs = [Counter(terms(t)) for t in texts]
        self.size = len(docs)
        lengths = np.array([sum(d.values()) for d in docs], dtype=np.float32)
        avg = float(lengths.mean()) if self.size and lengths.mean() > 0 else 1.0
        norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths / avg)
        postings: dict[str, list[tuple[int, int]]] = {}
        for i, doc in enumerate(docs):
            for term, tf in doc.items():
                postings.setdefault(term, []).append((i, tf))
        self.idf: dict[str, float] = {}
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, rows in postings.items():
            ids = np.array([i for i, _ in rows])
            tfs = np.array([tf for _, tf in rows], dtype=np.float32)
            self.idf[term] = math.log(1 + (self.size - len(rows) + 0.5) / (len(rows) + 0.5))
            self._postings[term] = (ids, tfs * (BM25_K1 + 1) / (tfs + norm[ids]))

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        out = np.zeros(self.size, dtype=np.float32)
        for term in set(query_terms):
            if term in self._postings:
                ids, weights = self._postings[term]
                out[ids] += self.idf[term] * weights
        return out

    def weight(self, term: str) -> float:
        """IDF of a term; unseen terms weigh as much as the rarest seen ones."""
        return self.idf.get(term, math.log(1 + (self.size + 0.5) / 0.5))


class Overlap:
    """For each sentence, the IDF-weighted share of a question's words it contains."""

    def __init__(self, texts: Sequence[str], bm25: BM25) -> None:
        self.size = len(texts)
        self.bm25 = bm25
        postings: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            for key in {t[:PREFIX] for t in terms(text)}:
                postings.setdefault(key, []).append(i)
        self._postings = {k: np.array(v) for k, v in postings.items()}

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        out = np.zeros(self.size, dtype=np.float32)
        weights: dict[str, float] = {}
        for term in set(query_terms):
            key = term[:PREFIX]
            weights[key] = max(weights.get(key, 0.0), self.bm25.weight(term))
        total = sum(weights.values())
        for key, weight in weights.items():
            if key in self._postings:
                out[self._postings[key]] += weight / total
        return out


@dataclass(frozen=True)
class Hits:
    """One question's retrieval: ranked passages plus the sentence scores answering reuses."""

    question: str
    passages: tuple[Passage, ...]
    sentence_cosine: np.ndarray  # cosine of the question with every sentence of the index
    sentence_overlap: np.ndarray  # share of the question's words in every sentence

    @property
    def sentence_scores(self) -> np.ndarray:
        return self.sentence_cosine + OVERLAP_WEIGHT * self.sentence_overlap


class HybridRetriever:
    """Dense + BM25 over one loaded index."""

    def __init__(self, index: LoadedIndex, embedder, ignore: frozenset[str] = frozenset()) -> None:
        self.index = index
        self.embedder = embedder
        self.ignore = ignore  # query words that never count as shared words (see answering/parts.py)
        self.bm25 = BM25([c.text for c in index.chunks])
        texts = {name: doc.text for name, doc in index.documents.items()}
        self.overlap = Overlap([texts[src][s:e] for src, s, e in index.sentences], self.bm25)
        # Scatter sentence scores onto chunks with one ufunc instead of a Python loop per query.
        self._owner = np.array(
            [i for i, rows in enumerate(index.chunk_sentences) for _ in rows], dtype=np.int64
        )
        self._rows = np.array([r for rows in index.chunk_sentences for r in rows], dtype=np.int64)

    def search(self, question: str, k: int) -> Hits:
        return self.search_many([question], k)[0]

    def search_many(self, questions: Sequence[str], k: int) -> list[Hits]:
        """Search several questions with one batched embedding call."""
        if not questions:
            return []
        vectors = self.embedder.encode_queries(list(questions))
        return self.search_vectors(questions, vectors, k)

    def search_vectors(self, questions: Sequence[str], vectors: np.ndarray, k: int) -> list[Hits]:
        """Search with question vectors already embedded (one FAISS call for the whole batch)."""
        n = len(self.index.chunks)
        dense_all = np.zeros((len(questions), n), dtype=np.float32)
        if n:
            scores, ids = self.index.vectors.search(np.ascontiguousarray(vectors), n)
            np.put_along_axis(dense_all, ids, scores, axis=1)
        sentence_all = vectors @ self.index.sentence_vectors.T
        return [self._rank(q, d, s, k) for q, d, s in zip(questions, dense_all, sentence_all)]

    def _rank(self, question: str, dense: np.ndarray, cosine: np.ndarray, k: int) -> Hits:
        n = len(self.index.chunks)
        query_terms = tuple(t for t in terms(question) if t not in self.ignore)
        overlap = self.overlap.scores(query_terms)
        hits = Hits(question, (), cosine, overlap)
        if n == 0:
            return hits
        best_sentence = np.full(n, -9.0, dtype=np.float32)
        np.maximum.at(best_sentence, self._owner, hits.sentence_scores[self._rows])
        lexical = self.bm25.scores(query_terms)
        top = float(lexical.max())
        fused = (
            best_sentence
            + PASSAGE_COSINE_WEIGHT * dense
            + (BM25_WEIGHT / top * lexical if top > 0 else 0.0)
        )
        order = np.argsort(-fused, kind="stable")[: min(k, n)]
        passages = tuple(
            Passage(
                chunk=self.index.chunks[i],
                score=float(fused[i]),
                rank=rank,
                dense=float(dense[i]),
                lexical=float(lexical[i]),
            )
            for rank, i in enumerate(order, start=1)
        )
        return replace(hits, passages=passages)


def as_langchain(retriever: HybridRetriever, k: int = 5):
    """The same search behind langchain_core's BaseRetriever (Documents carry the passage metadata)."""
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document as LCDocument
    from langchain_core.retrievers import BaseRetriever

    class PassageRetriever(BaseRetriever):
        hybrid: object
        k: int = 5

        def _get_relevant_documents(
            self, query: str, *, run_manager: CallbackManagerForRetrieverRun
        ) -> list[LCDocument]:
            hits = self.hybrid.search(query, self.k)
            return [
                LCDocument(
                    page_content=p.chunk.text,
                    metadata={**p.to_dict(), "pages": p.chunk.pages,
                              "source_pages": list(p.chunk.source_pages), "rank": p.rank},
                    id=p.chunk.chunk_id,
                )
                for p in hits.passages
            ]

    return PassageRetriever(hybrid=retriever, k=k)
