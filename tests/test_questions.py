"""Question readers: JSONL, CSV and SQuAD v2; malformed lines reported by number and skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant import InputError
from assistant.evaluation.questions import EvalQuestion, read_questions, read_squad

FIXTURES = Path(__file__).parent / "fixtures"


def read(path: Path) -> tuple[list[EvalQuestion], list[str]]:
    warnings: list[str] = []
    return read_questions(path, warnings.append), warnings


def test_jsonl_keeps_good_lines_and_names_bad_ones(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(
        "\n".join(
            [
                '{"id": "q1", "question": " Who is Kathy? ", "answers": "Kathy H."}',
                '{"id": "q2", "question": ',
                '{"id": "q3"}',
                "",
                '{"id": "q1", "question": "Again?"}',
                '["not", "an", "object"]',
                '{"id": "q7", "question": "Grade?", "answerable": "maybe"}',
                '{"id": 8, "question": "Pages?", "answers": ["254", "166"], "evidence": "(Ishiguro'
                ' 254)", "tag": "citations"}',
                '{"id": "q9", "question": "Ending?", "answerable": false, "answers": ["x"]}',
                '{"id": "q10", "question": "Hm?", "answers": [1, 2]}',
            ]
        )
        + "\n"
    )
    questions, warnings = read(path)
    assert [q.id for q in questions] == ["q1", "8"]
    assert questions[0] == EvalQuestion(
        id="q1", question="Who is Kathy?", answers=("Kathy H.",), answerable=True, line=1
    )
    assert questions[1].evidence == ("(Ishiguro 254)",) and questions[1].tag == "citations"
    assert [w.split(": ")[0] for w in warnings] == [f"{path}:{n}" for n in (2, 3, 5, 6, 7, 9, 10)]
    assert "not valid JSON" in warnings[0]
    assert 'missing "question"' in warnings[1]
    assert "duplicate id 'q1' (first on line 1)" in warnings[2]
    assert "not a JSON object" in warnings[3]
    assert '"answerable" must be true or false' in warnings[4]
    assert all(w.endswith("; skipped") and "\n" not in w for w in warnings)


def test_csv_with_list_cells_and_yes_no(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text(
        "id,question,answers,evidence,answerable,tag\n"
        'a,Who says it?,"[""Madame"", ""Marie-Claude""]",,,people\n'
        "b,What grade?,,,no,off-topic\n"
        "c,Bad flag?,,,perhaps,\n"
        "d,Evidence only?,,We're modeled from trash,,\n"
        'e,Broken list?,"[""x""",,,\n'
    )
    questions, warnings = read(path)
    assert [q.id for q in questions] == ["a", "b", "d"]
    assert questions[0].answers == ("Madame", "Marie-Claude") and questions[0].tag == "people"
    assert questions[1].answerable is False and questions[1].answers == ()
    assert questions[2].evidence == ("We're modeled from trash",) and questions[2].answerable
    assert [w.split(": ")[0] for w in warnings] == [f"{path}:4", f"{path}:6"]


def test_unusable_files_raise_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("  \n")
    with pytest.raises(InputError, match="empty"):
        read(tmp_path / "empty.jsonl")
    (tmp_path / "latin1.jsonl").write_bytes('{"id": "1", "question": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(InputError, match="not valid UTF-8"):
        read(tmp_path / "latin1.jsonl")
    (tmp_path / "bad.jsonl").write_text("nope\n{}\n")
    with pytest.raises(InputError, match="no usable questions"):
        read(tmp_path / "bad.jsonl")
    (tmp_path / "bad.csv").write_text("question,answer\nWho?,me\n")
    with pytest.raises(InputError, match="columns id and question"):
        read(tmp_path / "bad.csv")


def test_squad_articles_and_gold():
    articles = read_squad(FIXTURES / "squad-mini.json")
    assert [a.title for a in articles] == ["Tiny Normans", "Tiny Packets"]
    assert len(articles[0].paragraphs) == 2
    n1, n2, n3, n4 = articles[0].questions
    assert n1.answers == ("France",)  # the four annotators' copies collapse to one
    assert n2.answers == ("Denmark, Iceland and Norway",) and n2.article == "Tiny Normans"
    assert n3.answerable is False and n3.answers == ()
    assert [q.id for q in articles[1].questions] == ["p1", "p2"]


def test_a_squad_question_whose_id_came_before_is_reported_and_skipped(tmp_path):
    data = json.loads((FIXTURES / "squad-mini.json").read_text(encoding="utf-8"))
    data["data"][1]["paragraphs"][0]["qas"][0]["id"] = data["data"][0]["paragraphs"][0]["qas"][0]["id"]
    path = tmp_path / "dup.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    warned = []
    articles = read_squad(path, warned.append)
    assert [q.id for q in articles[1].questions] == ["p2"]
    assert len(warned) == 1 and "duplicate id" in warned[0] and "'Tiny Normans'" in warned[0]


def test_squad_that_is_not_squad(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"data": [{"title": "T"}]}')
    with pytest.raises(InputError, match="not SQuAD v2 JSON"):
        read_squad(path)


BENCH_DATA = Path(__file__).parent.parent / "bench" / "data"


@pytest.mark.parametrize(
    ("questions_file", "essay_file", "total", "answerable_count"),
    [("essay-questions.jsonl", None, 39, 29),  # None: the shipped essay
     ("frankenstein-questions.jsonl", "frankenstein-essay.txt", 20, 15)],
)
def test_the_benchmark_essay_questions_are_well_formed_and_their_answers_are_in_the_essay(
    questions_file, essay_file, total, answerable_count
):
    # bench/data/*-questions.jsonl score both modes (BENCHMARKS.md); a gold answer the essay does
    # not hold would count every answer as wrong, so each question needs one it holds.
    from assistant.config import DEFAULT_DOCUMENT
    from assistant.evaluation.metrics import fold
    from assistant.ingest import read_document

    questions, warnings = read(BENCH_DATA / questions_file)
    essay = fold(read_document(BENCH_DATA / essay_file if essay_file else DEFAULT_DOCUMENT).text)
    assert warnings == [] and len(questions) == total
    assert len({q.id for q in questions}) == len(questions)
    answerable = [q for q in questions if q.answerable is not False]
    assert len(answerable) == answerable_count and all(q.answers for q in answerable)
    assert all(not q.answers for q in questions if q.answerable is False)
    missing = [q.id for q in answerable if not any(fold(a) in essay for a in q.answers)]
    assert missing == []
