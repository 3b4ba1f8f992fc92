"""Generative sections (`--generative`): the local LLM's speed on the essay, its quality on SQuAD.

Speed: time to first token, decode rate and whole-answer time for essay questions, beside the
extractive answer to the same questions, after the prompt cache is warm (as the server warms it).
Quality: a fixed 200-question sample of SQuAD v2 answered in generative mode by the product's
evaluation runner. That run is slow (seconds per question) and resumable: it is kept under
runs/bench-generative/ and an interrupted benchmark continues where it stopped.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from assistant.evaluation.metrics import percentile
from bench.context import Bench
from bench.load import QUESTIONS
from bench.quality import squad_contains
from bench.results import ROOT, Row, Section, percent, row

ESSAY_QUESTIONS = QUESTIONS[:10]  # answerable essay questions
RUN_DIR = ROOT / "runs" / "bench-generative"
OFF_TOPIC = 48  # answerable questions asked against the next article's index (6 per article)


def generative(b: Bench) -> Section:
    """Speed on essay questions, beside extractive answers to the same questions."""
    section = Section("generative", "Generative answers (local LLM): speed")
    assistant = b.essay_assistant(llm_backend="llamacpp")
    t0 = time.perf_counter()
    if not assistant.generative_available:  # loads the model
        section.skipped = f"no local language model ({assistant._generator_error})"
        return section
    assistant.warm_up()
    section.rows.append(row("warm-up: model load + prompt cache fill", time.perf_counter() - t0,
                            "{:.1f} s"))
    decode = _speed(b, assistant, section)
    _llama_alone(b, section, decode)
    return section


# llama.cpp by itself, in a process of its own: what this machine can do, so the product's numbers
# can be read against it (2 cores decode ~10 tokens/s on one machine here and ~40 on another).
_LLAMA_ALONE = """
import json, sys, time
from llama_cpp import Llama
path, threads, context, text = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
llama = Llama(model_path=path, n_threads=threads, n_ctx=context, verbose=False)
tokens = llama.tokenize(text.encode())
t0 = time.perf_counter(); llama.eval(tokens); prompt_s = time.perf_counter() - t0
t0 = time.perf_counter()
for _ in range(64):
    llama.eval([llama.sample(temp=0)])
print(json.dumps({"tokens": len(tokens), "prompt": len(tokens) / prompt_s,
                  "decode": 64 / (time.perf_counter() - t0)}))
"""


def _llama_alone(b: Bench, section: Section, product: float | None) -> None:
    from assistant.runtime.modelfile import verified_model_path

    settings = b.settings
    text = settings.default_document.read_text(encoding="utf-8")[:3000]
    done = subprocess.run(
        [sys.executable, "-c", _LLAMA_ALONE, str(verified_model_path(settings)),
         str(settings.llm_threads), str(settings.llm_context), text],
        capture_output=True, text=True, timeout=600, check=True)
    rates = json.loads(done.stdout.strip().splitlines()[-1])
    section.rows += [
        row(f"llama.cpp alone, another process, {settings.llm_threads} threads: decode",
            rates["decode"], "{:.1f} tokens/s"),
        row(f"...prompt evaluation ({rates['tokens']} tokens of the essay)", rates["prompt"],
            "{:.0f} tokens/s"),
        row("decode rate, product / llama.cpp alone", product / rates["decode"] if product else None,
            "{:.2f}x"),
    ]


def generative_squad(b: Bench, sample: int = 200, restart: bool = False) -> Section:
    """The SQuAD sample's quality in generative mode (slow: seconds a question; resumable)."""
    from assistant import ModelError
    from assistant.runtime.modelfile import verified_model_path

    section = Section("generative_squad", "Generative answers (local LLM): quality on SQuAD")
    try:  # the evaluation loads the model itself; loading a second one here would slow it
        verified_model_path(b.settings)
    except ModelError as exc:
        section.skipped = f"no local language model ({exc})"
        return section
    _squad(b, section, sample, restart)
    return section


