"""Quality and batch sections on SQuAD v2 (each article indexed on its own), product defaults.

The product's numbers come from its own evaluation runner (`assistant.evaluation.run.run_eval`, scored by
`assistant.evaluation.metrics`); the baseline's retrieval is scored with the same relevance rule
(`metrics.score_record`). Adds what the runner does not measure: gold-answer containment under the
official SQuAD normalization, questions asked against the wrong article (should be refused),
reciprocal rank fusion against the product's score fusion, and the LangChain retrieval loop's speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from assistant.evaluation.metrics import normalize_answer, score_record, strip_markers
from assistant.evaluation.runs import read_records
from bench import baseline
from bench.context import EVAL_REPORT, Bench
from bench.results import ROOT, Row, Section, percent, row

BATCH = 256


def quality(b: Bench) -> Section:
    """hit@1/hit@5, answer length and containment, refusals in and across articles."""
    section = Section("quality", "Quality on SQuAD v2 dev, half a (extractive)")
    run = b.eval_run()
    overall = run["summary"]["metrics"]["overall"]
    records = read_records(run["run_dir"] / "answers.jsonl")
    answerable = [r for r in records if r["gold"].get("answerable")]
    contained = [squad_contains(r) for r in answerable if not r["refused"]]
    base = baseline_hits(b, k=5)
    cross = cross_article(b)
    section.rows += [
        percent("gold answer in the top passage (hit@1, answerable)", overall["hit@1"],
                baseline=base[1], target=(">=", 85.0)),
        percent("gold answer in the top 5 (hit@5, answerable)", overall["hit@5"],
                baseline=base[5], target=(">=", 97.0)),
        row("answer length, mean characters (answers given)", overall["answer_chars_mean"],
            "{:.0f}", target=("<=", 350.0)),
        percent("answer contains the gold answer (SQuAD-normalized, of answerable)",
                sum(contained) / len(answerable), target=(">=", 85.0)),
        percent("...of the answerable questions it answered",
                sum(contained) / max(1, len(contained))),
        percent("answer contains the gold answer (metrics.py `contains`: case/space only)",
                overall["contains"]),
        percent("answerable questions refused", overall["answerable_refused_rate"],
                target=("<=", 3.0)),
        Row("...refusals of them that quote, uncited, a sentence holding the gold answer",
            nearest_holds(answerable)),
        percent("questions from another article refused (each against all 7 others)",
                cross["all"], target=(">=", 95.0)),
        percent("...rotation: article i+1's questions against article i's index",
                cross["rotation"], target=(">=", 95.0)),
        percent("in-article unanswerable questions refused (SQuAD v2 impossible)",
                overall["refusal_recall"]),
        percent("SQuAD v2 F1 (answerable; a sentence is long next to a span)",
                overall["has_ans_f1"]),
        Row("questions", f"{overall['n']} ({overall['n_answerable']} answerable, "
            f"{overall['n_unanswerable']} unanswerable), {len(b.articles)} articles"),
    ]
    section.tables.append(_per_article(b, overall, run["summary"]["metrics"], cross))
    report = EVAL_REPORT.relative_to(ROOT)
    section.tables.append(
        " ".join(f"![{p.stem}]({report}/{p.name})" for p in sorted(EVAL_REPORT.glob("*.png")))
    )
    section.notes += [
        "Relevance (hit@k): a passage contains a gold answer, ignoring case, runs of whitespace "
        "and quote/dash style (assistant/evaluation/metrics.py). The baseline is scored with the "
        "same rule on its `similarity_search(k=5)` pieces; its pieces are 1000 characters, the "
        "product's about "
        f"{b.settings.chunk_chars}, so a hit is easier for the baseline per passage.",
        "SQuAD-normalized containment: the answer's text ([n] markers removed) and the gold answer "
        "both lowercased, without punctuation and a/an/the, whitespace collapsed; the gold must "
        "appear as whole words. Refused answers count as not containing it.",
        f"Report with plots (hit@k curve, latency histogram, refusal table, worst questions): "
        f"[{report}/report.html]({report}/report.html), metrics in {report}/metrics.json.",
    ]
    return section


def squad_contains(record: dict) -> bool:
    """Whether the answer contains a gold answer, as whole words, under SQuAD normalization."""
    text = f" {normalize_answer(strip_markers(record['answer']))} "
    golds = [normalize_answer(g) for g in record["gold"].get("answers", [])]
    return any(g and f" {g} " in text for g in golds)


def nearest_holds(answerable: Sequence[dict], contains: Callable[[dict], bool] | None = None
                  ) -> str:
    """'a of b': refused answerable records whose refusal quotes a nearest sentence holding a gold
    answer (`contains`, SQuAD-normalized by default), of all refused answerable records."""
    contains = contains or squad_contains
    refused = [r for r in answerable if r["refused"]]
    held = sum(contains({**r, "refused": False, "answer": r.get("nearest") or ""})
               for r in refused)
    return f"{held} of {len(refused)}"


def baseline_hits(b: Bench, k: int) -> dict[int, float]:
    """hit@1..k of the LangChain pipeline on the answerable questions (metrics' relevance rule)."""
    ranks = []
    for article, store in b.squad_stores():
        for q in article.questions:
            if not (q.answerable and q.answers):
                continue
            found = baseline.retrieve(store, q.question, k=k)
            record = {"retrieved": [{"text": t} for t in found], "gold": q.gold()}
            ranks.append(score_record(record)["hit_rank"])
    return {n: sum(0 < r <= n for r in ranks) / len(ranks) for n in range(1, k + 1)}


def cross_article(b: Bench) -> dict:
    """Refusal of answerable questions asked against every other article's index."""
    assistants = b.squad_assistants()
    titles = [a.title for a in b.articles]
    questions = {a.title: [q.question for q in a.questions if q.answerable] for a in b.articles}
    pairs: dict[tuple[str, str], float] = {}
    refused = total = 0
    for index_title in titles:
        assistant = assistants[index_title]
        for source in titles:
            if source == index_title:
                continue
            answers = _ask_many(assistant, questions[source])
            n = sum(a.refused for a in answers)
            pairs[(index_title, source)] = n / len(answers)
            refused += n
            total += len(answers)
    rotation = [
        (titles[i], titles[(i + 1) % len(titles)]) for i in range(len(titles))
    ]
    rot_refused = sum(pairs[p] * len(questions[p[1]]) for p in rotation)
    rot_total = sum(len(questions[p[1]]) for p in rotation)
    per_index = {
        t: np.mean([pairs[(t, s)] for s in titles if s != t]) for t in titles
    }
    return {"all": refused / total, "rotation": rot_refused / rot_total, "asked": total,
            "per_index": per_index}


def _ask_many(assistant, questions: Sequence[str]) -> list:
    out = []
    for i in range(0, len(questions), BATCH):
        out += assistant.ask_many(questions[i : i + BATCH])
    return out


def _per_article(b: Bench, overall: dict, metrics: dict, cross: dict) -> str:
    lines = [
        "| article | questions | hit@1 | hit@5 | contains (metrics.py) | answerable refused "
        "| other articles' questions refused |",
        "|---|---|---|---|---|---|---|",
    ]
    for a in b.articles:
        m = metrics["breakdown"].get(a.title, {})

        def pct(key: str, m: dict = m) -> str:
            return "n/a" if m.get(key) is None else f"{100 * m[key]:.1f}%"

        lines.append(
            f"| {a.title} | {len(a.questions)} | {pct('hit@1')} | {pct('hit@5')} "
            f"| {pct('contains')} | {pct('answerable_refused_rate')} "
            f"| {100 * cross['per_index'][a.title]:.1f}% |"
        )
    return "\n".join(lines)


RRF_K = 60  # the constant of Cormack et al. (2009)


def reciprocal_ranks(scores: np.ndarray) -> np.ndarray:
    """Reciprocal-rank-fusion contribution of one ranking."""
    ranks = np.empty(len(scores), dtype=np.float32)
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return 1.0 / (RRF_K + ranks)


def rrf(b: Bench) -> Section:
    """The product's score fusion against reciprocal rank fusion of dense + BM25, same passages."""
    from assistant import retrieval

    section = Section("rrf", "Fusion: the product's score fusion vs reciprocal rank fusion")
    assistants = b.squad_assistants()
    ranks: dict[str, list[int]] = {"product": [], "rrf": [], "dense": [], "bm25": []}
    for article in b.articles:
        assistant = assistants[article.title]
        retriever = assistant.retriever
        qs = [q for q in article.questions if q.answerable and q.answers]
        vectors = b.embedder.encode_queries([q.question for q in qs])
        chunks = assistant.chunks
        n = len(chunks)
        scores, ids = retriever.index.vectors.search(np.ascontiguousarray(vectors), n)
        dense_all = np.zeros((len(qs), n), dtype=np.float32)
        np.put_along_axis(dense_all, ids, scores, axis=1)
        fused = retriever.search_vectors([q.question for q in qs], vectors, 5)
        for q, dense, hits in zip(qs, dense_all, fused, strict=True):
            lexical = retriever.bm25.scores(retrieval.terms(q.question))
            rankings = {
                "product": [p.chunk.text for p in hits.passages],
                "rrf": _top(chunks, reciprocal_ranks(dense) + reciprocal_ranks(lexical)),
                "dense": _top(chunks, dense),
                "bm25": _top(chunks, lexical),
            }
            for name, texts in rankings.items():
                record = {"retrieved": [{"text": t} for t in texts], "gold": q.gold()}
                ranks[name].append(score_record(record)["hit_rank"])
    labels = {
        "product": "product score fusion (sentence cosine + word overlap + passage cosine + BM25)",
        "rrf": f"reciprocal rank fusion of dense + BM25 (k={RRF_K})",
        "dense": "dense only (FAISS cosine of passages)",
        "bm25": "BM25 only",
    }
    for name, label in labels.items():
        r = ranks[name]
        section.rows += [
            percent(f"{label}: hit@1", sum(0 < x <= 1 for x in r) / len(r)),
            percent(f"{label}: hit@5", sum(0 < x <= 5 for x in r) / len(r)),
        ]
    section.notes.append(
        f"Same {len(ranks['product'])} answerable questions, same passages and question vectors; "
        "only the way the scores are combined differs. Relevance as in the quality section."
    )
    return section


def _top(chunks, scores: np.ndarray, k: int = 5) -> list[str]:  # noqa: ANN001
    return [chunks[i].text for i in np.argsort(-scores, kind="stable")[:k]]


def throughput(b: Bench) -> Section:
    """Extractive evaluation of every question once indexes are built, vs a LangChain loop."""
    section = Section("throughput", "Batch evaluation throughput (all SQuAD questions)")
    run = b.eval_run()
    session = run["summary"]["session"]
    qps = session["answered"] / session["answer_s"]
    stores = b.squad_stores()
    questions = [q.question for a in b.articles for q in a.questions]
    t0 = time.perf_counter()
    for article, store in stores:
        for q in article.questions:
            baseline.retrieve(store, q.question, k=baseline.K)
    base_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    b.embedder.encode_queries(questions)
    embed_s = time.perf_counter() - t0
    section.rows += [
        row(f"`assistant eval --squad` extractive, {session['answered']} questions "
            "(baseline: retrieve-only loop, k=4)", qps, "{:.0f} q/s",
            baseline=len(questions) / base_s, target=(">=", 200.0)),
        row("answering wall time", session["answer_s"], "{:.1f} s", baseline=base_s),
        row("loading (and, if needed, building) the 8 indexes, excluded above",
            session["index_s"], "{:.1f} s"),
        row("the question encoder alone on the same questions (ONNX Runtime)",
            len(questions) / embed_s, "{:.0f} q/s"),
        row("ratio product / baseline", qps * base_s / len(questions), "{:.1f}x"),
    ]
    section.notes.append(
        "Product: `assistant.evaluation.run.run_eval` (what `assistant eval --squad FILE --run-dir DIR` "
        "runs), questions answered in batches with `Assistant.ask_many`, answer records written "
        "to disk; throughput is over its answering time. Baseline: a plain Python loop calling "
        "`similarity_search(question, k=4)` per question, nothing written."
    )
    return section
