"""Batch evaluation: answer a question file (or SQuAD v2) as answer records, then score and report.

Records go to an answers JSONL file in input order, flushed per batch, each with the question's
`gold` data beside it. A run resumes where it stopped: answered ids are skipped, a truncated last
line is dropped. In a run directory the run also writes `run.json` (settings and timing),
`metrics.json` and the report. Extractive questions are answered in batches (`Assistant.ask_many`);
generative ones one by one, several at a time against an `openai` backend. Scoring lives in
`metrics`, the report in `report`, run comparison in `compare`.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.errors import ConfigError, InputError
from assistant.evaluation.questions import Article, EvalQuestion, Warn, read_questions, read_squad
from assistant.evaluation.runs import (
    ANSWERS,
    METRICS,
    AnswerLog,
    Session,
    check_resume,
    read_records,
    read_timing,
    save_session,
)


class Interrupted(Exception):
    """Ctrl-C during a run: everything answered before it is saved."""

    def __init__(self, answered: int, total: int) -> None:
        super().__init__(f"interrupted after {answered} of {total} questions")
        self.answered, self.total = answered, total


@dataclass(frozen=True)
class EvalOptions:
    """What to evaluate and how; paths are as the user gave them."""

    questions: Path | None = None  # a JSONL or CSV question file...
    squad: Path | None = None  # ...or a SQuAD v2 JSON file
    out: Path | None = None  # answers file; defaults to run_dir/answers.jsonl
    run_dir: Path | None = None  # also write run.json, metrics.json and the report here
    index_dir: Path | None = None  # question files: the index to ask (default: settings.index_dir)
    single_index: bool = False  # SQuAD: all articles in one index instead of one index each
    index_cache: Path | None = None  # SQuAD: where built indexes are kept (default: beside answers)
    k: int | None = None
    mode: str | None = None
    batch_size: int = 512  # questions answered (and flushed) together; big batches pad less
    concurrency: int = 1  # generative requests in flight (openai backend only)
    restart: bool = False  # discard earlier answers instead of resuming
    report_format: str = "html"
    progress: bool = True

    @property
    def answers_path(self) -> Path:
        return Path(self.out) if self.out else Path(self.run_dir) / ANSWERS


@dataclass
class Job:
    """Questions answered against one index (a whole question file, or one SQuAD article)."""

    name: str
    index_dir: Path
    questions: list[EvalQuestion]
    articles: Sequence[Article] = ()  # SQuAD: what the index is built from (when it changed)


def run_eval(settings: Settings, options: EvalOptions, warn: Warn | None = None) -> dict[str, Any]:
    """Answer every question not yet answered; in a run directory also score and report."""
    warn = warn or print_warning
    settings = settings.with_(k=options.k, mode=options.mode, index_dir=options.index_dir)
    _check(options, settings)
    jobs = _jobs(settings, options, warn)
    config = _config(options, settings)
    if options.run_dir:
        check_resume(Path(options.run_dir), config, options.restart)
    existed = options.answers_path.exists()
    log = AnswerLog(options.answers_path, restart=options.restart, warn=warn)
    order = [q.id for job in jobs for q in job.questions]
    log.check_questions((q.id, q.question) for job in jobs for q in job.questions)
    done = sum(1 for qid in order if qid in log.answered)
    if done:
        warn(f"resuming: {done} of {len(order)} questions already answered in {log.path}")
    session = Session()
    start = time.perf_counter()
    try:
        _answer_all(settings, options, jobs, log, session, total=len(order), done=done)
    except KeyboardInterrupt:
        session.interrupted = True
    finally:
        session.wall_s = time.perf_counter() - start
        log.close()
        # counted from the file: a Ctrl-C can land between writing a batch and counting it
        on_disk = {str(r.get("id")) for r in read_records(log.path)}
        session.answered = len(on_disk.intersection(order)) - done
        if not existed and not on_disk:  # a run that failed before its first answer
            log.path.unlink(missing_ok=True)
        if options.run_dir:
            save_session(Path(options.run_dir), config, session, options.restart)
    if session.interrupted:
        raise Interrupted(done + session.answered, len(order))
    log.reorder(order)
    summary = {"answered": session.answered, "total": len(order), "session": asdict(session)}
    if options.run_dir:
        summary["metrics"] = write_outputs(Path(options.run_dir), options.report_format)
    return summary


def write_outputs(run_dir: Path, report_format: str = "html") -> dict[str, Any]:
    """Score a run directory's answers, write metrics.json and the report; return the metrics."""
    from assistant.evaluation import metrics, report

    records = read_records(run_dir / ANSWERS)
    computed = metrics.compute_metrics(records, timing=read_timing(run_dir))
    (run_dir / METRICS).write_text(json.dumps(computed, indent=1) + "\n", encoding="utf-8")
    report.write_report(run_dir, records, computed, fmt=report_format)
    return computed