def generative_docs(b: Bench, documents: int = 8, per_document: int = 5) -> Section:
    """Explain on short documents that fit the prompt whole, as the essay does (a few minutes)."""
    from assistant import Assistant, ModelError
    from assistant.generation.generate import Generator
    from assistant.generation.prompting import load_prompts
    from assistant.index import build_index, load_index
    from assistant.ingest import document_from_text
    from assistant.runtime.llm import build_chat_model

    section = Section("generative_docs",
                      "Generative answers (local LLM): short documents held whole in the prompt")
    settings = b.settings.with_(llm_backend="llamacpp")
    prompts = load_prompts(settings.prompts_dir)
    try:  # one model for every document; each gets its own prompt prefix
        model = build_chat_model(settings).load()
    except (ModelError, ImportError) as exc:
        section.skipped = f"no local language model ({exc})"
        return section
    records = []
    for number, (title, text, questions) in enumerate(_short_documents(b, documents, per_document)):
        directory = b.workdir / "short-documents" / f"doc{number}"
        build_index([document_from_text(title, text)], directory, b.embedder,
                    chunk_chars=settings.chunk_chars, chunk_overlap=settings.chunk_overlap)
        index = load_index(directory, b.embedder)
        generator = Generator(model, prompts, index.chunks, settings)
        generator.warm_up()  # as the server does: the document's prefix is cached before questions
        assistant = Assistant(settings, index, b.embedder, generator=generator)
        for question, golds in questions:
            streamed = _stream_timed(assistant, question)
            final = streamed.final
            records.append({"document": number, "answer": final.answer, "gold": {"answers": list(golds)},
                            "refused": final.refused, "checks": final.verification,
                            "whole_document": generator.whole_document, "ttft": streamed.first,
                            "total": streamed.total})
    generated = [r for r in records if r["checks"] is not None and not r["refused"]]
    checks = [c for r in generated for c in r["checks"]]
    section.rows += [
        percent("answer contains the gold answer (SQuAD-normalized)",
                sum(squad_contains(r) for r in records if not r["refused"]) / len(records)),
        percent("generated sentences that pass verification, in generated answers",
                sum(c.verified for c in checks) / max(1, len(checks))),
        Row("answers generated / fell back to extractive / refused",
            f"{len(generated)} / {len(records) - len(generated) - sum(r['refused'] for r in records)}"
            f" / {sum(r['refused'] for r in records)} of {len(records)}"),
        Row("documents held whole in the prompt",
            f"{len({r['document'] for r in records if r['whole_document']})} of "
            f"{len({r['document'] for r in records})}"),
        row("time to first token, p50 (generated answers)",
            percentile([r["ttft"] for r in generated if r["ttft"]], 50), "{:.2f} s"),
        row("whole generative answer, p50 (generated answers)",
            percentile([r["total"] for r in generated], 50), "{:.2f} s"),
    ]
    section.notes.append(
        f"Short documents: {documents} made of 4 consecutive paragraphs of one SQuAD article each "
        f"(seed 3), {per_document} answerable questions about those paragraphs per document, "
        "answered through `Assistant.stream(mode='generative')` after the document's prompt prefix "
        "is cached. Each document fits the model's context, so, as with the essay, the whole "
        "document is in the prompt; the SQuAD section below answers from retrieved passages "
        "instead. For measuring prompt changes in the mode the essay uses, not for tuning to."
    )
    return section


def _short_documents(b: Bench, documents: int, per_document: int):  # noqa: ANN202
    """(title, text, [(question, gold answers)]) for 4-paragraph pieces of the SQuAD articles."""
    data = json.loads(b.squad.read_text(encoding="utf-8"))["data"]
    rng = random.Random(3)
    for article in data[:documents]:
        start = rng.randrange(0, len(article["paragraphs"]) - 4)
        paragraphs = article["paragraphs"][start:start + 4]
        answerable = [(qa["question"].strip(), tuple(dict.fromkeys(a["text"] for a in qa["answers"])))
                      for p in paragraphs for qa in p["qas"]
                      if not qa.get("is_impossible") and qa["answers"]]
        questions = rng.sample(answerable, min(per_document, len(answerable)))
        yield article["title"], "\n\n".join(p["context"] for p in paragraphs), questions


