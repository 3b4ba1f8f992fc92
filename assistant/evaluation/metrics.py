"""Score answer records against gold data, without an LLM judge.

Input is the answer record (`Answer.to_dict()`) with a `gold` object written by the eval runner:
`{"answers": [...], "evidence": [...], "answerable": bool | null, "tag": ..., "article": ...}`.
`score_record` scores one record, `aggregate` pools scores, `compute_metrics` adds breakdowns and
timing. Every metric is defined in `DEFINITIONS` (shown in the report). Leaves out anything that
needs a model to judge meaning: a paraphrased answer that contains no gold string counts as wrong.
"""

from __future__ import annotations

import re
import string
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

_MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
# Curly quotes and long dashes folded to what a keyboard types: "We're" matches "We’re".
_TYPOGRAPHY = str.maketrans(
    "\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u2010\u2011\u2012\u2013\u2014\u2015",
    "''''" + '""""' + "------",
)

# Metrics where a smaller number is the better one (used by `compare` to tell a drop from a gain).
LOWER_IS_BETTER = frozenset(
    {"answerable_refused_rate", "latency_p50_ms", "latency_p95_ms", "latency_mean_ms", "wall_s"}
)

DEFINITIONS = {
    "hit@k": "Share of questions with gold data whose top k retrieved passages include a relevant "
    "one. A passage is relevant when it contains a gold answer or a gold evidence string (or lies "
    "inside a gold evidence passage), ignoring case, runs of whitespace and curly vs straight "
    "quotes and dashes.",
    "mrr": "Mean reciprocal rank of the first relevant retrieved passage (0 when none is).",
    "citation_precision": "Of all distinct passages cited in answers to questions with gold "
    "data, the share that are relevant (pooled over questions).",
    "citation_recall": "Of all gold targets, the share covered by a cited passage (pooled). "
    "Each gold evidence string is one target; a question with gold answers but no evidence has "
    "one target, covered when a cited passage contains any gold answer. Refused answers cover "
    "nothing.",
    "em": "SQuAD v2 exact match over questions of known answerability: the answer text ([n] "
    "markers removed; empty when refused) equals a gold answer after the official normalization "
    "(lowercase, no punctuation, no a/an/the, single spaces); max over gold answers. An "
    "unanswerable question scores 1 when refused.",
    "f1": "SQuAD v2 token F1 with the same normalization and conventions as em.",
    "has_ans_em": "em over answerable questions with gold answers only.",
    "has_ans_f1": "f1 over answerable questions with gold answers only.",
    "contains": "Share of answerable questions with gold answers whose (not refused) answer text "
    "contains a gold answer, ignoring case and runs of whitespace.",
    "refusal_precision": "Of the refused questions of known answerability, the share that are "
    "unanswerable (refusing = predicting 'unanswerable').",
    "refusal_recall": "Of the unanswerable questions, the share that were refused.",
    "answerable_refused_rate": "Of the answerable questions, the share that were refused.",
    "answer_chars_mean": "Mean length in characters of the answers given (not refused), markers removed.",
    "latency_p50_ms": "Median of the records' latency_ms. In batched extractive runs a "
    "question's latency_ms is its batch's time divided by the batch size.",
    "latency_p95_ms": "95th percentile of latency_ms (linear interpolation).",
    "throughput_qps": "Questions answered per second of answering wall time, summed over resumed "
    "sessions; index building and loading are excluded and reported as index_s.",
    "accuracy": "Share of questions with a verdict that are right: an unanswerable one refused, "
    "an answerable one answered and containing a gold answer (or, with evidence only, citing all "
    "of it).",
}


def strip_markers(text: str) -> str:
    """The answer text without its [n] citation markers."""
    return _MARKERS.sub("", text or "").strip()


