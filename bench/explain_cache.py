"""Explain on real-length essays: the saved prompt state beside the current behaviour, in one run.

For the shipped essay and two public-domain essays of 3,700 and 4,500 words, the same ten questions
are answered twice with the same model: as before (a 4,096-token context, nothing saved: a document
too long for it gets its retrieved passages in every prompt), and with the document's prompt prefix
evaluated once, saved beside its index and restored (assistant/runtime/prompt_state.py). Then some
of the same questions are answered with the prompt evaluated whole from nothing, to see that a
restored state writes the same answers; a process serving ten documents reports its memory; and
the `openai` backend answers through a local `llama_cpp.server`, whose own cache reuses the stable
prefix. About 15 minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from assistant.evaluation.metrics import percentile
from bench.context import Bench
from bench.generative import ESSAY_QUESTIONS, Streamed, _stream_timed
from bench.results import ROOT, Row, Section, row

HELDOUT = ROOT / "bench" / "data" / "heldout"
QUESTIONS_PER_DOCUMENT = 20  # of each long essay; the reader refuses about half without the model
ONE_PASS = {"essay": 10, "stevenson": 2, "emerson": 2}  # answers re-asked with the whole prompt in one
# pass (a minute each for a long essay)
BEFORE_CONTEXT = 4096  # the context the product had before it saved states
SERVED_DOCUMENTS = 10


def documents(b: Bench) -> list[tuple[str, str, Path, list[str]]]:
    """(key, title, file, questions): the shipped essay and two essays nobody here wrote."""
    def heldout(name: str) -> list[str]:
        lines = (HELDOUT / f"{name}-questions.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(line)["question"] for line in lines[:QUESTIONS_PER_DOCUMENT]]

    return [
        ("essay", "the shipped essay (414 words)", b.essay_path, list(ESSAY_QUESTIONS)),
        ("stevenson", "Stevenson, An Apology for Idlers (3,697 words)",
         HELDOUT / "stevenson-idlers.txt", heldout("stevenson-idlers")),
        ("emerson", "Emerson, Prudence (4,480 words)", HELDOUT / "emerson-prudence.txt",
         heldout("emerson-prudence")),
    ]


def explain_cache(b: Bench) -> Section:
    from assistant import Assistant, ModelError
    from assistant.assistant import build_documents
    from assistant.generation.generate import Generator
    from assistant.generation.prompting import load_prompts
    from assistant.index import load_index
    from assistant.runtime.llm import build_chat_model
    from assistant.runtime.prompt_state import FILE_NAME

    section = Section("explain_cache", "Explain on real-length essays: a saved prompt per document")
    # a prompt evaluated whole from nothing (the same-answers check) takes a minute for 5,000 tokens
    after_settings = b.settings.with_(llm_backend="llamacpp", mode="generative", llm_timeout_s=600.0)
    before_settings = after_settings.with_(llm_context=BEFORE_CONTEXT)
    try:
        model = build_chat_model(after_settings).load()
        before_model = build_chat_model(before_settings).load()
    except (ModelError, ImportError) as exc:
        section.skipped = f"no local language model ({exc})"
        return section
    prompts = load_prompts(after_settings.prompts_dir)
    index_dirs = []
    for key, title, path, questions in documents(b):
        directory = b.workdir / "explain-cache" / key
        build_documents([path], directory, after_settings, b.embedder)
        index_dirs.append(directory)
        index = load_index(directory, b.embedder)

        before = Generator(before_model, prompts, index.chunks, before_settings, keep_state=False)
        started = time.perf_counter()
        before.warm_up()
        before_warm = time.perf_counter() - started
        old = Assistant(before_settings, index, b.embedder, generator=before)
        old.warm_up_search()
        old_runs = [_stream_timed(old, q) for q in questions]

        state_path = directory / FILE_NAME
        after = Generator(model, prompts, index.chunks, after_settings, state_path)
        started = time.perf_counter()
        assert after.prepare() == "built"
        build_s = time.perf_counter() - started
        _forget(model)  # as a restarted server: nothing held, nothing in memory
        started = time.perf_counter()
        assert after.prepare() == "disk"
        load_s = time.perf_counter() - started
        new = Assistant(after_settings, index, b.embedder, generator=after)
        new_runs = [_stream_timed(new, q) for q in questions]
        # the same questions after the prefix is evaluated here rather than read from the file
        _forget(model)
        fresh = Generator(model, prompts, index.chunks, after_settings, None)
        fresh.prepare()
        fresh_runs = [_stream_timed(Assistant(after_settings, index, b.embedder, generator=fresh),
                                    q) for q in questions]

        # every question put to the model, refusals and the essay's parts included: the prompt
        # machinery's own timing on all the questions, not only those the reader lets through
        forced_old = [t for t in (_asked_anyway(old, before, q) for q in questions) if t]
        forced_new = [t for t in (_asked_anyway(new, after, q) for q in questions) if t]

        tokens = len(model.prefix_tokens(after._prefix)) if after._prefix else None
        section.rows += [Row(f"**{title}**", f"{tokens} prompt tokens" if tokens else "too long",
                             baseline="whole in the prompt" if before.whole_document
                             else "retrieved passages")]
        section.rows += _compare(old_runs, new_runs, before_warm, build_s, load_s,
                                 state_path.stat().st_size)
        section.rows += [
            row("...every question put to the model: first word, p50", percentile(forced_new, 50),
                "{:.2f} s", baseline=percentile(forced_old, 50), target=("<=", 1.0)),
            row("...every question put to the model: first word, p95", percentile(forced_new, 95),
                "{:.2f} s", baseline=percentile(forced_old, 95), target=("<=", 2.0)),
        ]
        section.rows.append(_same(
            "...answers word for word the same restored from the file as with the prefix "
            "evaluated here", new_runs, fresh_runs))
        called = [(q, r) for q, r in zip(questions, new_runs) if _model_called(r)][: ONE_PASS[key]]
        section.rows.append(_one_pass(b, model, prompts, index, after_settings, called))
    section.rows += _served_memory(b, index_dirs, after_settings)
    section.rows += _openai_server(b, index_dirs[1], documents(b)[1][3], after_settings)
    section.notes.append(
        "Questions: for the shipped essay the first 10 of bench/load.py (as the generative section); "
        f"for the two public-domain essays (bench/data/heldout/, Stevenson 1877 and Emerson 1841) "
        f"the first {QUESTIONS_PER_DOCUMENT} of their question files. Each question is streamed "
        "through `Assistant.stream(mode='generative')` one at a time, after `warm_up_search()`; "
        "first word = the first text shown (after retrieval, the reader and the prompt-leak "
        "guard). Timings count the questions the model answered; the others were refused or are "
        "about the essay's parts, answered without it in a tenth of a second. 'Before' (the "
        "baseline column) is the product with a 4,096-token context and no saved state: a "
        "document that does not fit whole (both long essays) gets its retrieved passages in every "
        "prompt, read anew each time; its warm-up evaluates what it can cache. 'After' is the "
        "default (8,192 tokens): the document's prompt prefix (instructions, every passage, the "
        "start of the question turn) is evaluated once, saved beside the index, and restored as a "
        "restarted server would; 'every question put to the model' asks the model each question "
        "whatever the reader decided (refusals and questions about the essay's parts included), "
        "which gives the prompt's timing on every question. After the restore, each question "
        "reads only its own tokens (the key-sentence hint, the question and the reminder, 60-200 "
        "tokens at about 100 tokens/s). The same questions are then answered with the prefix "
        "evaluated in this process instead of read from the file (the same key/value bytes; "
        "answers can still differ where llama.cpp places the question's tokens in other cache "
        "cells, which changes the order of floating-point sums), and some with the "
        "model reset before each, so that the whole prompt is evaluated in one pass; greedy "
        "decoding then differs only where float rounding between batch splits tips a near tie."
    )
    return section


def _asked_anyway(assistant, generator, question: str) -> float | None:  # noqa: ANN001
    """Seconds to the model's first shown words for `question`, asked whatever the reader
    decided: retrieval, the reader's key sentences, then the generator's stream."""
    started = time.perf_counter()
    hits = assistant.retriever.search(question, assistant.settings.k)
    selection = assistant._select(hits, None)
    first = None
    for item in generator.stream(question, hits.passages, key=selection.sentences):
        if isinstance(item, str) and item and first is None:
            first = time.perf_counter() - started
    return first


def _forget(model) -> None:  # noqa: ANN001
    model._states = None
    model._llama.reset()


def _compare(old: list[Streamed], new: list[Streamed], before_warm: float, build_s: float,
             load_s: float, state_bytes: int) -> list[Row]:
    def firsts(runs: list[Streamed]) -> list[float]:
        return [r.first for r in runs if r.first is not None and _model_called(r)]

    def totals(runs: list[Streamed]) -> list[float]:
        return [r.total for r in runs if _model_called(r)]

    reading = [r.first / r.total for r in old if r.first and _model_called(r)]
    return [
        row("...warm-up before / saved state built (once, at ingest)", build_s, "{:.1f} s",
            baseline=before_warm),
        row("...state file size", state_bytes / 1e6, "{:.0f} MB"),
        row("...state load on start (read, checked, restored)", load_s, "{:.2f} s"),
        row("...first word, p50", percentile(firsts(new), 50), "{:.2f} s",
            baseline=percentile(firsts(old), 50), target=("<=", 1.0)),
        row("...first word, p95", percentile(firsts(new), 95), "{:.2f} s",
            baseline=percentile(firsts(old), 95), target=("<=", 2.0)),
        row("...whole answer, p50", percentile(totals(new), 50), "{:.2f} s",
            baseline=percentile(totals(old), 50), target=("<=", 4.0)),
        row("...before: share of the answer spent before the first word (prompt reading), mean",
            sum(reading) / len(reading) * 100 if reading else None, "{:.0f}%"),
        Row("...questions the model answered (timings above: these only), after / before",
            f"{sum(map(_model_called, new))} of {len(new)}",
            baseline=f"{sum(map(_model_called, old))} of {len(old)}"),
        Row("...of them, shown as generated (the rest fell back to quotations), after / before",
            f"{sum(map(_generated, new))}", baseline=f"{sum(map(_generated, old))}"),
    ]


def _generated(run: Streamed) -> bool:
    return run.final is not None and run.final.verification is not None


def _model_called(run: Streamed) -> bool:
    """The model wrote for it (shown, or its sentences failed verification): not a refusal or a
    question about the essay's parts, which are answered without it."""
    return run.final is not None and (run.final.verification is not None
                                      or run.final.draft is not None)


