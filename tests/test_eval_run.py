"""Batch evaluation end to end: real model, real index under tmp_path (conftest), real files on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assistant import Answer, ConfigError, InputError, Settings
from assistant.cli import main
from assistant.evaluation.metrics import compute_metrics
from assistant.evaluation.questions import EvalQuestion
from assistant.evaluation.run import EvalOptions, answer_records, run_eval
from assistant.evaluation.runs import read_timing

FIXTURES = Path(__file__).parent / "fixtures"
ESSAY_QUESTIONS = FIXTURES / "essay-questions.jsonl"
SQUAD = FIXTURES / "squad-mini.json"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def quiet(**changes) -> EvalOptions:
    return EvalOptions(progress=False, **changes)


def test_run_dir_answers_scores_and_reports(essay_index_dir, tmp_path):
    run = tmp_path / "run"
    summary = run_eval(Settings(), quiet(questions=ESSAY_QUESTIONS, index_dir=essay_index_dir, run_dir=run))
    records = lines(run / "answers.jsonl")
    assert [r["id"] for r in records] == ["q1", "q2", "q3", "q4", "q5", "q6"]
    assert all(len(r["retrieved"]) == 5 and r["mode"] == "extractive" for r in records)
    assert records[0]["gold"] == {
        "answers": ["Madame Marie-Claude", "Madame"],
        "evidence": ["asks Madame Marie-Claude mid-crisis-of-conscience"],
        "answerable": True,
        "tag": "characters",
    }
    by_id = {r["id"]: r for r in records}
    assert "Marie-Claude" in by_id["q1"]["answer"] and by_id["q1"]["citations"]
    assert by_id["q6"]["refused"] and not by_id["q6"]["citations"]  # capital of Australia

    saved = json.loads((run / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(compute_metrics(records, read_timing(run))))
    assert saved["overall"]["n"] == 6 and saved["breakdown_by"] == "tag"
    assert set(saved["breakdown"]) == {"characters", "evidence", "off-topic"}
    assert summary["metrics"]["overall"]["throughput_qps"] > 0

    report = (run / "report.html").read_text()
    for png in ("hit-at-k.png", "latency.png", "refusals.png", "breakdown.png"):
        assert f"src='{png}'" in report
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Madame Marie-Claude" in report and "citation_recall" in report
    state = json.loads((run / "run.json").read_text())
    assert state["config"]["k"] == 5 and state["sessions"][0]["answered"] == 6


def test_cli_out_form_skips_malformed_lines_with_their_numbers(essay_index_dir, tmp_path, capsys):
    questions = tmp_path / "questions.jsonl"
    rows = [
        json.dumps({"id": "a", "question": "Who is Kathy H.?"}),
        '{"id": "b", "question": "unterminated',
        json.dumps({"id": "c", "question": "What is Hailsham?", "answers": "school"}),
        json.dumps({"id": "d", "question": "w" * 3000}),
        json.dumps({"id": "e", "question": "Who says Poor creatures?"}),
    ]
    questions.write_text("\n".join(rows) + "\n")
    out = tmp_path / "results.jsonl"
    argv = ["eval", str(questions), "--index", str(essay_index_dir), "--out", str(out), "-k", "3"]
    assert main([*argv, "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"{questions}:2: not valid JSON" in err
    assert f"{questions}:4: the question is 3,000 characters long" in err
    records = lines(out)
    assert [r["id"] for r in records] == ["a", "c", "e"]
    assert [len(r["retrieved"]) for r in records] == [3, 3, 3]
    assert "gold" not in records[0] and records[1]["gold"] == {
        "answers": ["school"],
        "answerable": True,
    }

    # a run killed while writing: two whole lines and half of the third are on disk
    text = out.read_text()
    cut = len("\n".join(text.splitlines()[:2])) + 1 + 40
    out.write_text(text[:cut])
    assert main([*argv, "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "dropping a truncated last line" in err and "resuming: 2 of 3" in err
    assert [r["id"] for r in lines(out)] == ["a", "c", "e"]


def test_ctrl_c_leaves_a_valid_partial_run_that_resumes(essay_index_dir, tmp_path):
    questions = tmp_path / "many.jsonl"
    base = [json.loads(line) for line in ESSAY_QUESTIONS.read_text().splitlines()]
    many = [{**base[i % len(base)], "id": f"c{i:04d}"} for i in range(300)]
    questions.write_text("".join(json.dumps(q) + "\n" for q in many))
    run = tmp_path / "run"
    answers = run / "answers.jsonl"
    command = [
        sys.executable,
        "-m",
        "assistant",
        "eval",
        str(questions),
        "--index",
        str(essay_index_dir),
    ]
    command += ["--run-dir", str(run), "--batch-size", "1", "--no-progress"]
    # Ctrl-C as in a terminal: a runner started in the background (`cmd &` in a script) leaves
    # SIGINT ignored, and an ignored signal stays ignored in every process it starts.
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ},
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240  # model loading on a busy machine
    while not (answers.exists() and answers.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "answers so far are saved. Resume with:" in err
    partial = lines(answers)  # every line is whole JSON
    assert 0 < len(partial) < len(many)
    assert [r["id"] for r in partial] == [q["id"] for q in many[: len(partial)]]

    run_eval(Settings(), quiet(questions=questions, index_dir=essay_index_dir, run_dir=run))
    assert [r["id"] for r in lines(answers)] == [q["id"] for q in many]
    sessions = json.loads((run / "run.json").read_text())["sessions"]
    assert [s["interrupted"] for s in sessions] == [True, False]
    assert sum(s["answered"] for s in sessions) == len(many)


def test_resume_refuses_other_settings_unless_restarted(essay_index_dir, tmp_path):
    run = tmp_path / "run"
    options = quiet(questions=ESSAY_QUESTIONS, index_dir=essay_index_dir, run_dir=run, k=2)
    run_eval(Settings(), options)
    with pytest.raises(InputError, match="k 2 -> 3.*--restart"):
        run_eval(Settings(), quiet(questions=ESSAY_QUESTIONS, index_dir=essay_index_dir, run_dir=run, k=3))
    again = run_eval(Settings(), options)
    assert again["answered"] == 0  # nothing left to do
    run_eval(
        Settings(),
        quiet(questions=ESSAY_QUESTIONS, index_dir=essay_index_dir, run_dir=run, k=3, restart=True),
    )
    assert {len(r["retrieved"]) for r in lines(run / "answers.jsonl")} == {3}


def test_resume_refuses_an_index_rebuilt_from_other_documents(tmp_path, embedder):
    from assistant.assistant import build_documents

    notes = tmp_path / "notes.txt"
    notes.write_text("Lungs take in air. The heart pumps blood.", encoding="utf-8")
    index = tmp_path / "index"
    build_documents([notes], index, Settings(), embedder)
    options = quiet(questions=ESSAY_QUESTIONS, index_dir=index, run_dir=tmp_path / "run")
    run_eval(Settings(), options)
    notes.write_text("Volcanoes erupt. Lava cools into rock.", encoding="utf-8")
    build_documents([notes], index, Settings(), embedder)
    with pytest.raises(InputError, match="index_sources changed.*--restart"):
        run_eval(Settings(), options)


def test_an_unreadable_run_json_is_a_one_line_error(essay_index_dir, tmp_path, capsys):
    run = tmp_path / "run"
    run_eval(Settings(), quiet(questions=ESSAY_QUESTIONS, index_dir=essay_index_dir, run_dir=run))
    (run / "run.json").write_text("{bad", encoding="utf-8")
    argv = ["eval", str(ESSAY_QUESTIONS), "--index", str(essay_index_dir), "--run-dir", str(run),
            "--no-progress"]
    for args in (["eval", "report", str(run)], argv):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "run.json is unreadable" in err and "Traceback" not in err
    assert main([*argv, "--restart"]) == 0  # starts it afresh


def test_files_that_are_not_answers_logs_are_never_rewritten(essay_index_dir, tmp_path, capsys):
    questions = tmp_path / "q.jsonl"
    # a raw U+2028 inside a JSON string is valid JSON, and still one line
    questions.write_text('{"id": "a", "question": "Who says\u2028\u201cPoor creatures\u201d?"}\n'
                         '{"id": "b", "question": "What does Ruth fear?"}\n', encoding="utf-8")
    base = ["eval", str(questions), "--index", str(essay_index_dir), "--no-progress"]
    assert main([*base, "--out", str(questions)]) == 2
    assert "is the question file itself" in capsys.readouterr().err
    other = tmp_path / "notes.jsonl"  # someone's file, not written by eval
    other.write_text('{"id": "a", "question": "What is the thesis?"}\n42\n', encoding="utf-8")
    kept = other.read_bytes()
    assert main([*base, "--out", str(other)]) == 2
    err = capsys.readouterr().err
    assert "notes.jsonl:1: not an answer record" in err and "Traceback" not in err
    assert other.read_bytes() == kept
    out = tmp_path / "answers.jsonl"
    assert main([*base, "--out", str(out)]) == 0
    records = lines(out)
    assert [r["id"] for r in records] == ["a", "b"] and "Marie-Claude" in records[0]["answer"]


def test_squad_each_article_in_its_own_index_or_all_in_one(tmp_path):
    run = tmp_path / "per-article"
    run_eval(Settings(), quiet(squad=SQUAD, run_dir=run))
    records = lines(run / "answers.jsonl")
    assert [r["id"] for r in records] == ["n1", "n2", "n3", "n4", "p1", "p2"]
    assert records[0]["gold"] == {
        "answers": ["France"],
        "answerable": True,
        "article": "Tiny Normans",
    }
    assert records[2]["gold"]["answerable"] is False
    assert {r["source"] for r in records[0]["retrieved"]} == {"Tiny Normans"}
    assert (run / "indexes" / "Tiny_Normans" / "manifest.json").is_file()
    assert (run / "indexes" / "Tiny_Packets" / "manifest.json").is_file()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["breakdown_by"] == "article"
    assert set(metrics["breakdown"]) == {"Tiny Normans", "Tiny Packets"}

    # resuming reuses the cached article index instead of building it again
    manifest = run / "indexes" / "Tiny_Packets" / "manifest.json"
    built = manifest.stat().st_mtime_ns
    answers = (run / "answers.jsonl").read_text().splitlines(keepends=True)
    (run / "answers.jsonl").write_text("".join(answers[:4]))
    assert run_eval(Settings(), quiet(squad=SQUAD, run_dir=run))["answered"] == 2
    assert [r["id"] for r in lines(run / "answers.jsonl")] == ["n1", "n2", "n3", "n4", "p1", "p2"]
    assert manifest.stat().st_mtime_ns == built

    single = tmp_path / "single"
    run_eval(Settings(), quiet(squad=SQUAD, run_dir=single, single_index=True, k=3))
    records = lines(single / "answers.jsonl")
    assert [r["id"] for r in records] == ["n1", "n2", "n3", "n4", "p1", "p2"]
    assert (single / "indexes" / "all-articles" / "manifest.json").is_file()
    sources = {p["source"] for r in records for p in r["retrieved"]}
    assert sources == {"Tiny Normans", "Tiny Packets"}


class SlowAssistant:
    """The facade's `ask`, slower for some questions so that later ones finish first."""

    def __init__(self) -> None:
        self.active = self.peak = 0
        self.lock = threading.Lock()

    def ask(self, question, *, k=None, mode=None, history=(), id=None) -> Answer:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.12 if int(id) % 3 == 0 else 0.03)
        with self.lock:
            self.active -= 1
        return Answer(question=question, answer=f"{question} [1]", refused=False, mode=mode, id=id)


def test_concurrent_generative_answers_keep_input_order():
    questions = [EvalQuestion(id=str(i), question=f"question {i}") for i in range(12)]
    assistant = SlowAssistant()
    batches = list(answer_records(assistant, questions, k=3, mode="generative", concurrency=4))
    assert [r["id"] for batch in batches for r in batch] == [q.id for q in questions]
    assert all(len(batch) == 1 for batch in batches)  # each answer is saved as soon as it is next
    assert assistant.peak == 4


def test_bad_requests_fail_before_any_work(tmp_path):
    with pytest.raises(InputError, match="either a question file or --squad"):
        run_eval(Settings(), quiet(run_dir=tmp_path))
    with pytest.raises(InputError, match="--out FILE .* or --run-dir"):
        run_eval(Settings(), quiet(questions=ESSAY_QUESTIONS))
    with pytest.raises(ConfigError, match="--concurrency above 1 needs --mode generative"):
        run_eval(Settings(), quiet(questions=ESSAY_QUESTIONS, out=tmp_path / "o", concurrency=4))
    with pytest.raises(InputError, match="no such file"):
        run_eval(Settings(), quiet(questions=tmp_path / "missing.jsonl", out=tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err