def normalize_answer(text: str) -> str:
    """The official SQuAD v2 normalization: lowercase, drop punctuation and articles, fix spaces."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalized prediction equals any normalized gold (gold [''] = no answer)."""
    return max(float(normalize_answer(prediction) == normalize_answer(g)) for g in golds)


def f1_score(prediction: str, golds: Sequence[str]) -> float:
    """SQuAD token F1, max over golds; an empty side scores 1 only if both are empty."""
    return max(_f1(normalize_answer(prediction).split(), normalize_answer(g).split()) for g in golds)


def _f1(pred: list[str], gold: list[str]) -> float:
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def fold(text: str) -> str:
    """The form compared for containment: case, runs of whitespace and quote/dash style ignored."""
    return " ".join((text or "").translate(_TYPOGRAPHY).casefold().split())


def _relevant(passage: str, answers: Sequence[str], evidence: Sequence[str]) -> bool:
    p = fold(passage)
    if not p:
        return False
    return any(a in p for a in answers) or any(e in p or p in e for e in evidence)


def score_record(record: dict[str, Any]) -> dict[str, Any]:
    """Per-question scores of one answer record (None where the gold data does not allow one)."""
    gold = record.get("gold") or {}
    answers = [a for a in gold.get("answers") or [] if fold(a)]
    evidence = [fold(e) for e in gold.get("evidence") or [] if fold(e)]
    answerable = gold.get("answerable")
    if answerable is None and (answers or evidence):
        answerable = True
    refused = bool(record.get("refused"))
    text = "" if refused else strip_markers(record.get("answer", ""))
    folded_answers = [fold(a) for a in answers]
    has_targets = bool(answerable and (answers or evidence))

    hit_rank = None
    if has_targets:
        hit_rank = 0  # 0 = no relevant passage retrieved
        for rank, p in enumerate(record.get("retrieved") or [], start=1):
            if _relevant(p.get("text", ""), folded_answers, evidence):
                hit_rank = rank
                break

    cited = {c.get("chunk_id"): fold(c.get("text", "")) for c in record.get("citations") or []}
    cited_texts = [] if refused else list(cited.values())
    cited_relevant = targets = covered = None
    if has_targets:
        cited_relevant = sum(_relevant(t, folded_answers, evidence) for t in cited_texts)
        if evidence:
            targets = len(evidence)
            covered = sum(any(t and (e in t or t in e) for t in cited_texts) for e in evidence)
        else:
            targets = 1
            covered = int(any(a in t for t in cited_texts for a in folded_answers))

    em = f1 = contains = None
    if answerable is False:
        em, f1 = exact_match(text, [""]), f1_score(text, [""])
    elif answers:
        em, f1 = exact_match(text, answers), f1_score(text, answers)
        contains = bool(text) and any(a in fold(text) for a in folded_answers)

    if answerable is False:
        correct = refused
    elif answerable:
        if answers:
            correct = bool(contains)
        elif evidence:
            correct = not refused and covered == targets
        else:
            correct = not refused
    else:
        correct = None

    return {
        "id": record.get("id"),
        "group": gold.get("article") or gold.get("tag"),
        "answerable": answerable,
        "refused": refused,
        "hit_rank": hit_rank,
        "cited": len(cited_texts) if has_targets else None,
        "cited_relevant": cited_relevant,
        "targets": targets,
        "targets_cited": covered,
        "em": em,
        "f1": f1,
        "contains": contains,
        "answer_chars": None if refused else len(text),
        "latency_ms": record.get("latency_ms"),
        "correct": correct,
    }


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def aggregate(scores: Sequence[dict[str, Any]], k_max: int) -> dict[str, Any]:
    """Pool per-question scores into the run's metrics (None when a metric has no data)."""
    out: dict[str, Any] = {
        "n": len(scores),
        "n_answerable": sum(s["answerable"] is True for s in scores),
        "n_unanswerable": sum(s["answerable"] is False for s in scores),
    }
    ranks = [s["hit_rank"] for s in scores if s["hit_rank"] is not None]
    for k in range(1, k_max + 1):
        out[f"hit@{k}"] = _mean(float(0 < r <= k) for r in ranks)
    out["mrr"] = _mean(1 / r if r else 0.0 for r in ranks)
    with_gold = [s for s in scores if s["targets"] is not None]
    out["citation_precision"] = _ratio(
        sum(s["cited_relevant"] for s in with_gold), sum(s["cited"] for s in with_gold)
    )
    out["citation_recall"] = _ratio(
        sum(s["targets_cited"] for s in with_gold), sum(s["targets"] for s in with_gold)
    )
    out["em"] = _mean(s["em"] for s in scores)
    out["f1"] = _mean(s["f1"] for s in scores)
    has_ans = [s for s in scores if s["answerable"] and s["contains"] is not None]
    out["has_ans_em"] = _mean(s["em"] for s in has_ans)
    out["has_ans_f1"] = _mean(s["f1"] for s in has_ans)
    out["contains"] = _mean(float(s["contains"]) for s in has_ans)

    known = [s for s in scores if s["answerable"] is not None]
    tp = sum(s["refused"] and s["answerable"] is False for s in known)
    fp = sum(s["refused"] and s["answerable"] is True for s in known)
    fn = sum(not s["refused"] and s["answerable"] is False for s in known)
    tn = sum(not s["refused"] and s["answerable"] is True for s in known)
    out["refusal_precision"] = _ratio(tp, tp + fp)
    out["refusal_recall"] = _ratio(tp, tp + fn)
    out["answerable_refused_rate"] = _ratio(fp, fp + tn)
    out["refusal_confusion"] = {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    out["refused"] = sum(s["refused"] for s in scores)

    out["accuracy"] = _mean(float(s["correct"]) for s in scores if s["correct"] is not None)
    out["answer_chars_mean"] = _mean(s["answer_chars"] for s in scores)
    latencies = [float(s["latency_ms"]) for s in scores if s["latency_ms"] is not None]
    out["latency_mean_ms"] = _mean(latencies)
    out["latency_p50_ms"] = percentile(latencies, 50)
    out["latency_p95_ms"] = percentile(latencies, 95)
    return out


def compute_metrics(
    records: Sequence[dict[str, Any]], timing: dict[str, float] | None = None
) -> dict[str, Any]:
    """Overall metrics, breakdowns by article or tag, and timing for a whole run."""
    scores = [score_record(r) for r in records]
    k_max = max((len(r.get("retrieved") or []) for r in records), default=0)
    overall = aggregate(scores, k_max)
    if timing:
        answered, seconds = timing.get("answered", 0), timing.get("answer_s", 0.0)
        overall["throughput_qps"] = answered / seconds if seconds else None
        overall["wall_s"] = timing.get("wall_s")
        overall["index_s"] = timing.get("index_s")
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in scores:
        if s["group"] is not None:
            groups[str(s["group"])].append(s)
    kind = "article" if any((r.get("gold") or {}).get("article") for r in records) else "tag"
    return {
        "k": k_max,
        "overall": overall,
        "breakdown_by": kind if groups else None,
        "breakdown": {name: aggregate(group, k_max) for name, group in groups.items()},
        "definitions": DEFINITIONS,
    }


def worst(records: Sequence[dict[str, Any]], n: int = 10) -> list[tuple[dict, dict]]:
    """The n worst questions: wrong verdicts first, then low F1, then a late or missing hit."""
    pairs = [(r, score_record(r)) for r in records]

    def badness(pair: tuple[dict, dict]) -> tuple:
        s = pair[1]
        rank = s["hit_rank"]
        return (
            s["correct"] is not False,
            s["f1"] if s["f1"] is not None else 1.0,
            -(rank if rank else 99) if rank is not None else 0,
        )

    return sorted((p for p in pairs if p[1]["correct"] is not None), key=badness)[:n]