def _same(measure: str, runs: list[Streamed], others: list[Streamed]) -> Row:
    pairs = [(a, b) for a, b in zip(runs, others) if _model_called(a) or _model_called(b)]
    same = sum(a.text == b.text and a.final.answer == b.final.answer for a, b in pairs)
    return Row(measure, f"{same} of {len(pairs)}", value=same / max(1, len(pairs)),
               target=">= 90%", result="PASS" if same >= 0.9 * len(pairs) else "MISS")


def _one_pass(b: Bench, model, prompts, index, settings, called) -> Row:  # noqa: ANN001
    """The questions re-asked with the model reset before each: the whole prompt in one pass."""
    from assistant import Assistant
    from assistant.generation.generate import Generator

    plain = Assistant(settings, index, b.embedder,
                      generator=Generator(model, prompts, index.chunks, settings, keep_state=False))
    again = []
    for question, _ in called:
        _forget(model)
        again.append(_stream_timed(plain, question))
    return _same("...the same with the whole prompt evaluated in one pass, from nothing",
                 [run for _, run in called], again)


# A process serving several documents, as the library would: one model, an assistant per index.
_SERVE = """
import json, sys, time
from pathlib import Path
from assistant import Assistant, Settings
dirs = [Path(p) for p in sys.argv[1:]]
assistants = [Assistant.from_settings(Settings(index_dir=d, llm_backend="llamacpp",
                                               mode="generative")) for d in dirs]
t0 = time.perf_counter()
for a in assistants:
    a.warm_up()
warm = time.perf_counter() - t0
switches, sources = [], []
for a in assistants * 2:  # each question switches document: its prefix is restored first
    generator = a._load_generator()
    t0 = time.perf_counter()
    sources.append(generator.prepare())
    switches.append(time.perf_counter() - t0)
    a.ask("What does the text say about its subject?")
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
kb = lambda k: int(status[k].split()[0]) * 1024
print(json.dumps({"rss": kb("VmRSS"), "peak": kb("VmHWM"), "warm": warm, "switches": switches,
                  "sources": sources}))
"""