def _answer_all(settings, options, jobs, log, session, *, total, done) -> None:
    from tqdm import tqdm

    from assistant.assistant import shared_embedder

    embedder = shared_embedder(settings)
    bar = tqdm(total=total, initial=done, unit="q", disable=not options.progress, file=sys.stderr)
    try:
        for job in jobs:
            todo = [q for q in job.questions if q.id not in log.answered]
            if not todo:
                continue
            bar.set_postfix_str(job.name[:30], refresh=False)
            t0 = time.perf_counter()
            assistant = _assistant(settings, job, embedder, session)
            session.index_s += time.perf_counter() - t0
            bar.unpause()  # the rate and ETA count answering only, not loading models or indexes
            batches = answer_records(
                assistant,
                todo,
                k=settings.k,
                mode=settings.mode,
                batch_size=options.batch_size,
                concurrency=options.concurrency,
            )
            t0 = time.perf_counter()
            try:
                for batch_records in batches:
                    log.append(batch_records)
                    bar.update(len(batch_records))
            finally:
                batches.close()  # stops requests still in flight at once after a Ctrl-C
                session.answer_s += time.perf_counter() - t0
    finally:
        bar.close()


def _assistant(settings: Settings, job: Job, embedder, session: Session):
    from assistant.assistant import Assistant, build_texts

    if job.articles:
        texts = [(a.title, "\n\n".join(a.paragraphs)) for a in job.articles]
        manifest = build_texts(texts, job.index_dir, settings, embedder)
        session.passages += manifest["counts"]["chunks"]
    assistant = Assistant.from_settings(settings.with_(index_dir=job.index_dir), embedder=embedder)
    if settings.mode == "generative" and not assistant.generative_available:
        raise ConfigError(
            "generative mode needs a working LLM backend; check ASSISTANT_LLM_BACKEND "
            "or evaluate with --mode extractive"
        )
    return assistant


def answer_records(
    assistant,
    questions: Sequence[EvalQuestion],
    *,
    k: int,
    mode: str,
    batch_size: int = 128,
    concurrency: int = 1,
) -> Iterator[list[dict[str, Any]]]:
    """Answer records in input order, a batch at a time (each batch is saved before the next)."""
    if mode == "extractive":
        for i in range(0, len(questions), batch_size):
            batch = questions[i : i + batch_size]
            answers = assistant.ask_many([q.question for q in batch], k=k, ids=[q.id for q in batch])
            yield [_record(q, a) for q, a in zip(batch, answers, strict=True)]
        return

    def ask(q: EvalQuestion):
        return assistant.ask(q.question, k=k, mode=mode, id=q.id)

    # A window of requests in flight keeps every worker busy; records still leave in input order.
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="eval")
    pending: deque = deque()
    try:
        for q in questions:
            pending.append((q, pool.submit(ask, q)))
            if len(pending) > 2 * concurrency:
                first, future = pending.popleft()
                yield [_record(first, future.result())]
        while pending:
            first, future = pending.popleft()
            yield [_record(first, future.result())]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _record(question: EvalQuestion, answer) -> dict[str, Any]:
    record = answer.to_dict()
    record["id"] = question.id
    gold = question.gold()
    if gold:
        record["gold"] = gold
    return record


