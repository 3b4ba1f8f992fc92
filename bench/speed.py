"""Speed sections: index build time and warm answer latency, product beside the LangChain baseline.

Build: the essay and the 8 SQuAD articles (each on its own), timed with the models already loaded,
in passages/second next to the embedding model's own batch speed on the same texts. Latency: the
essay questions of the load benchmark asked one at a time, product and baseline interleaved so a
change of machine load hits both alike.
"""

from __future__ import annotations

import time

from assistant.evaluation.metrics import percentile
from bench import baseline
from bench.context import Bench
from bench.load import QUESTIONS
from bench.results import Row, Section, row


def build(b: Bench) -> Section:
    """Index build time for the essay and the SQuAD articles; passages/s against the model alone."""
    from assistant.assistant import build_documents
    from assistant.ingest import chunk_document, document_from_text, read_document

    s = b.settings
    section = Section("build", "Index build")
    embedder, lc = b.embedder, b.lc_embeddings

    t0 = time.perf_counter()
    manifest = build_documents([b.essay_path], b.workdir / "essay-index", s, embedder)
    essay_s = time.perf_counter() - t0
    b.essay_index(built=b.workdir / "essay-index")
    t0 = time.perf_counter()
    store, pieces = baseline.build_store([b.essay_path.read_text(encoding="utf-8")], lc)
    essay_base_s = time.perf_counter() - t0
    b.essay_store(built=store)
    counts = manifest["counts"]
    section.rows.append(
        row(
            f"essay: build ({counts['chunks']} passages, {counts['sentences']} sentences; "
            f"baseline {pieces} pieces)",
            essay_s,
            "{:.2f} s",
            baseline=essay_base_s,
        )
    )

    documents = [document_from_text(a.title, "\n\n".join(a.paragraphs)) for a in b.articles]
    t0 = time.perf_counter()
    chunks = sentences = 0
    for article in b.articles:
        _, m = b.article_index(article)
        chunks += m["counts"]["chunks"]
        sentences += m["counts"]["sentences"]
    squad_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    stores, pieces = [], 0
    for a in b.articles:
        store, n = baseline.build_store(["\n\n".join(a.paragraphs)], lc)
        stores.append((a, store))
        pieces += n
    squad_base_s = time.perf_counter() - t0
    b.squad_stores(built=stores)
    section.rows.append(
        row(
            f"{len(documents)} SQuAD articles: build ({chunks} passages, {sentences} sentences; "
            f"baseline {pieces} pieces)",
            squad_s,
            "{:.1f} s",
            baseline=squad_base_s,
        )
    )

    # The model alone on exactly the texts each pipeline embeds.
    passages = [c for d in documents for c in chunk_document(d, s.chunk_chars, s.chunk_overlap)]
    sentence_texts = list(
        dict.fromkeys(
            d.text[start:end]
            for d in documents
            for c in chunk_document(d, s.chunk_chars, s.chunk_overlap)
            for start, end in c.sentences
        )
    )
    t0 = time.perf_counter()
    embedder.encode([c.text for c in passages])
    passages_alone_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    embedder.encode(sentence_texts)
    sentences_alone_s = time.perf_counter() - t0
    section.rows += [
        row(
            "SQuAD build rate, passages/s (baseline: pieces/s)",
            chunks / squad_s,
            "{:.1f}/s",
            baseline=pieces / squad_base_s,
        ),
        row("embedding model alone on the same passages", len(passages) / passages_alone_s,
            "{:.1f}/s"),
        row(
            "embedding model alone on passages + sentences (all the product embeds)",
            chunks / (passages_alone_s + sentences_alone_s),
            "{:.1f} passages/s",
        ),
    ]
    essay_doc = read_document(b.essay_path)
    section.notes += [
        "Models are loaded and warm before timing; times cover chunking, embedding and writing "
        "the index to disk (product) or building the in-memory FAISS store (baseline).",
        f"The product embeds every passage and every distinct sentence ({sentences} for SQuAD) so "
        "that answers can pick sentences; the baseline embeds only its 1000-character pieces. "
        f"Product passages hold whole sentences up to about {s.chunk_chars} characters "
        f"(the essay: {len(essay_doc.text)} characters).",
    ]
    return section


def latency(b: Bench) -> Section:
    """Warm extractive answer latency (Assistant.ask) beside the baseline's similarity_search."""
    section = Section("latency", "Warm answer latency (essay, extractive)")
    assistant = b.essay_assistant()
    store = b.essay_store()
    embedder = b.embedder
    for q in QUESTIONS:  # warm every path once, not counted
        assistant.ask(q)
        baseline.retrieve(store, q)
    product, base, embed, torch_ms, retrieve, cpu = [], [], [], [], [], []
    refused = 0
    for _ in range(b.reps):
        for q in QUESTIONS:
            c0, t0 = time.process_time(), time.perf_counter()
            answer = assistant.ask(q)
            product.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            refused += answer.refused
            t0 = time.perf_counter()
            baseline.retrieve(store, q)
            base.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            embedder.encode_queries([q])
            embed.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            embedder.encode([q])
            torch_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            assistant.retriever.search(q, assistant.settings.k)
            retrieve.append((time.perf_counter() - t0) * 1000)
    p50, p95 = percentile(product, 50), percentile(product, 95)
    b50, b95 = percentile(base, 50), percentile(base, 95)
    section.rows += [
        row("answer p50 (`Assistant.ask`; baseline: `similarity_search`, k=4)", p50, "{:.1f} ms",
            baseline=b50, target=("<=", 15.0)),
        row("answer p95", p95, "{:.1f} ms", baseline=b95),
        row("p50 ratio product / baseline", p50 / b50, "{:.2f}x"),
        row("process CPU time per answer, p50 (all threads; less sensitive to load)",
            percentile(cpu, 50), "{:.1f} ms"),
        row("of which: question embedding alone (ONNX Runtime), p50", percentile(embed, 50),
            "{:.1f} ms"),
        row("of which: hybrid retrieval incl. embedding, p50", percentile(retrieve, 50),
            "{:.1f} ms"),
        row("the same question embedding with sentence-transformers (PyTorch, 1 core), p50",
            percentile(torch_ms, 50), "{:.1f} ms"),
        row("question embedding, sentence-transformers / ONNX Runtime (p50)",
            percentile(torch_ms, 50) / percentile(embed, 50), "{:.2f}x"),
        Row("questions x repetitions", f"{len(QUESTIONS)} x {b.reps} = {len(product)}"),
    ]
    section.notes.append(
        f"Questions: the {len(QUESTIONS)} essay questions of bench/load.py (the last 4 are meant "
        f"to be refused; the product refused {refused // b.reps} per round). One question at a "
        "time, single process, models "
        "warm; the product's time is a whole cited answer (retrieval, sentence selection, "
        "citations), the baseline's is retrieval only."
    )
    return section