def _served_memory(b: Bench, index_dirs: list[Path], settings) -> list[Row]:  # noqa: ANN001
    from assistant.assistant import build_texts, shared_embedder
    from assistant.runtime.prompt_state import FILE_NAME

    extra = SERVED_DOCUMENTS - len(index_dirs)
    dirs = list(index_dirs)
    for number, (title, text) in enumerate(_squad_train_articles(extra)):
        directory = b.workdir / "explain-cache" / f"train{number}"
        build_texts([(title, text)], directory, settings, shared_embedder(settings))
        dirs.append(directory)
    done = subprocess.run([sys.executable, "-c", _SERVE, *map(str, dirs)], capture_output=True,
                          text=True, timeout=1800, cwd=ROOT, env=dict(os.environ))
    if done.returncode != 0:
        return [Row("server with 10 documents", "failed: " + done.stderr.strip()[-200:])]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    on_disk = sum((d / FILE_NAME).stat().st_size for d in dirs if (d / FILE_NAME).exists())
    return [
        Row(f"**one process serving {len(dirs)} documents** (the three above and "
            f"{extra} SQuAD train articles)", ""),
        row("...resident memory after a question to each, twice", out["rss"] / 1e6, "{:.0f} MB"),
        row("...peak resident memory", out["peak"] / 1e6, "{:.0f} MB"),
        row("...saved states on disk, all documents", on_disk / 1e6, "{:.0f} MB"),
        row("...warm-up of all (states built for the new ones, restored for the rest)",
            out["warm"], "{:.1f} s"),
        row("...restoring a document's prefix when the question switches document, p50",
            percentile(out["switches"], 50), "{:.2f} s"),
        row("...the same, p95", percentile(out["switches"], 95), "{:.2f} s"),
        Row("...restored from memory / from disk",
            f"{out['sources'].count('memory')} / {out['sources'].count('disk')} "
            f"of {len(out['sources'])}"),
    ]


