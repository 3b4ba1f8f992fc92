"""Study aids (`--only study`, generative: it uses the local LLM for about 15 minutes).

On the shipped essay, the Frankenstein essay, the three held-out essays (bench/data/heldout/,
whose question files are not read here) and three fresh essays (bench/data/study-fresh/, chosen
before the answer-span model joined the check): the share of the model's practice questions
that the check keeps, with and without its last step (the answer-span model), duplicates among
the kept ones, and how long the essay map and the practice questions take on a ~2,000-word and a
~5,000-word document. Every question the check without the answer-span model keeps is written to
bench/results/study-questions.jsonl, with its answer, proving sentence and what the answer-span
model read, for auditing by hand; `study_audit` (`--only study_audit`, instant) counts the
judgments in bench/data/study-audit.jsonl for both checks.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from bench.context import Bench
from bench.results import RESULTS, ROOT, Row, Section, percent, row

DATA = ROOT / "bench" / "data"
ESSAYS = [
    ("never-let-me-go-essay.txt", None),  # the shipped essay (Settings.default_document)
    ("frankenstein-essay.txt", DATA / "frankenstein-essay.txt"),
    ("stevenson-idlers.txt", DATA / "heldout" / "stevenson-idlers.txt"),
    ("lamb-roast-pig.txt", DATA / "heldout" / "lamb-roast-pig.txt"),
    ("emerson-prudence.txt", DATA / "heldout" / "emerson-prudence.txt"),
]
# Read after the check was last changed by hand: its questions were never read before the
# answer-span model joined the check (bench/data/study-fresh/README.md).
FRESH = sorted((DATA / "study-fresh").glob("*.txt"))
ESSAYS += [(path.name, path) for path in FRESH]
KEPT_FILE = RESULTS / "study-questions.jsonl"  # not *.json: results.load_all reads those
# The hand audit of kept questions, one judgment a line: {"essay", "question", "answer", "holds":
# does the cited sentence hold the stated answer, "right": is it the right answer to the question
# as asked, "note"}. Written by whoever read KEPT_FILE; `--only study_audit` counts it.
AUDIT_FILE = DATA / "study-audit.jsonl"
MAP_REPEATS = 5
FRESH_NAMES = {path.name for path in FRESH}


def study(b: Bench) -> Section:
    """Kept share, duplicates and build times of the study aids with the local LLM."""
    from assistant import Assistant, ModelError
    from assistant.assistant import build_texts
    from assistant.generation.generate import Generator
    from assistant.generation.prompting import load_prompts
    from assistant.index import load_index
    from assistant.reader import shared_reader
    from assistant.runtime.llm import build_chat_model
    from assistant.runtime.span_model import SpanModel
    from assistant.study import practice
    from assistant.study.essay import Essay
    from assistant.study.map import build_map

    section = Section("study", "Study aids: essay map, practice questions (local LLM)")
    settings = b.settings.with_(llm_backend="llamacpp")
    try:
        model = build_chat_model(settings).load()
    except (ModelError, ImportError) as exc:
        section.skipped = f"no local language model ({exc})"
        return section
    prompts = load_prompts(settings.prompts_dir)
    reader = shared_reader()
    spans = SpanModel.load()
    span_step = (None, practice.NO_SPAN, practice.OTHER_SPAN)  # problems of those that reached it

    def assistant_for(name: str, text: str) -> Assistant:
        directory = b.workdir / "study" / Path(name).stem
        build_texts([(name, text)], directory, settings, b.embedder)
        index = load_index(directory, b.embedder)
        generator = Generator(model, prompts, index.chunks, settings, keep_state=False)
        return Assistant(settings.with_(index_dir=directory), index, b.embedder,
                         generator=generator, reader=reader)

    texts = {name: (path or settings.default_document).read_text(encoding="utf-8")
             for name, path in ESSAYS}
    attempts, kept_out, per_essay = [], [], []
    for name, text in texts.items():
        assistant = assistant_for(name, text)
        essay = Essay.from_index(assistant.index, name)
        essay_map = build_map(essay)
        writer, why = assistant._study_writer()
        if writer is None:
            section.skipped = f"the language model is unavailable ({why})"
            return section
        t0 = time.perf_counter()
        made = None
        for item in practice.build(essay, essay_map, writer=writer, ask=assistant._quote_only,
                                   spans=spans, timeout_s=settings.llm_timeout_s):
            made = item
        seconds = time.perf_counter() - t0
        attempts += [(name, a) for a in made.attempts]
        kept = [q for q in made.questions if q.origin == "model"]
        kept_out += [{"essay": name, "fresh": name in FRESH_NAMES, "question": a.question,
                      "answer": a.draft.span.text, "sentence": a.draft.sentence.text,
                      "where": a.draft.sentence.ref().where(),
                      "span_check": a.problem or "kept", "span_answer": a.span.text,
                      "span_margin": round(a.span.margin, 2)}
                     for a in made.attempts if a.problem in span_step]
        per_essay.append((name, essay.words(), len(made.attempts), len(kept),
                          sum(a.problem in span_step for a in made.attempts), seconds,
                          made.notice))

    written = [a for _, a in attempts if a.question is not None]
    kept = [a for _, a in attempts if a.problem is None]
    before = [a for _, a in attempts if a.problem in span_step]
    duplicates = sum(a.problem == practice.DUPLICATE for _, a in attempts)
    problems: dict[str, int] = {}
    for _, a in attempts:
        if a.problem:
            problems[a.problem] = problems.get(a.problem, 0) + 1
    section.rows += [
        percent(f"model's questions kept by the check (all {len(texts)} essays)",
                len(kept) / max(1, len(written))),
        percent("...by the check without its answer-span step", len(before) / max(1, len(written))),
        Row("questions written / kept / dropped", f"{len(written)} / {len(kept)} / "
            f"{len(written) - len(kept)} (+ {len(attempts) - len(written)} unusable replies)"),
        Row("duplicates among the kept questions (same question words)",
            f"{_duplicates([q['question'] for q in kept_out])} ({duplicates} dropped as repeats)"),
    ]
    for name, words, tried, count, without, seconds, notice in per_essay:
        note = f"; {notice}" if notice else ""
        fresh = ", fresh" if name in FRESH_NAMES else ""
        section.rows.append(Row(f"{name} ({words:,} words{fresh}): kept / written (without the "
                                "answer-span step), time",
                                f"{count} / {tried} ({without}), {seconds:.0f} s{note}"))

    # build times on a ~2,000-word and a ~5,000-word document
    sized = {
        2000: ("stevenson-2000.txt", _cut(texts["stevenson-idlers.txt"], 2000)),
        5000: ("emerson-5000.txt", texts["emerson-prudence.txt"] + "\n\n"
               + _cut(texts["lamb-roast-pig.txt"], 5000 - _words(texts["emerson-prudence.txt"]))),
    }
    for size, (name, text) in sized.items():
        assistant = assistant_for(name, text)
        maps = []
        for _ in range(MAP_REPEATS):
            t0 = time.perf_counter()
            assistant.study_map()
            maps.append(time.perf_counter() - t0)
        (assistant.index.directory / "study.json").unlink(missing_ok=True)
        t0 = time.perf_counter()
        cloze = assistant.study_aids(use_model=False)
        cloze_s = time.perf_counter() - t0
        (assistant.index.directory / "study.json").unlink(missing_ok=True)
        t0 = time.perf_counter()
        first = None  # when the first question that passed the check could be shown
        for step in assistant.study_steps(use_model=True):
            if first is None and getattr(step, "kept", ()):
                first = time.perf_counter() - t0
        model_s = time.perf_counter() - t0
        aids = assistant.study_aids()
        doc = aids.documents[0]
        section.rows += [
            row(f"~{size:,} words ({_words(text):,}): essay map, median of {MAP_REPEATS}",
                statistics.median(maps), "{:.3f} s", target=("<=", 1.0)),
            row("...map + fill-in-the-blank questions + suggestions, no model", cloze_s,
                "{:.2f} s"),
            row("...practice questions with the local model (all study aids)", model_s,
                "{:.0f} s", target=("<=", 120.0)),
            row("...first question that passed the check, shown after", first, "{:.0f} s"),
            Row("...questions written by the model and kept / fill-in-the-blank",
                f"{sum(q.origin == 'model' for q in doc.questions)} / "
                f"{sum(q.origin == 'cloze' for q in doc.questions)}"
                + (f" ({doc.notice})" if doc.notice else "")),
        ]
        del cloze

    KEPT_FILE.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in kept_out),
                         encoding="utf-8")
    section.tables.append(_problems_table(problems))
    section.notes += [
        "Each essay gets up to 10 practice questions: a key sentence (thesis, claims, evidence, "
        "spread over the paragraphs) and an answer taken from it (a name, number, short quotation "
        "or noun phrase); the model (Qwen2.5-Coder-1.5B-Instruct, llama.cpp, greedy) writes the "
        "question, and the check keeps it only if its answer is in the sentence and not in the "
        "question, most of its words are in the sentence's passage, the product's own quoting "
        "answerer (the trained reader), asked it, cites that passage and quotes the stated "
        "answer, the model, asked it back with the sentence, gives the same answer, and the "
        "trained answer-span model (assistant/data/answer-span/, threshold chosen on SQuAD "
        "training articles), reading the sentence with its neighbours, finds an answer with "
        "the stated one's words (token F1 >= 0.5): the strict check (ASSISTANT_PRACTICE_CHECK="
        "strict). 'Without the answer-span step' is the same run's questions that passed every "
        "step before it: the standard check, the default. A "
        "dropped question's sentence gets a fill-in-the-blank question instead. "
        "The model has 100 s per document; what it has not written by then is fill-in-the-blank.",
        f"Every kept question, with its answer and proving sentence: "
        f"{KEPT_FILE.relative_to(ROOT)}.",
        "Hand audit of these questions: the section below (`--only study_audit`).",
        "The ~2,000-word document is the first paragraphs of Stevenson's essay, the ~5,000-word "
        "one Emerson's essay followed by the first paragraphs of Lamb's (whole paragraphs, so "
        "the counts are near the round number). The map needs no model; the practice time "
        "includes the check of every question and the suggested questions.",
    ]
    return section


def _words(text: str) -> int:
    return len(text.split())


def _cut(text: str, words: int) -> str:
    """The text's first whole paragraphs, up to about `words` words."""
    out, count = [], 0
    for paragraph in text.split("\n\n"):
        if count >= words:
            break
        out.append(paragraph)
        count += _words(paragraph)
    return "\n\n".join(out)


