"""Quote on essays nobody tuned to, with questions in a student's own words (`--only heldout`).

bench/data/heldout/ holds three public-domain essays and their questions, written before the
learned reader was built (see its README); bench/data/essay-questions.jsonl does the same for the
shipped essay. Each essay gets its own index. Three pipelines answer the same questions:
- the product with its learned reader (the default, `ASSISTANT_SCORING=learned`),
- the product with the hand-set rules it replaced (`ASSISTANT_SCORING=rules`),
- the plain LangChain pipeline, its top chunk taken as the answer (it never refuses).
Held out: these figures are reported as they fall; nothing is tuned on them.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.context import Bench
from bench.essay import QUESTIONS as ESSAY_QUESTIONS
from bench.results import ROOT, Row, Section, percent

HELDOUT = ROOT / "bench" / "data" / "heldout"


def sets(b: Bench) -> list[tuple[str, Path, Path]]:
    """(name, essay, questions) of each held-out essay, then the shipped essay's questions."""
    found = [(q.name.removesuffix("-questions.jsonl"), HELDOUT / q.name.replace("-questions.jsonl",
              ".txt"), q) for q in sorted(HELDOUT.glob("*-questions.jsonl"))]
    return [*found, ("shipped essay", b.essay_path, ESSAY_QUESTIONS)]


def heldout(b: Bench) -> Section:
    """Quote (learned and rules) and the LangChain baseline on each held-out set (a few minutes)."""
    from assistant.assistant import build_documents
    from bench import baseline

    section = Section("heldout", "Held-out essays, questions in a student's own words (Quote)")
    totals: dict[str, dict[str, float]] = {}
    table = ["| set | questions (answerable / not) | pipeline | holds the answer | answerable "
             "refused | not answerable, refused |", "|---|---|---|---|---|---|"]
    for name, essay, questions in sets(b):
        index_dir = b.workdir / f"heldout-{name.replace(' ', '-')}"
        build_documents([essay], index_dir, b.settings, b.embedder)
        rows = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines()
                if line.strip()]
        answerable = [r for r in rows if r.get("answerable", True) and r.get("answers")]
        size = f"{len(rows)} ({len(answerable)} / {len(rows) - len(answerable)})"
        for scoring in ("learned", "rules"):
            overall = _quote(b, questions, index_dir, scoring)
            figures = [overall["contains"], overall["answerable_refused_rate"],
                       overall["refusal_recall"]]
            _add(totals, f"product, {scoring}", figures, len(answerable), len(rows) - len(answerable))
            table.append(f"| {name} | {size} | product ({scoring}) | " + " | ".join(
                f"{100 * f:.1f}%" for f in figures) + " |")
        for scoring in ("learned", "rules"):
            ranked = _never_refusing(b, index_dir, answerable, scoring)
            _add(totals, f"product, {scoring}, never refusing (ranking alone)", [ranked, 0.0, 0.0],
                 len(answerable), len(rows) - len(answerable))
            table.append(f"| {name} | {size} | product ({scoring}, never refusing) | "
                         f"{100 * ranked:.1f}% | 0.0% | 0.0% |")
        store, _ = baseline.build_store([essay.read_text(encoding="utf-8")], b.lc_embeddings)
        held = sum(any(a.lower() in baseline.retrieve(store, r["question"], k=1)[0].lower()
                       for a in r["answers"]) for r in answerable)
        _add(totals, "LangChain top chunk", [held / len(answerable), 0.0, 0.0], len(answerable),
             len(rows) - len(answerable))
        table.append(f"| {name} | {size} | LangChain top chunk | {100 * held / len(answerable):.1f}% "
                     "| 0.0% | 0.0% |")
    for label, figures in totals.items():
        target = label == "product, learned"
        n, m = figures["n"], figures["m"]
        section.rows += [
            percent(f"{label}: holds the expected answer (of {n:.0f} answerable, all sets)",
                    figures["contains"] / n, **({"target": (">=", 80.0)} if target else {})),
            percent(f"{label}: answerable questions refused",
                    figures["refused"] / n, **({"target": ("<=", 5.0)} if target else {})),
            percent(f"{label}: questions the essay does not answer, refused (of {m:.0f})",
                    figures["recall"] / m, **({"target": (">=", 85.0)} if target else {})),
        ]
    section.rows.append(Row("sets", ", ".join(name for name, _, _ in sets(b))))
    section.tables.append("\n".join(table))
    section.notes.append(
        "Holds the answer: the answer text contains one of the question's expected answers (case "
        "and spacing ignored, metrics.py `contains`); a refusal holds nothing. The baseline's top "
        "chunk is 1,000 characters, the product's answer at most 600, so holding is easier for "
        "the baseline. Held out: written 2026-12-06 before the reader was trained; nothing was "
        "tuned on these questions.")
    return section


