"""Build the study aids of every document of an index: map, practice questions, suggestions.

The facade hands in what this needs and nothing more: the index, a function that asks a question
of the product's quoting answerer, and the question writer (None without a language model).
Progress is yielded as the model's questions are checked, so a front end can show them as they
come; the finished StudyAids is yielded last. Leaves out keeping them on disk (store.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from assistant.index import LoadedIndex
from assistant.runtime.span_model import SpanModel
from assistant.study import practice
from assistant.study.aids import DocumentAids, EssayMap, Progress, StudyAids
from assistant.study.essay import Essay
from assistant.study.map import build_map
from assistant.study.suggest import suggestions
from assistant.study.writer import Writer


def essay_map(index: LoadedIndex, source: str) -> EssayMap:
    """One document's map alone (no model, no questions): milliseconds."""
    return build_map(Essay.from_index(index, source))


def build(index: LoadedIndex, *, ask: practice.Ask, writer: Writer | None,
          built_from: dict[str, Any], without_model: str | None = None,
          spans: SpanModel | None = None, timeout_s: float = 60.0) -> Iterator[Progress | StudyAids]:
    """Yield Progress while the model's questions are written and checked, then the StudyAids.
    `without_model`: why no writer was given, told beside fill-in-the-blank questions; `spans`:
    the answer-span model that ends the check of the writer's questions."""
    started = time.perf_counter()
    documents = []
    for source in index.documents:
        essay = Essay.from_index(index, source)
        the_map = build_map(essay)
        made = None
        for item in practice.build(essay, the_map, writer=writer, ask=ask, spans=spans,
                                   timeout_s=timeout_s):
            if isinstance(item, Progress):
                yield item
            else:
                made = item
        assert made is not None
        notice = made.notice
        if notice is None and writer is None and made.questions and without_model:
            notice = f"Fill-in-the-blank questions from the essay's key sentences: {without_model}."
        documents.append(DocumentAids(
            source, the_map, made.questions, notice,
            suggestions(the_map, made.questions, ask, len(essay.prose()))))
    yield StudyAids(tuple(documents), built_from, time.perf_counter() - started)
