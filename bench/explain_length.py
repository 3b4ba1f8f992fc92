"""Explain with the whole document in the prompt versus retrieved passages, by document length.

A development measurement on training data (SQuAD 1.1 train, ../shared/data), never on an
evaluation set: it chose `Settings.llm_whole_document_tokens`, the longest prompt Explain keeps
whole. For each length, one training article cut to that many words (whole paragraphs) is indexed,
and its first questions whose answers lie in the kept text are answered in Explain mode both ways
with the same model; an answer counts when it contains a gold answer (SQuAD-normalized) and was
generated (not a quotation fallback). About 8 minutes on 2 cores.
"""

from __future__ import annotations

import gzip
import json

from bench.context import Bench
from bench.generative import _stream_timed
from bench.quality import squad_contains
from bench.results import ROOT, Row, Section

TRAIN = ROOT.parent / "shared" / "data" / "squad-1.1-train.json.gz"
LENGTHS = (1000, 2000, 3000, 4500)  # words
ARTICLES = (20, 21, 22, 23)  # one training article per length (long enough for 4,500 words)
QUESTIONS = 12


def explain_length(b: Bench) -> Section:
    from assistant import Assistant, ModelError
    from assistant.generation.generate import Generator
    from assistant.generation.prompting import load_prompts
    from assistant.index import load_index
    from assistant.runtime.llm import build_chat_model

    section = Section("explain_length",
                      "Explain: whole document in the prompt or retrieved passages, by length "
                      "(development set: SQuAD 1.1 train)")
    settings = b.settings.with_(llm_backend="llamacpp", mode="generative", llm_timeout_s=600.0)
    try:
        model = build_chat_model(settings).load()
    except (ModelError, ImportError) as exc:
        section.skipped = f"no local language model ({exc})"
        return section
    prompts = load_prompts(settings.prompts_dir)
    with gzip.open(TRAIN, "rt", encoding="utf-8") as f:
        articles = json.load(f)["data"]
    for words, number in zip(LENGTHS, ARTICLES):
        title, text, questions = _cut(articles[number], words)
        directory = b.workdir / "explain-length" / str(words)
        from assistant.assistant import build_texts

        build_texts([(title, text)], directory, settings, b.embedder)
        index = load_index(directory, b.embedder)
        results = {}
        for mode, limit in (("whole", settings.llm_whole_document_tokens), ("passages", 0)):
            mode_settings = settings.with_(llm_whole_document_tokens=limit)
            generator = Generator(model, prompts, index.chunks, mode_settings)
            generator.warm_up()
            assistant = Assistant(mode_settings, index, b.embedder, generator=generator)
            runs = [(_stream_timed(assistant, q), golds) for q, golds in questions]
            results[mode] = (generator.whole_document, runs)
        whole_ok, whole_runs = results["whole"]
        tokens = len(model.prefix_tokens(Generator(model, prompts, index.chunks, settings)._prefix)
                     ) if whole_ok else None
        section.rows.append(Row(f"**{title}, {len(text.split())} words**",
                                f"{tokens} prompt tokens" if tokens else "does not fit"))
        for mode in ("whole", "passages"):
            _, runs = results[mode]
            held = sum(_holds(run, golds) for run, golds in runs)
            generated = sum(run.final.verification is not None for run, _ in runs)
            firsts = sorted(r.first for r, _ in runs if r.first and r.final.verification is not None)
            section.rows.append(Row(
                f"...{'whole document' if mode == 'whole' else 'retrieved passages'}: "
                "generated answers holding the gold answer / generated / asked",
                f"{held} / {generated} / {len(runs)}", value=held,
                baseline=f"first word p50 {firsts[len(firsts) // 2]:.2f} s" if firsts else ""))
    section.notes.append(
        "Articles 20-23 of SQuAD 1.1 train (one per length), cut at whole paragraphs; the first "
        f"{QUESTIONS} questions whose answers lie in the kept text. Refused questions count as "
        "asked but not generated (both ways refuse the same ones: the reader decides before the "
        "model is called).")
    return section


def _holds(run, golds) -> bool:  # noqa: ANN001
    final = run.final
    if final is None or final.verification is None:
        return False
    return squad_contains({"answer": final.answer, "gold": {"answers": golds}})


def _cut(article: dict, words: int) -> tuple[str, str, list[tuple[str, list[str]]]]:
    paragraphs, count, questions = [], 0, []
    for paragraph in article["paragraphs"]:
        if count >= words:
            break
        paragraphs.append(paragraph["context"])
        count += len(paragraph["context"].split())
        questions += [(qa["question"], [a["text"] for a in qa["answers"]])
                      for qa in paragraph["qas"]]
    # spread over the text: every n-th question, not only the first paragraph's
    step = max(1, len(questions) // QUESTIONS)
    return article["title"], "\n\n".join(paragraphs), questions[::step][:QUESTIONS]
