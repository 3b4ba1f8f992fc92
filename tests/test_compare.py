"""Comparing two runs: deltas worked out by hand, changed questions, and the CI gate's exit code.

Run A is tests/fixtures/records.jsonl. Run B changes three questions and doubles every latency:
  r1 now retrieves the right passage second and answers wrongly      (right -> wrong)
  r4 (unanswerable) is now refused                                    (wrong -> right)
  r5 is now answered with the gold answer                             (wrong -> right)
So hit@1 falls from 2/3 to 1/3 (ranks 1,2,1 -> 2,2,1), accuracy rises from 2/5 to 3/5, and
latency p50 rises from 30 to 60 ms.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.evaluation.compare import compare_runs

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def runs(tmp_path) -> tuple[Path, Path]:
    records = [json.loads(line) for line in (FIXTURES / "records.jsonl").read_text().splitlines()]
    run_a = tmp_path / "a"
    run_a.mkdir()
    (run_a / "answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    r1, r2, r3, r4, r5 = (json.loads(json.dumps(r)) for r in records)
    r1["retrieved"].reverse()
    r1["answer"], r1["citations"] = "Nobody [1].", [{"chunk_id": "p2", "text": "The novel"}]
    r4.update(refused=True, answer="The essay does not say.", citations=[])
    z = r5["retrieved"][0]
    r5.update(refused=False, answer="They are modeled from trash [1].", citations=[z])
    b = [r1, r2, r3, r4, r5]
    for r in b:
        r["latency_ms"] *= 2
    answers_b = tmp_path / "b.jsonl"  # a bare answers file is a run too
    answers_b.write_text("".join(json.dumps(r) + "\n" for r in b))
    return run_a, answers_b


def test_deltas_and_changed_questions(runs):
    result = compare_runs(*runs)
    d = result["deltas"]
    assert d["hit@1"]["a"] == pytest.approx(2 / 3) and d["hit@1"]["b"] == pytest.approx(1 / 3)
    assert d["hit@1"]["delta"] == pytest.approx(-1 / 3)
    assert d["accuracy"]["delta"] == pytest.approx(3 / 5 - 2 / 5)
    assert d["latency_p50_ms"]["delta"] == pytest.approx(30.0)
    assert d["mrr"]["delta"] == pytest.approx((1 / 2 + 1 / 2 + 1) / 3 - (1 + 1 / 2 + 1) / 3)
    assert "n" not in d and "refusal_confusion" not in d
    assert [c["id"] for c in result["right_to_wrong"]] == ["r1"]
    assert [c["id"] for c in result["wrong_to_right"]] == ["r4", "r5"]


@pytest.mark.parametrize(
    ("gate", "code"),
    [
        (["--metric", "hit@1", "--max-drop", "0.2"], 1),  # dropped by 1/3
        (["--metric", "hit@1", "--max-drop", "0.34"], 0),
        (["--metric", "accuracy"], 0),  # improved
        (["--metric", "latency_p50_ms", "--max-drop", "10"], 1),  # 30 ms slower is worse
        ([], 0),  # no gate asked for: report only
    ],
)
def test_gate_exit_code(runs, gate, code, capsys):
    assert main(["eval", "compare", str(runs[0]), str(runs[1]), *gate]) == code
    out = capsys.readouterr().out
    assert "right -> wrong (1):\n  r1:" in out and "wrong -> right (2):" in out
    if code:
        assert "FAIL:" in out


def test_unknown_metric_or_run_is_a_one_line_error(runs, tmp_path, capsys):
    assert main(["eval", "compare", str(runs[0]), str(runs[1]), "--metric", "bleu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metric 'bleu'" in err and "hit@1" in err
    assert main(["eval", "compare", str(runs[0]), str(tmp_path / "nowhere")]) == 2
    assert "no such run" in capsys.readouterr().err
    assert main(["eval", "compare", str(runs[0])]) == 2


def test_runs_of_different_questions_are_not_compared(runs, tmp_path, capsys):
    records = [json.loads(line) for line in (FIXTURES / "records.jsonl").read_text().splitlines()]
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps({**r, "id": f"x-{r['id']}"}) + "\n" for r in records))
    assert main(["eval", "compare", str(runs[0]), str(other)]) == 2
    assert "share no question id" in capsys.readouterr().err
    some = tmp_path / "some.jsonl"
    some.write_text("".join(json.dumps(r) + "\n" for r in records[:2]))
    assert main(["eval", "compare", str(runs[0]), str(some)]) == 0
    assert "only 2 questions are in both" in capsys.readouterr().out