def _speed(b: Bench, assistant, section: Section) -> float | None:  # noqa: ANN001
    """Adds the speed rows, with and without prompt lookup; returns the decode rate p50 (tokens/s)."""
    llama = assistant._load_generator().model._llama
    extractive = []
    for q in ESSAY_QUESTIONS:
        t0 = time.perf_counter()
        assistant.ask(q, mode="extractive")
        extractive.append((time.perf_counter() - t0) * 1000)
    on = _answer_essay_questions(assistant)
    decode = percentile(on["rates"], 50)
    section.rows += [
        row("time to first token, p50", percentile(on["ttft"], 50), "{:.2f} s",
            target=("<=", 1.0)),
        row("decode rate, p50", decode, "{:.1f} tokens/s", target=(">=", 25.0)),
        row("whole generative answer, p50", percentile(on["totals"], 50), "{:.2f} s",
            target=("<=", 5.0)),
        row("whole generative answer, p95", percentile(on["totals"], 95), "{:.2f} s"),
        row("the extractive answer to the same questions, p50", percentile(extractive, 50),
            "{:.1f} ms"),
        Row("essay questions generated / quoted instead (timings: generated ones only)",
            f"{on['generated']} / {on['fallbacks']} of {len(ESSAY_QUESTIONS)}"),
    ]
    if getattr(llama, "draft_model", None) is not None:  # lookup.LookupLlama
        guesser, llama.draft_model = llama.draft_model, None
        try:
            off = _answer_essay_questions(assistant)
        finally:
            llama.draft_model = guesser
        decode_off = percentile(off["rates"], 50)
        section.rows += [
            row("without prompt lookup (same model, same questions): decode rate p50", decode_off,
                "{:.1f} tokens/s"),
            row("...whole generative answer, p50", percentile(off["totals"], 50), "{:.2f} s"),
            row("decode rate, with / without prompt lookup", decode / decode_off
                if decode and decode_off else None, "{:.2f}x"),
            Row("...answers word for word the same with and without",
                f"{sum(a == b for a, b in zip(on['texts'], off['texts']))} of "
                f"{len(ESSAY_QUESTIONS)}"),
        ]
    section.notes.append(
        f"Speed: the first {len(ESSAY_QUESTIONS)} essay questions of bench/load.py, one at a time "
        "through `Assistant.stream(mode='generative')` after `warm_up()`; time to first token is "
        "to the first text shown (after retrieval and the prompt-leak guard), decode rate is "
        "tokens after the first over the time they took (the model's tokenizer counting). The "
        "same questions are then answered again with prompt lookup turned off (assistant/runtime/lookup.py,"
        " `ASSISTANT_LLM_DRAFT_TOKENS=0`); greedy decoding writes the same text either way up to "
        "float rounding, which can tip a near tie. Quoted instead: answers whose generated "
        "sentences all failed verification, and \"What is the essay's thesis?\", which Explain "
        "answers with the essay's own sentences (as it does every question about the essay's "
        "parts) without calling the model."
    )
    return decode


def _answer_essay_questions(assistant) -> dict:  # noqa: ANN001
    """Each essay question answered generatively, timed."""
    # The generator's own tokenizer counts the streamed tokens (the Answer does not carry usage).
    count_tokens = assistant._load_generator().model.count_tokens
    out: dict = {"ttft": [], "totals": [], "rates": [], "texts": [], "generated": 0,
                 "fallbacks": 0}
    for q in ESSAY_QUESTIONS:
        streamed = _stream_timed(assistant, q)
        out["texts"].append(streamed.text)
        if streamed.final is None or streamed.final.verification is None:
            out["fallbacks"] += 1
            continue
        out["generated"] += 1
        out["ttft"].append(streamed.first)
        out["totals"].append(streamed.total)
        tokens = count_tokens(streamed.text)
        if streamed.last > streamed.first and tokens > 1:
            out["rates"].append((tokens - 1) / (streamed.last - streamed.first))
    return out


@dataclass(frozen=True)
class Streamed:
    """One question answered through `Assistant.stream`, timed in seconds from the question."""

    text: str  # what was shown as it streamed
    final: Any  # assistant.schema.Answer, or None if the stream ended without one
    first: float | None  # when the first text was shown
    last: float | None  # when the last text was shown
    total: float


def _stream_timed(assistant, question: str) -> Streamed:  # noqa: ANN001
    t0 = time.perf_counter()
    first = last = final = None
    text = ""
    for item in assistant.stream(question, mode="generative"):
        now = time.perf_counter() - t0
        if isinstance(item, str):
            if item and first is None:
                first = now
            last = now
            text += item
        else:
            final = item
    return Streamed(text, final, first, last, time.perf_counter() - t0)