def _squad_train_articles(count: int) -> list[tuple[str, str]]:
    """The first paragraphs (about 600 words) of the first `count` SQuAD 1.1 train articles."""
    import gzip

    path = ROOT.parent / "shared" / "data" / "squad-1.1-train.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        articles = json.load(f)["data"][:count]
    out = []
    for article in articles:
        paragraphs, words = [], 0
        for paragraph in article["paragraphs"]:
            paragraphs.append(paragraph["context"])
            words += len(paragraph["context"].split())
            if words >= 600:
                break
        out.append((f"{article['title']}.txt", "\n\n".join(paragraphs)))
    return out


def _openai_server(b: Bench, index_dir: Path, questions: list[str], settings) -> list[Row]:  # noqa: ANN001
    """The `openai` backend against llama.cpp's own server: its cache reuses the stable prefix."""
    import socket

    from assistant import Assistant
    from assistant.runtime.modelfile import verified_model_path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(b.workdir / "llama-server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(verified_model_path(settings)),
         "--host", "127.0.0.1", "--port", str(port), "--n_threads", "2",
         "--n_ctx", str(settings.llm_context), "--model_alias", "study-model"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        import httpx

        base = f"http://127.0.0.1:{port}/v1"
        for _ in range(240):
            try:
                httpx.get(f"{base}/models", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        remote = settings.with_(llm_backend="openai", openai_base_url=base,
                                openai_model="study-model", llm_timeout_s=300, index_dir=index_dir)
        assistant = Assistant.from_settings(remote, embedder=b.embedder)
        started = time.perf_counter()
        assistant.warm_up()  # one request: the server evaluates the document's prefix
        warm = time.perf_counter() - started
        runs = [_stream_timed(assistant, q) for q in questions]
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    firsts = [r.first for r in runs if r.first is not None and _model_called(r)]
    return [
        Row("**`openai` backend, local `llama_cpp.server`** (Stevenson, same questions)", ""),
        row("...warm-up: the server evaluates the stable prefix", warm, "{:.1f} s"),
        row("...first word, p50 (the server reuses the prefix)", percentile(firsts, 50),
            "{:.2f} s"),
        row("...first word, p95", percentile(firsts, 95), "{:.2f} s"),
        Row("...questions the model answered / shown as generated",
            f"{sum(map(_model_called, runs))} / {sum(map(_generated, runs))} of {len(runs)}"),
    ]