def _duplicates(questions: list[str]) -> int:
    from assistant.text import terms

    keys = [" ".join(sorted(set(terms(q)))) for q in questions]
    return len(keys) - len(set(keys))


def _problems_table(problems: dict[str, int]) -> str:
    lines = ["| why a written question was dropped | questions |", "|---|---|"]
    lines += [f"| {reason} | {count} |" for reason, count in
              sorted(problems.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines)


def study_audit(b: Bench) -> Section:
    """Counts the hand audit (AUDIT_FILE) of the questions the last `study` run kept, with and
    without the answer-span step, on the essays read before (the check was changed after
    reading their questions) and on the fresh ones."""
    section = Section("study_audit", "Study aids: hand audit of the kept practice questions")
    if not KEPT_FILE.exists():
        section.skipped = f"no {KEPT_FILE.relative_to(ROOT)}: run `--only study` first"
        return section
    kept = [json.loads(line) for line in KEPT_FILE.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    judged = {}
    if AUDIT_FILE.exists():
        for line in AUDIT_FILE.read_text(encoding="utf-8").splitlines():
            if line.strip():
                j = json.loads(line)
                judged[(j["essay"], j["question"], j["answer"])] = j
    for fresh, label in ((True, "fresh essays"), (False, "essays read before")):
        mine = [q for q in kept if q.get("fresh", False) == fresh]
        read = [(q, judged[k]) for q in mine
                for k in [(q["essay"], q["question"], q["answer"])] if k in judged]
        passed = [(q, j) for q, j in read if q.get("span_check", "kept") == "kept"]
        section.rows += [
            Row(f"{label}: questions kept without the answer-span step, read by hand",
                f"{len(read)} of {len(mine)}"),
            Row("...whose cited sentence holds the stated answer",
                f"{sum(j['holds'] for _, j in read)} of {len(read)}"),
            Row("...whose stated answer is right for the question as asked: without / with "
                "the answer-span step",
                f"{sum(j['right'] for _, j in read)} of {len(read)} / "
                f"{sum(j['right'] for _, j in passed)} of {len(passed)}"),
        ]
    from assistant.runtime.span_model import MODEL_DIR

    calibration = json.loads((MODEL_DIR / "manifest.json").read_text())["figures"]["calibration"]
    at = calibration["kept_at_threshold"]
    section.rows += [
        Row("answer-span model on SQuAD training articles it never saw: exact match / F1 of its "
            "answer to right triples", f"{calibration['exact_match_right']:.1%} / "
            f"{calibration['f1_right']:.1%}"),
        Row(f"...kept at its threshold ({calibration['threshold']}): right / wrong answer stated "
            "/ answer absent / SQuAD 2.0 unanswerable",
            f"{at['right']:.1%} / {at['wrong']:.1%} / {at['absent']:.1%} / {at['unanswerable']:.1%}"),
    ]
    wrong = [(q, judged[k]) for q in kept for k in [(q["essay"], q["question"], q["answer"])]
             if k in judged and not (judged[k]["holds"] and judged[k]["right"])]
    if wrong:
        section.tables.append("\n".join(
            ["| essay | question | stated answer | why it is wrong | answer-span step |",
             "|---|---|---|---|---|"]
            + [f"| {j['essay']} | {j['question']} | {j['answer']} | {j.get('note', '')} | "
               f"{'kept' if q.get('span_check', 'kept') == 'kept' else 'dropped'}"
               f"{' (read: ' + q['span_answer'] + ')' if q.get('span_answer') else ''} |"
               for q, j in wrong]))
    lost = [(q, judged[k]) for q in kept for k in [(q["essay"], q["question"], q["answer"])]
            if k in judged and judged[k]["holds"] and judged[k]["right"]
            and q.get("span_check", "kept") != "kept"]
    if lost:
        section.tables.append("\n".join(
            ["| right questions the answer-span step dropped | stated answer | it read |",
             "|---|---|---|"]
            + [f"| {q['essay']}: {q['question']} | {q['answer']} | {q['span_answer']} "
               f"(margin {q['span_margin']}) |" for q, _ in lost]))
    section.notes.append(
        f"Judgments: {AUDIT_FILE.relative_to(ROOT)}, one per question of "
        f"{KEPT_FILE.relative_to(ROOT)} that was read: does the sentence the question cites hold "
        "the stated answer, and is that answer right for the question as worded (a question "
        "that another sentence answers differently, or that is ambiguous, counts as not right). "
        "Each question is judged before its answer-span verdict is looked at.")
    section.notes.append(
        "The answer-span rows come from its manifest (assistant/data/answer-span/manifest.json): "
        f"{calibration['cases']['right']:,} right (question, window, answer) triples, "
        f"{calibration['cases']['wrong']:,} with another question's answer from the same window "
        f"stated, {calibration['cases']['absent']:,} whose window lacks the answer, and "
        f"{calibration['cases']['unanswerable']} SQuAD 2.0 unanswerable questions; a triple is "
        "kept when the model's answer has the stated answer's words (token F1 >= 0.5) with a "
        "margin over 'no answer' at or above the threshold.")
    return section
