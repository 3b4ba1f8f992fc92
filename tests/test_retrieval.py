"""Hybrid retrieval over the real essay index: ranking, k, scores, BM25, the LangChain adapter."""

from __future__ import annotations

import pytest

from assistant.retrieval import BM25, HybridRetriever, as_langchain
from assistant.text import terms

WHO = "Who says 'Poor creatures. What did we do to you?'"
RUTH = "What does Ruth fear about where the clones come from?"


@pytest.fixture(scope="module")
def retriever(essay_assistant) -> HybridRetriever:
    return essay_assistant.retriever


def test_the_passage_with_page_254_ranks_first_for_poor_creatures(retriever):
    top = retriever.search(WHO, 5).passages[0]
    assert top.rank == 1
    assert "Poor creatures" in top.chunk.text and top.chunk.pages == ["254"]
    assert top.dense > 0.3 and top.lexical > 0


def test_the_passage_with_page_166_ranks_first_for_ruths_fears(retriever):
    top = retriever.search(RUTH, 5).passages[0]
    assert "modeled from trash" in top.chunk.text and top.chunk.pages == ["166"]


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_k_is_respected_and_scores_descend(retriever, k):
    passages = retriever.search(WHO, k).passages
    assert len(passages) == k
    assert [p.rank for p in passages] == list(range(1, k + 1))
    scores = [p.score for p in passages]
    assert scores == sorted(scores, reverse=True)
    assert len({p.chunk.chunk_id for p in passages}) == k


def test_k_beyond_the_index_returns_every_passage_once(retriever, essay_chunks):
    passages = retriever.search(WHO, 50).passages
    assert sorted(p.chunk.chunk_id for p in passages) == sorted(c.chunk_id for c in essay_chunks)


def test_a_smaller_k_is_a_prefix_of_a_larger_one(retriever):
    five = retriever.search(RUTH, 5).passages
    two = retriever.search(RUTH, 2).passages
    assert [p.chunk.chunk_id for p in two] == [p.chunk.chunk_id for p in five[:2]]


def test_batched_search_ranks_like_single_searches(retriever):
    questions = [WHO, RUTH, "Who is Kathy H.?"]
    batched = retriever.search_many(questions, 3)
    for question, hits in zip(questions, batched, strict=True):
        single = retriever.search(question, 3)
        assert [p.chunk.chunk_id for p in hits.passages] == [
            p.chunk.chunk_id for p in single.passages
        ]
        assert [p.score for p in hits.passages] == pytest.approx(
            [p.score for p in single.passages], abs=1e-4
        )


def test_terms_drop_stopwords_and_light_endings():
    assert terms("The clones were at Hailsham's schools") == ["clone", "hailsham", "school"]


def test_bm25_prefers_the_text_with_the_rare_term():
    bm25 = BM25(["the clones at school", "Madame asks about the creatures", "clones and creatures"])
    scores = bm25.scores(terms("Madame"))
    assert scores.argmax() == 1 and scores[0] == scores[2] == 0
    assert bm25.weight("madame") > bm25.weight("clone")


def test_langchain_retriever_returns_documents_with_passage_metadata(retriever):
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    lc = as_langchain(retriever, k=3)
    assert isinstance(lc, BaseRetriever)
    docs = lc.invoke(WHO)
    assert len(docs) == 3 and all(isinstance(d, Document) for d in docs)
    expected = retriever.search(WHO, 3).passages
    for doc, passage in zip(docs, expected, strict=True):
        assert doc.page_content == passage.chunk.text
        assert doc.metadata["chunk_id"] == passage.chunk.chunk_id == doc.id
        assert doc.metadata["pages"] == passage.chunk.pages
        assert doc.metadata["rank"] == passage.rank
    assert docs[0].metadata["pages"] == ["254"]
