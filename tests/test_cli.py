"""The command line as users run it: `python -m assistant ...` in a subprocess, with real files.

Every bad input gets one line on stderr that starts with "error:", a non-zero exit, no traceback,
and leaves the existing index byte for byte as it was. The record format of `ask --json` is
checked in-process through the same `main()` (it shares the session's model).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from servers import free_port

from assistant.cli import main
from assistant.config import DEFAULT_DOCUMENT, Settings
from assistant.index import MANIFEST

WHO = "Who says 'Poor creatures. What did we do to you?'"


def assert_one_line_error(done, *fragments: str) -> None:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def _files(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.md").write_bytes(b"\n  \n<br>\n")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    (tmp_path / "latin1.txt").write_bytes("Kathy’s café, the Cottages.".encode("cp1252"))
    (tmp_path / "occupied").write_text("a file where an index directory should be")


BAD_INPUTS = {
    "empty-question": (lambda t, i: ["ask", "", "--index", i], ["question is empty"], 2),
    "whitespace-question": (
        lambda t, i: ["ask", " \n\t  ", "--index", i],
        ["question is empty"],
        2,
    ),
    "20000-char-question": (
        lambda t, i: ["ask", "Why " * 4999 + "why?", "--index", i],
        ["20,000 characters long", "to 2,000 or fewer"],
        2,
    ),
    "missing-file": (lambda t, i: ["ingest", t / "missing.txt", "--index", i], ["no such file"], 2),
    "empty-file": (
        lambda t, i: ["ingest", t / "empty.txt", "--index", i],
        ["empty.txt", "no text"],
        2,
    ),
    "blank-file": (
        lambda t, i: ["ingest", t / "blank.md", "--index", i],
        ["blank.md", "no text"],
        2,
    ),
    "binary-file": (lambda t, i: ["ingest", t / "image.txt", "--index", i], ["binary", "UTF-8"], 2),
    "non-utf8-file": (
        lambda t, i: ["ingest", t / "latin1.txt", "--index", i],
        ["latin1.txt", "not valid UTF-8", "re-save"],
        2,
    ),
    "good-file-with-a-bad-one": (
        lambda t, i: ["ingest", DEFAULT_DOCUMENT, t / "image.txt", "--index", i],
        ["image.txt", "binary"],
        2,
    ),
    "unknown-index": (
        lambda t, i: ["ask", "Who is Ruth?", "--index", t / "nowhere"],
        ["no index at", "assistant ingest"],
        3,
    ),
    "index-path-is-a-file": (
        lambda t, i: ["ingest", DEFAULT_DOCUMENT, "--index", t / "occupied"],
        ["cannot use", "occupied"],
        3,
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_one_line_and_leaves_the_index_alone(
    case, run_cli, index_copy, tmp_path, tree_digest
):
    argv, fragments, exit_code = BAD_INPUTS[case]
    _files(tmp_path)
    before = tree_digest(index_copy)
    done = run_cli(*argv(tmp_path, index_copy))
    assert_one_line_error(done, *fragments)
    assert done.returncode == exit_code
    assert tree_digest(index_copy) == before
    assert not (tmp_path / "nowhere").exists()
    assert (tmp_path / "occupied").read_text() == "a file where an index directory should be"


def test_an_index_built_with_another_model_is_refused_in_one_line(run_cli, index_copy, tree_digest):
    manifest = json.loads((index_copy / MANIFEST).read_text())
    manifest["model"]["name"] = "all-mpnet-base-v2"
    (index_copy / MANIFEST).write_text(json.dumps(manifest))
    before = tree_digest(index_copy)
    done = run_cli("ask", WHO, "--index", index_copy)
    assert_one_line_error(
        done, "all-mpnet-base-v2", f"assistant ingest FILE... --index {index_copy}"
    )
    assert done.returncode == 3
    assert tree_digest(index_copy) == before


def test_a_malformed_eval_line_is_reported_by_number_and_the_rest_answered(
    run_cli, index_copy, tmp_path, tree_digest
):
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        json.dumps({"id": "a", "question": WHO})
        + "\n{not json at all\n"
        + json.dumps({"id": "c", "question": "What is the capital of France?"})
        + "\n"
        + json.dumps(["not", "an", "object"])
        + "\n"
        + json.dumps({"id": "e", "question": "What does Ruth fear?"})
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "results.jsonl"
    before = tree_digest(index_copy)
    done = run_cli(
        "eval", questions, "--index", index_copy, "--out", out, "-k", "3", "--no-progress"
    )
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr  # the eval design: skipped lines are warnings
    assert f"{questions}:2:" in done.stderr and f"{questions}:4:" in done.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["a", "c", "e"]
    assert [r["refused"] for r in records] == [False, True, False]
    assert "Madame Marie-Claude" in records[0]["answer"]
    assert all(len(r["retrieved"]) == 3 for r in records)
    assert tree_digest(index_copy) == before


def test_ingest_of_many_files_without_a_terminal_prints_a_summary(
    run_cli, tmp_path, text_maker, embedder
):
    from assistant.index import load_index

    sources = tmp_path / "sources"
    sources.mkdir()
    paths = [DEFAULT_DOCUMENT]
    for n in range(24):
        path = sources / f"reading-{n:02d}.{'md' if n % 3 else 'txt'}"
        path.write_text(text_maker(6, seed=100 + n), encoding="utf-8")
        paths.append(path)
    index = tmp_path / "index"
    done = run_cli("ingest", *paths, "--index", index, "--no-explain-state")
    assert done.returncode == 0, done.stderr
    # not a terminal: no progress bars, nothing on stderr, one summary line on stdout
    assert done.stderr == ""
    match = re.fullmatch(
        rf"indexed 25 document\(s\), (\d+) passages, (\d+) sentences -> {re.escape(str(index))}\n",
        done.stdout,
    )
    assert match, done.stdout
    loaded = load_index(index, embedder)
    assert len(loaded.documents) == 25
    assert len(loaded.chunks) == int(match.group(1)) and len(loaded.sentences) == int(
        match.group(2)
    )


@pytest.mark.slow
def test_ingest_saves_the_explain_prompt_state_beside_the_index_unless_told_not_to(run_cli,
                                                                                   tmp_path):
    index = tmp_path / "index"
    done = run_cli("ingest", DEFAULT_DOCUMENT, "--index", index)
    assert done.returncode == 0, done.stderr
    assert re.search(r"Explain's prompt state saved \(\d+\.\d s\)", done.stdout), done.stdout
    assert (index / "explain-state.bin").stat().st_size > 1_000_000
    again = run_cli("ingest", DEFAULT_DOCUMENT, "--index", index)
    assert "Explain's prompt state already saved" in again.stdout, again.stdout

    skipped = run_cli("ingest", DEFAULT_DOCUMENT, "--index", tmp_path / "plain",
                      "--no-explain-state")
    assert skipped.returncode == 0 and "Explain" not in skipped.stdout + skipped.stderr
    assert not (tmp_path / "plain" / "explain-state.bin").exists()


def test_ingest_counts_a_file_named_twice_once_and_refuses_two_of_one_name(run_cli, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in "ab":
        (tmp_path / folder / "notes.txt").write_text(f"Notes from folder {folder}.", encoding="utf-8")
    index = tmp_path / "index"
    once = run_cli("ingest", tmp_path / "a" / "notes.txt", tmp_path / "a" / "notes.txt",
                   "--index", index, "--no-explain-state")
    assert once.returncode == 0 and "indexed 1 document(s)" in once.stdout, once.stderr
    clash = run_cli("ingest", tmp_path / "a" / "notes.txt", tmp_path / "b" / "notes.txt",
                    "--index", index)
    assert clash.returncode == 2
    assert_one_line_error(clash, "two files are both named notes.txt")


def test_ask_json_prints_the_answer_record(essay_index_dir, capsys, tree_digest):
    before = tree_digest(essay_index_dir)
    assert main(["ask", WHO, "--index", str(essay_index_dir), "-k", "3", "--json"]) == 0
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert set(record) == {
        "id", "question", "answer", "refused", "mode", "citations", "retrieved", "latency_ms"
    }  # fmt: skip
    assert record["question"] == WHO and record["refused"] is False
    assert "Madame Marie-Claude" in record["answer"] and "[1]" in record["answer"]
    assert record["citations"][0]["marker"] == 1 and record["citations"][0]["pages"] == ["254"]
    assert len(record["retrieved"]) == 3
    assert tree_digest(essay_index_dir) == before


def test_ask_prints_the_answer_and_its_sources(essay_index_dir, capsys):
    assert main(["ask", WHO, "--index", str(essay_index_dir)]) == 0
    out = capsys.readouterr().out
    assert "Madame Marie-Claude" in out.splitlines()[0]
    assert "[1] never-let-me-go-essay.txt, paragraph 1, p. 254:" in out


def test_ask_prints_a_refusal_plainly(essay_index_dir, capsys):
    assert main(["ask", "How do I bake sourdough bread?", "--index", str(essay_index_dir)]) == 0
    out = capsys.readouterr().out
    assert "doesn't say" in out and "[1]" not in out


def test_serve_refuses_a_broken_prompt_file_before_it_listens(run_cli, index_copy, tmp_path,
                                                               monkeypatch):
    prompts = Path(shutil.copytree(Settings().prompts_dir, tmp_path / "prompts"))
    (prompts / "answer_user.md").write_text("Question: {question} ({tone})\n", encoding="utf-8")
    monkeypatch.setenv("ASSISTANT_PROMPTS_DIR", str(prompts))
    monkeypatch.setenv("ASSISTANT_LLM_BACKEND", "llamacpp")
    done = run_cli("serve", "--index", index_copy, "--port", str(free_port()), timeout=60)
    assert_one_line_error(done, "answer_user.md", "tone")
    assert done.returncode == 2
