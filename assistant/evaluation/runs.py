"""An evaluation run on disk: the answers file, the run's settings and timing, and resumption.

A run directory holds `answers.jsonl` (one answer record a line, in input order), `run.json` (the
settings that must not change between sessions, and each session's timing), `metrics.json` and the
report. The answers file is an append-only log: a session appends complete lines and flushes each
batch, so an interrupted run loses at most the batch in flight and resumes where it stopped.
Leaves out answering (`evaluate`) and scoring (`metrics`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import InputError

ANSWERS, RUN, METRICS = "answers.jsonl", "run.json", "metrics.json"


@dataclass
class Session:
    """Timing of one invocation; a resumed run has several."""

    answered: int = 0
    answer_s: float = 0.0  # time spent answering and writing (throughput is measured on this)
    index_s: float = 0.0  # time spent building or loading indexes and models
    wall_s: float = 0.0
    passages: int = 0  # passages in the indexes this session built or loaded
    interrupted: bool = False
    started: float = field(default_factory=time.time)


class AnswerLog:
    """An answers JSONL file opened for appending, with the ids it already holds."""

    def __init__(self, path: Path, *, restart: bool, warn: Callable[[str], None]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.answered: dict[str, str] = {}  # id -> question
        if restart and self.path.exists():
            self.path.unlink()
        if self.path.exists():
            self._load(warn)
        self._file = self.path.open("a", encoding="utf-8")

    def _load(self, warn: Callable[[str], None]) -> None:
        """Read the answers so far. Only the last line may be cut short (by an interrupted write)
        and is dropped; any other line that is not an answer record means the file is not an
        answers log, and it is left as it is."""
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        last = max((n for n, raw in enumerate(lines, start=1) if raw.strip()), default=0)
        good: list[bytes] = []
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                record = None
            if not (isinstance(record, dict) and "id" in record and "answer" in record):
                if number == last and record is None:
                    warn(f"{self.path}: dropping a truncated last line (it will be answered again)")
                    continue
                raise InputError(
                    f"{self.path}:{number}: not an answer record, so this is not an answers file "
                    "of `assistant eval`; write to another place (--out or --run-dir)")
            self.answered[str(record["id"])] = record.get("question", "")
            good.append(raw)
        kept = b"".join(line + b"\n" for line in good)
        if kept != data:
            atomic_write(self.path, kept)

    def check_questions(self, questions: Iterable[tuple[str, str]]) -> None:
        """Refuse to resume when an id already answered now stands for another question."""
        for qid, question in questions:
            if qid in self.answered and self.answered[qid] != question:
                raise InputError(
                    f"{self.path} answers id {qid!r} with another question; "
                    "write to another place, or pass --restart to discard it"
                )

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        """Write records as complete lines and flush them to disk."""
        self._file.write("".join(_line(r) for r in records))
        self._file.flush()
        os.fsync(self._file.fileno())
        for r in records:
            self.answered[str(r["id"])] = r.get("question", "")

    def close(self) -> None:
        self._file.close()

    def reorder(self, order: Sequence[str]) -> None:
        """Rewrite the file in input order if resuming an edited question file mixed it up."""
        records = read_records(self.path)
        position = {qid: i for i, qid in enumerate(order)}
        ranked = sorted(records, key=lambda r: position.get(str(r.get("id")), len(order)))
        if [r.get("id") for r in ranked] != [r.get("id") for r in records]:
            atomic_write(self.path, "".join(_line(r) for r in ranked).encode("utf-8"))


def read_records(path: Path) -> list[dict[str, Any]]:
    """The answer records of a JSONL file; unreadable lines (a truncated last one) are skipped."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such answers file; run `assistant eval` first")
    records = []
    for raw in path.read_text(encoding="utf-8", errors="replace").split("\n"):  # not at U+2028
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def answers_path(run: Path) -> Path:
    """The answers file of a run given as a run directory or as the answers file itself."""
    run = Path(run)
    return run / ANSWERS if run.is_dir() else run


def read_timing(run_dir: Path) -> dict[str, float] | None:
    """Timing summed over the sessions in run.json (None without one)."""
    state = _read_run(run_dir)
    if state is None:
        return None
    keys = ("answered", "answer_s", "index_s", "wall_s")
    return {key: sum(s.get(key, 0) for s in state["sessions"]) for key in keys}


def read_config(run_dir: Path) -> dict[str, Any] | None:
    """The settings recorded in run.json (None without one)."""
    state = _read_run(run_dir)
    return None if state is None else state["config"]


def _read_run(run_dir: Path) -> dict[str, Any] | None:
    """run.json as {"config": {...}, "sessions": [{...}, ...]}; None without one; InputError when
    it cannot be read (edited by hand, or the disk was full)."""
    path = Path(run_dir) / RUN
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        ok = (isinstance(state, dict) and isinstance(state.get("config", {}), dict)
              and isinstance(state.get("sessions", []), list)
              and all(isinstance(s, dict) for s in state.get("sessions", [])))
    except (UnicodeDecodeError, json.JSONDecodeError):
        ok = False
    if not ok:
        raise InputError(f"{path} is unreadable, so this run cannot be resumed or reported; "
                         "use another --run-dir, or --restart to start it afresh")
    return {"config": state.get("config"), "sessions": state.get("sessions", [])}


def check_resume(run_dir: Path, config: dict[str, Any], restart: bool) -> None:
    """Refuse to resume a run directory whose run.json records other settings."""
    before = None if restart else read_config(run_dir)
    if before is None:
        return
    # a setting the earlier session did not record (an older version's run) is not compared
    changed = [f"{key} changed" if isinstance(value, list) else f"{key} {before[key]!r} -> {value!r}"
               for key, value in config.items() if key in before and before[key] != value]
    if changed:
        raise InputError(
            f"{run_dir} holds a run with other settings ({'; '.join(changed)}); "
            "use another --run-dir, or --restart to discard it"
        )


def save_session(run_dir: Path, config: dict[str, Any], session: Session, restart: bool) -> None:
    """Append this session's timing to run.json (starting afresh after --restart)."""
    path = Path(run_dir) / RUN
    state: dict[str, Any] = {"config": config, "sessions": []}
    if not restart:
        state["sessions"] = (_read_run(run_dir) or state)["sessions"]
    state["sessions"].append(asdict(session))
    atomic_write(path, (json.dumps(state, indent=1) + "\n").encode("utf-8"))


def atomic_write(path: Path, data: bytes) -> None:
    """Replace a file in one step, so a crash leaves the old or the new content, never half."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"
