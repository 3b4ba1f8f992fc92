"""Compare two evaluation runs: per-metric deltas, questions that changed verdict, and a CI gate.

A run is a run directory (answers.jsonl, run.json) or an answers JSONL file. Metrics are recomputed
from the answer records, so runs scored by an older version compare fairly. The gate fails when one
chosen metric gets worse by more than an allowed amount (in the metric's own units: 0.02 is two
points of hit@1, or 0.02 ms of latency). Leaves out statistical significance: with few questions,
read the changed questions rather than the deltas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.errors import InputError
from assistant.evaluation.metrics import LOWER_IS_BETTER, compute_metrics, score_record
from assistant.evaluation.runs import answers_path, read_records, read_timing

GATE_FAILED = 1  # exit code when the gated metric dropped too far (input errors exit 2)
UNSCORED = ("n", "n_answerable", "n_unanswerable", "refused", "wall_s", "index_s")
NEUTRAL = ("answer_chars_mean",)  # a longer answer is neither better nor worse


def load_run(run: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The answer records of a run and their metrics."""
    run = Path(run)
    if not run.exists():
        raise InputError(f"{run}: no such run; give a --run-dir directory or an answers file")
    records = read_records(answers_path(run))
    if not records:
        raise InputError(f"{answers_path(run)}: holds no answer records")
    return records, compute_metrics(records, timing=read_timing(run) if run.is_dir() else None)


def compare_runs(run_a: Path, run_b: Path) -> dict[str, Any]:
    """Deltas of every metric both runs have (B minus A) and the questions whose verdict changed."""
    records_a, metrics_a = load_run(run_a)
    records_b, metrics_b = load_run(run_b)
    shared = {str(r.get("id")) for r in records_a} & {str(r.get("id")) for r in records_b}
    if not shared:
        raise InputError(f"{run_a} and {run_b} share no question id, so their metrics describe "
                         "different questions; compare two runs of the same question file")
    a, b = metrics_a["overall"], metrics_b["overall"]
    deltas = {}
    for name, value_a in a.items():
        value_b = b.get(name)
        if name in UNSCORED or not _number(value_a) or not _number(value_b):
            continue
        deltas[name] = {"a": value_a, "b": value_b, "delta": value_b - value_a}
    verdict_a = {str(r.get("id")): (r, score_record(r)["correct"]) for r in records_a}
    right_to_wrong, wrong_to_right = [], []
    for record in records_b:
        qid = str(record.get("id"))
        if qid not in verdict_a:
            continue
        before, after = verdict_a[qid][1], score_record(record)["correct"]
        if before is True and after is False:
            right_to_wrong.append(_change(verdict_a[qid][0], record))
        elif before is False and after is True:
            wrong_to_right.append(_change(verdict_a[qid][0], record))
    return {
        "n": (a["n"], b["n"]),
        "shared": len(shared),
        "deltas": deltas,
        "right_to_wrong": right_to_wrong,
        "wrong_to_right": wrong_to_right,
    }


def drop(delta: dict[str, float], metric: str) -> float:
    """How much worse B is than A on a metric (negative when B is better)."""
    return delta["delta"] if metric in LOWER_IS_BETTER else -delta["delta"]


def compare_command(run_a: Path, run_b: Path, metric: str | None, max_drop: float | None) -> int:
    """Print the comparison; return GATE_FAILED when the gated metric dropped too far, else 0."""
    result = compare_runs(run_a, run_b)
    deltas = result["deltas"]
    gate = metric is not None or max_drop is not None
    metric = metric or "accuracy"
    if gate and metric not in deltas:
        raise InputError(f"metric {metric!r} has no value in both runs; choose one of: {', '.join(deltas)}")
    print(f"A: {run_a} ({result['n'][0]} questions)\nB: {run_b} ({result['n'][1]} questions)")
    if result["shared"] < max(result["n"]):
        print(f"(only {result['shared']} questions are in both; the metrics cover each run's own)")
    print()
    print(f"{'metric':<26}{'A':>11}{'B':>11}{'B - A':>11}")
    for name, d in deltas.items():
        note = ""
        if abs(d["delta"]) > 1e-12 and name not in NEUTRAL:
            note = "  worse" if drop(d, name) > 0 else "  better"
        print(f"{name:<26}{d['a']:>11.4g}{d['b']:>11.4g}{d['delta']:>+11.4g}{note}")
    for title, key in (("right -> wrong", "right_to_wrong"), ("wrong -> right", "wrong_to_right")):
        changed = result[key]
        print(f"\n{title} ({len(changed)}):")
        for c in changed[:50]:
            print(f"  {c['id']}: {c['question'][:90]}")
        if len(changed) > 50:
            print(f"  ... and {len(changed) - 50} more")
    if not gate:
        return 0
    allowed = max_drop or 0.0
    dropped = drop(deltas[metric], metric)
    if dropped > allowed + 1e-12:
        print(f"\nFAIL: {metric} got worse by {dropped:.4g} (allowed {allowed:.4g})")
        return GATE_FAILED
    print(f"\nOK: {metric} changed by {deltas[metric]['delta']:+.4g} (allowed drop {allowed:.4g})")
    return 0


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _change(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": after.get("id"),
        "question": after.get("question", ""),
        "answer_a": before.get("answer", ""),
        "answer_b": after.get("answer", ""),
    }
