"""Read evaluation questions: JSONL or CSV question files, and SQuAD v2 JSON.

A question has an `id` and a `question`, and optionally gold `answers`, `evidence` (text a good
answer must cite), `answerable` and a `tag`. A malformed line is reported through `warn` with its
line number and skipped; a file that cannot be used at all raises InputError. Leaves out answering.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import InputError

Warn = Callable[[str], None]
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


class _Malformed(ValueError):
    """One line that cannot be used; the message says why."""


@dataclass(frozen=True)
class EvalQuestion:
    """One question to answer, with whatever gold data the file gives for it."""

    id: str
    question: str
    answers: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    answerable: bool | None = None  # None: unknown (no gold data)
    tag: str | None = None
    article: str | None = None  # SQuAD article title
    line: int = 0  # where it came from, for messages

    def gold(self) -> dict[str, Any]:
        """The `gold` object stored beside the answer record (only the fields that are known)."""
        gold: dict[str, Any] = {}
        if self.answers:
            gold["answers"] = list(self.answers)
        if self.evidence:
            gold["evidence"] = list(self.evidence)
        if self.answerable is not None:
            gold["answerable"] = self.answerable
        if self.tag is not None:
            gold["tag"] = self.tag
        if self.article is not None:
            gold["article"] = self.article
        return gold


@dataclass(frozen=True)
class Article:
    """A SQuAD article: its title, its paragraphs, and the questions asked about it."""

    title: str
    paragraphs: tuple[str, ...]
    questions: tuple[EvalQuestion, ...]


def read_questions(path: Path, warn: Warn) -> list[EvalQuestion]:
    """Questions from a .csv file or a JSONL file (any other suffix), malformed lines skipped."""
    path = Path(path)
    text = _read_text(path)
    rows = _csv_rows(text, path) if path.suffix.lower() == ".csv" else _jsonl_rows(text)
    questions: list[EvalQuestion] = []
    first_line: dict[str, int] = {}
    for line, row in rows:
        try:
            if isinstance(row, _Malformed):
                raise row
            q = _question(row, line)
            if q.id in first_line:
                raise _Malformed(f"duplicate id {q.id!r} (first on line {first_line[q.id]})")
        except _Malformed as exc:
            warn(f"{path}:{line}: {exc}; skipped")
            continue
        first_line[q.id] = line
        questions.append(q)
    if not questions:
        raise InputError(f"{path}: no usable questions; each line needs an id and a question")
    return questions


def read_squad(path: Path, warn: Warn | None = None) -> list[Article]:
    """Articles of a SQuAD v2 JSON file, questions in file order (gold answers deduplicated); a
    question whose id an earlier one has is reported through `warn` and skipped."""
    path = Path(path)
    try:
        data = json.loads(_read_text(path))
        articles, seen = [], {}
        for a in data["data"]:
            questions = []
            for p in a["paragraphs"]:
                for qa in p["qas"]:
                    if str(qa["id"]) in seen:
                        if warn:
                            warn(f"{path}: duplicate id {str(qa['id'])!r} in {a['title']!r} "
                                 f"(first in {seen[str(qa['id'])]!r}); skipped")
                        continue
                    seen[str(qa["id"])] = a["title"]
                    answers = tuple(dict.fromkeys(x["text"] for x in qa.get("answers", [])))
                    questions.append(
                        EvalQuestion(
                            id=str(qa["id"]),
                            question=qa["question"],
                            answers=answers,
                            answerable=not qa.get("is_impossible", not answers),
                            article=a["title"],
                        )
                    )
            paragraphs = tuple(p["context"] for p in a["paragraphs"])
            articles.append(Article(a["title"], paragraphs, tuple(questions)))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
        raise InputError(f"{path}: not SQuAD v2 JSON ({detail}); pass a file like dev-v2.0.json") from None
    if not any(a.questions for a in articles):
        raise InputError(f"{path}: the SQuAD file has no questions")
    return articles


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise InputError(f"{path}: no such file; check the path")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not valid UTF-8 (byte {exc.start}); save it as UTF-8") from None
    if not text.strip():
        raise InputError(f"{path}: the file is empty; write one question per line")
    return text


def _jsonl_rows(text: str) -> Iterable[tuple[int, dict | _Malformed]]:
    # "\n" only: str.splitlines would also split a question at U+2028, U+0085 and the like
    for line, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield line, _Malformed(f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        yield line, row if isinstance(row, dict) else _Malformed("not a JSON object")


def _csv_rows(text: str, path: Path) -> Iterable[tuple[int, dict | _Malformed]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or not {"id", "question"} <= {f.strip() for f in reader.fieldnames}:
        raise InputError(f"{path}: the CSV header must name at least the columns id and question")
    for row in reader:
        if None in row:
            yield reader.line_num, _Malformed("more cells than header columns")
            continue
        cells = {k.strip(): v for k, v in row.items() if v is not None and v.strip() != ""}
        for key in ("answers", "evidence"):
            if key in cells:
                cells[key] = _csv_list(cells[key])
        if "answerable" in cells:
            cells["answerable"] = _csv_bool(cells["answerable"])
        yield reader.line_num, cells


def _csv_list(cell: str) -> Any:
    """A JSON list of strings, or else the cell itself as a single string."""
    if cell.lstrip().startswith("["):
        try:
            return json.loads(cell)
        except json.JSONDecodeError:
            return _Malformed(f"cell {cell[:40]!r} starts with [ but is not a JSON list")
    return cell


def _csv_bool(cell: str) -> Any:
    word = cell.strip().lower()
    return True if word in _TRUE else False if word in _FALSE else cell


def _question(row: dict, line: int) -> EvalQuestion:
    qid = row.get("id")
    if isinstance(qid, bool) or not isinstance(qid, (str, int)) or str(qid).strip() == "":
        raise _Malformed('missing "id" (a string or number)')
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise _Malformed('missing "question" (a non-empty string)')
    answers = _strings(row.get("answers"), "answers")
    evidence = _strings(row.get("evidence"), "evidence")
    answerable = row.get("answerable")
    if answerable is not None and not isinstance(answerable, bool):
        raise _Malformed(f'"answerable" must be true or false, not {answerable!r}')
    if answerable is False and answers:
        raise _Malformed('"answerable" is false but gold "answers" are given')
    if answerable is None and (answers or evidence):
        answerable = True
    tag = row.get("tag")
    if tag is not None and not isinstance(tag, (str, int, float)):
        raise _Malformed('"tag" must be a string')
    return EvalQuestion(
        id=str(qid).strip(),
        question=question.strip(),
        answers=answers,
        evidence=evidence,
        answerable=answerable,
        tag=None if tag is None else str(tag),
        line=line,
    )


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, _Malformed):
        raise value
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Malformed(f'"{name}" must be a string or a list of strings')
    return tuple(v.strip() for v in value if v.strip())