def _jobs(settings: Settings, options: EvalOptions, warn: Warn) -> list[Job]:
    if options.questions:
        index_dir = Path(settings.index_dir)
        questions = _usable(read_questions(Path(options.questions), warn), options, settings, warn)
        return [Job(index_dir.name, index_dir, questions)]
    articles = read_squad(Path(options.squad), warn)
    cache = Path(options.index_cache) if options.index_cache else _default_cache(options)
    if options.single_index:
        questions = _usable([q for a in articles for q in a.questions], options, settings, warn)
        return [Job("all articles", cache / "all-articles", questions, articles=articles)]
    jobs = []
    for a in articles:
        questions = _usable(a.questions, options, settings, warn)
        jobs.append(Job(a.title, cache / _slug(a.title), questions, articles=[a]))
    return jobs


def _usable(questions, options: EvalOptions, settings: Settings, warn: Warn) -> list[EvalQuestion]:
    """Questions the assistant accepts; the others are reported with their line and skipped."""
    from assistant.assistant import check_question

    source, kept = options.questions or options.squad, []
    for q in questions:
        try:
            check_question(q.question, settings.max_question_chars)
        except InputError as exc:
            where = f"{source}:{q.line}" if q.line else f"{source}: id {q.id}"
            warn(f"{where}: {exc}; skipped")
            continue
        kept.append(q)
    return kept


def _default_cache(options: EvalOptions) -> Path:
    if options.run_dir:
        return Path(options.run_dir) / "indexes"
    out = Path(options.out)
    return out.with_name(out.stem + "-indexes")


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", title).strip("._") or "article"


def _check(options: EvalOptions, settings: Settings) -> None:
    if bool(options.questions) == bool(options.squad):
        raise InputError("give either a question file or --squad FILE")
    if bool(options.out) == bool(options.run_dir):
        raise InputError("give either --out FILE (answers only) or --run-dir DIR (answers, metrics, report)")
    source = options.questions or options.squad
    if options.out and Path(options.out).resolve() == Path(source).resolve():
        raise InputError(f"--out {options.out} is the question file itself; write the answers "
                         "to another file")
    if options.squad and options.index_dir:
        raise InputError("--index is for question files; with --squad use --index-cache DIR")
    if options.batch_size < 1 or options.concurrency < 1:
        raise InputError("--batch-size and --concurrency must be at least 1")
    if options.report_format not in ("html", "md"):
        raise InputError(f"--format must be html or md, not {options.report_format!r}")
    if options.concurrency > 1 and (settings.mode, settings.llm_backend) != (
        "generative",
        "openai",
    ):
        raise ConfigError(
            "--concurrency above 1 needs --mode generative with the openai backend "
            "(llama.cpp runs one generation at a time; extractive mode batches instead)"
        )


def _config(options: EvalOptions, settings: Settings) -> dict[str, Any]:
    """What must not change between a run and its resumption."""
    source = options.questions or options.squad
    config = {
        "questions": str(Path(source).resolve()),
        "squad": bool(options.squad),
        "single_index": options.single_index,
        "index": None if options.squad else str(Path(settings.index_dir).resolve()),
        "k": settings.k,
        "mode": settings.mode,
        "chunk_chars": settings.chunk_chars,
    }
    if not options.squad:  # the same directory rebuilt from other documents is another index
        from assistant.assistant import index_sources

        sources = index_sources(Path(settings.index_dir))
        if sources is not None:
            config["index_sources"] = sources
    return config


def print_warning(message: str) -> None:
    """Say something to the user on stderr (the default `warn` of a run)."""
    print(message, file=sys.stderr, flush=True)