def _never_refusing(b: Bench, index_dir: Path, answerable: list[dict], scoring: str) -> float:
    """Share of answerable questions whose answer holds the expected words when the refusal
    threshold is set to zero: how well a scoring ranks, apart from when it refuses."""
    from assistant import Assistant
    from assistant.answering import extractive
    from assistant.evaluation.metrics import score_record
    from assistant.reader import Reader

    settings = b.settings.with_(index_dir=index_dir, scoring=scoring)
    assistant = Assistant.from_settings(settings, embedder=b.embedder)
    if assistant.reader is not None:
        shipped = assistant.reader
        assistant.reader = Reader(shipped.cross, shipped.combiner, 0.0, 0.0)
    threshold, extractive.MIN_SCORE = extractive.MIN_SCORE, float("-inf")  # the rules' threshold
    try:
        answers = assistant.ask_many([r["question"] for r in answerable])
    finally:
        extractive.MIN_SCORE = threshold
    return sum(bool(score_record({**a.to_dict(), "gold": {"answers": r["answers"]}})["contains"])
               for a, r in zip(answers, answerable)) / len(answerable)


def _quote(b: Bench, questions: Path, index_dir: Path, scoring: str) -> dict:
    from assistant import EvalOptions, run_eval

    run_dir = b.workdir / f"{questions.stem}-{index_dir.name}-{scoring}"
    options = EvalOptions(questions=questions, run_dir=run_dir, index_dir=index_dir,
                          mode="extractive", restart=True, progress=False)
    return run_eval(b.settings.with_(scoring=scoring), options)["metrics"]["overall"]


def _add(totals: dict, label: str, figures: list[float], n: int, m: int) -> None:
    entry = totals.setdefault(label, dict.fromkeys(("contains", "refused", "recall", "n", "m"), 0.0))
    entry["contains"] += figures[0] * n
    entry["refused"] += figures[1] * n
    entry["recall"] += figures[2] * m
    entry["n"] += n
    entry["m"] += m


def reader_card(b: Bench) -> Section:
    """What the shipped reader reached on its training-side calibration split (its manifest)."""
    from assistant.reader import MODEL_DIR, read_manifest

    manifest = read_manifest(MODEL_DIR)
    figures = manifest["figures"]
    calibration = figures["calibration"]
    section = Section("reader", "The trained reader: calibration on training-side data")
    section.rows += [
        percent("best sentence first: combiner", calibration["top1_combiner"]),
        percent("best sentence first: bi-encoder cosine alone", calibration["top1_cosine_alone"]),
        percent("best sentence first: cross-encoder alone", calibration["top1_cross_encoder_alone"]),
        percent("answerable refused at the shipped threshold", calibration["answerable_refused"]),
        percent("SQuAD 2.0 unanswerable refused", calibration["unanswerable_refused"]),
        percent("another article's questions refused", calibration["off_article_refused"]),
        Row("cross-encoder training", f"{figures['cross_encoder_training']['pairs']:,} pairs in "
            f"{figures['cross_encoder_training']['seconds'] / 60:.0f} min "
            f"({figures['cross_encoder_training']['pairs_per_second']} pairs/s)"),
    ]
    lines = ["| answerable refused | threshold | SQuAD 2.0 unanswerable refused | another "
             "article's questions refused |", "|---|---|---|---|"]
    for point in calibration.get("trade_off", []):
        lines.append(f"| {100 * point['answerable_refused']:.1f}% | {point['threshold']:.3f} | "
                     f"{100 * point.get('unanswerable_refused', 0):.1f}% | "
                     f"{100 * point['off-article_refused']:.1f}% |")
    section.tables.append("\n".join(lines))
    questions = calibration["questions"]
    section.notes.append(
        f"Calibration split: {len(manifest['splits']['calibration_articles'])} training articles "
        f"the cross-encoder and the combiner never saw ({questions.get('answerable', 0)} "
        f"answerable questions, half of them with the words they share with their answer's "
        f"sentence dropped; {questions.get('unanswerable', 0)} SQuAD 2.0 unanswerable; "
        f"{questions.get('off-article', 0)} questions of another article). Best sentence first "
        "counts answerable questions whose answer is among the candidates. Reproduce: `make "
        "reader` (seeded), which writes these figures into assistant/data/reader/manifest.json.")
    return section
