"""Metrics against numbers worked out by hand for tests/fixtures/records.jsonl (5 answer records).

The fixture, question by question (k = 2 passages retrieved at most):
  r1 answerable, gold "Marie-Claude": hit at rank 1, cites the relevant passage, contains gold.
  r2 answerable, gold "thirty-one"/"31" + evidence: hit at rank 2, cites a wrong passage, wrong.
  r3 unanswerable and refused.
  r4 unanswerable but answered "Paris is nice".
  r5 answerable ("trash") but refused; the passage at rank 1 holds the answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.evaluation.metrics import (
    compute_metrics,
    exact_match,
    f1_score,
    normalize_answer,
    percentile,
    score_record,
    strip_markers,
    worst,
)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def records() -> list[dict]:
    lines = (FIXTURES / "records.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_squad_normalization_and_markers():
    assert normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert normalize_answer("An apple a day") == "apple day"
    assert strip_markers("Kathy is a carer [1]. She is 31 [2][3]. See [1, 2].") == (
        "Kathy is a carer. She is 31. See."
    )


def test_exact_match_and_f1_take_the_best_gold():
    # pred tokens [cat, sat]; gold [cat, sat, on, mat]: P = 1, R = 1/2, F1 = 2/3
    assert f1_score("the cat sat", ["a cat sat on the mat"]) == pytest.approx(2 / 3)
    assert f1_score("the cat sat", ["dog", "cat sat"]) == 1.0
    assert exact_match("The Cat sat.", ["cat sat"]) == 1.0
    assert exact_match("cat", ["cat sat"]) == 0.0
    # SQuAD v2: the empty prediction is right only for a question with no answer
    assert exact_match("", [""]) == 1.0 and f1_score("", [""]) == 1.0
    assert f1_score("something", [""]) == 0.0


def test_percentile_interpolates_linearly():
    assert percentile([40, 10, 30, 20], 50) == 25.0
    assert percentile([10, 20, 30, 40, 100], 95) == pytest.approx(88.0)  # 40 + 0.8 * 60
    assert percentile([], 50) is None


def test_per_question_scores(records):
    r1, r2, r3, r4, r5 = (score_record(r) for r in records)
    assert (r1["hit_rank"], r1["cited"], r1["cited_relevant"], r1["targets_cited"]) == (1, 1, 1, 1)
    # "it is madame marieclaude" vs "marieclaude": P = 1/4, R = 1, F1 = 0.4
    assert r1["em"] == 0.0 and r1["f1"] == pytest.approx(0.4)
    assert r1["contains"] is True and r1["correct"] is True
    assert r1["answer_chars"] == len("It is Madame Marie-Claude.")
    assert (r2["hit_rank"], r2["cited_relevant"], r2["targets"], r2["targets_cited"]) == (
        2,
        0,
        1,
        0,
    )
    assert r2["contains"] is False and r2["correct"] is False
    assert r3["em"] == 1.0 and r3["f1"] == 1.0 and r3["correct"] is True
    assert r3["hit_rank"] is None and r3["answer_chars"] is None
    assert r4["em"] == 0.0 and r4["correct"] is False and r4["cited"] is None
    assert r5["hit_rank"] == 1 and r5["cited"] == 0 and r5["targets_cited"] == 0
    assert r5["f1"] == 0.0 and r5["contains"] is False and r5["correct"] is False


def test_run_metrics_match_hand_computed_values(records):
    m = compute_metrics(records, timing={"answered": 5, "answer_s": 0.5, "wall_s": 2.0})
    o = m["overall"]
    assert m["k"] == 2
    assert (o["n"], o["n_answerable"], o["n_unanswerable"]) == (5, 3, 2)
    assert o["hit@1"] == pytest.approx(2 / 3)  # ranks 1, 2, 1
    assert o["hit@2"] == 1.0
    assert o["mrr"] == pytest.approx((1 + 1 / 2 + 1) / 3)
    assert o["citation_precision"] == pytest.approx(1 / 2)  # r1 right, r2 wrong; r5 cites none
    assert o["citation_recall"] == pytest.approx(1 / 3)  # one target each for r1, r2, r5
    assert o["em"] == pytest.approx(1 / 5)  # only r3 (refused, unanswerable)
    assert o["f1"] == pytest.approx((0.4 + 1.0) / 5)
    assert o["has_ans_em"] == 0.0
    assert o["has_ans_f1"] == pytest.approx(0.4 / 3)
    assert o["contains"] == pytest.approx(1 / 3)
    assert o["refusal_confusion"] == {"tp": 1, "fp": 1, "fn": 1, "tn": 2}
    assert o["refusal_precision"] == 0.5 and o["refusal_recall"] == 0.5
    assert o["answerable_refused_rate"] == pytest.approx(1 / 3)
    assert o["accuracy"] == pytest.approx(2 / 5)
    assert o["answer_chars_mean"] == pytest.approx((26 + 18 + 14) / 3)
    assert o["latency_p50_ms"] == 30.0 and o["latency_p95_ms"] == pytest.approx(88.0)
    assert o["throughput_qps"] == pytest.approx(10.0)


def test_breakdown_by_tag(records):
    m = compute_metrics(records)
    assert m["breakdown_by"] == "tag"
    a, b = m["breakdown"]["a"], m["breakdown"]["b"]
    assert a["n"] == 3 and a["hit@1"] == pytest.approx(2 / 3) and a["contains"] == pytest.approx(1 / 3)
    assert b["n"] == 2 and b["refusal_recall"] == 0.5 and b["hit@1"] is None
    assert m["overall"].get("throughput_qps") is None  # no timing, no throughput


def test_evidence_matching_ignores_case_spacing_and_typography():
    record = {
        "id": "e",
        "refused": False,
        "answer": "They are modeled from trash [1].",
        "citations": [{"chunk_id": "c", "text": "Ruth: “We’re  MODELED from trash.”"}],
        "retrieved": [
            {"chunk_id": "d", "text": "Hailsham"},
            # a short passage lying inside a longer gold evidence passage counts as a hit
            {"chunk_id": "c", "text": "junkies, prostitutes"},
        ],
        "gold": {"evidence": ["we're modeled from trash", "Junkies, prostitutes, winos, tramps."]},
    }
    s = score_record(record)
    assert s["answerable"] is True and s["hit_rank"] == 2
    assert (s["targets"], s["targets_cited"]) == (2, 1)
    assert s["correct"] is False  # evidence only: right means citing all of it


def test_record_without_gold_has_no_verdict():
    s = score_record({"id": "x", "answer": "Hi [1].", "refused": False, "retrieved": []})
    assert s["answerable"] is None and s["correct"] is None and s["em"] is None


def test_worst_puts_wrong_answers_first(records):
    ids = [r["id"] for r, _ in worst(records, 5)]
    assert set(ids[:3]) == {"r2", "r4", "r5"} and set(ids[3:]) == {"r1", "r3"}
    # among the wrong ones: F1 0 for all three; r2's hit at rank 2 is worse than r5's at rank 1
    assert ids.index("r2") < ids.index("r5")