def _squad(b: Bench, section: Section, sample: int, restart: bool) -> None:
    from assistant import EvalOptions, run_eval
    from assistant.evaluation.metrics import compute_metrics
    from assistant.evaluation.runs import read_records, read_timing

    RUN_DIR.mkdir(parents=True, exist_ok=True)
    sample_path = RUN_DIR / "sample.json"
    keep = _write_sample(b, sample_path, sample)
    options = EvalOptions(squad=sample_path, run_dir=RUN_DIR / "run", mode="generative",
                          index_cache=RUN_DIR / "indexes", restart=restart, progress=True)
    run_eval(b.settings.with_(llm_backend="llamacpp"), options)
    timing = read_timing(RUN_DIR / "run")
    # a run that once had a larger sample still holds its answers; score this sample only
    records = [r for r in read_records(RUN_DIR / "run" / "answers.jsonl") if r["id"] in keep]
    overall = compute_metrics(records)["overall"]
    answerable = [r for r in records if r["gold"].get("answerable")]
    contained = [squad_contains(r) for r in answerable if not r["refused"]]
    checks = [c for r in records for c in r.get("verification") or []]
    generated = [r for r in records if r.get("verification") is not None and not r["refused"]]
    fallbacks = [r for r in records if r["mode"] == "extractive"]
    latencies = [r["latency_ms"] / 1000 for r in generated]
    off_topic, asked = _off_topic(b)
    section.rows += [
        percent("SQuAD sample: answer contains the gold answer (SQuAD-normalized)",
                sum(contained) / len(answerable), target=(">=", 85.0)),
        percent("...metrics.py `contains` (case/space only)", overall["contains"]),
        percent("generated sentences that pass verification, in generated answers",
                sum(c["verified"] for c in checks) / max(1, len(checks)), target=(">=", 95.0)),
        percent("answers where no generated sentence passed (quotations shown instead)",
                len(fallbacks) / len(records)),
        percent("answerable questions refused", overall["answerable_refused_rate"],
                target=("<=", 3.0)),
        percent(f"another article's questions refused ({asked} asked)", off_topic,
                target=(">=", 95.0)),
        percent("in-article unanswerable questions refused", overall["refusal_recall"]),
        Row("answers generated / fell back to extractive / refused",
            f"{len(generated)} / {len(fallbacks)} / {sum(r['refused'] for r in records)} "
            f"of {len(records)}"),
        row("whole answer p50 (SQuAD, generated answers)", percentile(latencies, 50), "{:.1f} s"),
        row("answer length, mean characters", overall["answer_chars_mean"], "{:.0f}"),
    ]
    section.notes.append(
        f"SQuAD: {len(records)} questions drawn at random (seed 0, `--sample N`) from "
        f"{b.squad.name}, each article indexed on its own, answered by `assistant eval --squad "
        f"{sample_path.relative_to(ROOT)} --mode generative`; the sessions that recorded their "
        f"timing answered {timing['answered']:.0f} in {timing['answer_s']:.0f} s (the run resumes "
        "after an interruption, a killed session records no timing, and sessions may have run under "
        "different load; `--restart-generative` starts it over). A SQuAD article does not fit the model's "
        "context, so each answer is written from the retrieved passages alone (no cached prefix). "
        "Sentences that fail verification are never shown; an answer none of whose sentences "
        "passes falls back to the extractive answer with a notice and carries no verification "
        "list, so its failed sentences are not in the verified share above."
    )


def _write_sample(b: Bench, path, n: int) -> set[str]:  # noqa: ANN001
    """A SQuAD v2 file with every article's full text and a fixed random sample of questions."""
    data = json.loads(b.squad.read_text(encoding="utf-8"))
    ids = [qa["id"] for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]]
    random.Random(0).shuffle(ids)
    keep = set(ids[:n])  # a larger sample contains a smaller one, so a grown run resumes
    for a in data["data"]:
        for p in a["paragraphs"]:
            p["qas"] = [qa for qa in p["qas"] if qa["id"] in keep]
            for qa in p["qas"]:
                # answers records hold the stripped question, and resuming compares the two
                qa["question"] = qa["question"].strip()
    text = json.dumps(data)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return keep


def _off_topic(b: Bench) -> tuple[float, int]:
    """Refusal of answerable questions asked, in generative mode, against the next article."""
    from assistant import Assistant

    articles = b.articles
    rng = random.Random(1)
    refused = asked = 0
    for i, article in enumerate(articles):
        other = articles[(i + 1) % len(articles)]
        questions = [q.question for q in other.questions if q.answerable]
        directory, _ = b.article_index(article, RUN_DIR / "indexes")
        settings = b.settings.with_(index_dir=directory, llm_backend="llamacpp")
        assistant = Assistant.from_settings(settings, embedder=b.embedder)
        for q in rng.sample(questions, max(1, OFF_TOPIC // len(articles))):
            refused += assistant.ask(q, mode="generative").refused
            asked += 1
    return refused / asked, asked
