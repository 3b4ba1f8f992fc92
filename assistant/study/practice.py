"""Practice questions: written by the language model and kept only when the document agrees, else
fill-in-the-blank questions from the key sentences; and judging a student's answer to one.

The check asks each written question of the product's own answerer (the facade's quoting path,
handed in as `ask`) and keeps it only when that answer cites the passage the question was made
from and quotes the stated answer, the stated answer's words are in the sentence it came from,
the model, asked it back with the sentence, gives that answer, and (the strict check) the trained
answer-span model, reading the sentence with its neighbours, answers it with the stated answer.
None of them sees a badly formed question or a false premise (docs/study.md). A question the
document does not answer, or answers from elsewhere or differently, is dropped, and its sentence
gets a fill-in-the-blank question instead. When the model fails or its time runs out midway, the
questions verified so far are kept and the rest are fill-in-the-blank, with a notice. Leaves out
choosing sentences and answers (blanks.py) and the model (writer.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from assistant.errors import ModelError
from assistant.runtime.span_model import AGREE, Span, SpanModel, agree_f1
from assistant.schema import Answer
from assistant.study.aids import EssayMap, Progress, Question, Ref, Verdict
from assistant.study.blanks import Draft, cloze, drafts, make_question
from assistant.study.essay import Essay, Sentence
from assistant.study.map import too_short
from assistant.study.writer import Writer
from assistant.text import find_numbers, is_number_word, strip_markers, terms

MAX_QUESTIONS = 10  # per document
# Time the model may take for one document's questions (the target is under 2 minutes on 2
# cores); what is not written by then is fill-in-the-blank.
MODEL_BUDGET_S = 100.0
MIN_CALL_S = 5.0  # a call with less time than this left is not started
ENOUGH = 2 / 3  # a typed answer is right when it has this share of the answer's words

NOT_IN_SENTENCE = "its stated answer is not in the sentence it was made from"
GIVES_AWAY = "the question gives its answer away"
NOT_ANSWERED = "the document does not answer it"
ELSEWHERE = "the document answers it from another passage"
DIFFERENTLY = "the document's answer does not hold the stated answer"
DUPLICATE = "it repeats an earlier question"
UNUSABLE = "the model wrote no usable question"
OFF_PASSAGE = "most of the question's words are not in the passage"
ROUND_TRIP = "answering it from the sentence, the model gives another answer"
NO_SPAN = "the answer-span model finds no answer to it around its sentence"
OTHER_SPAN = "the answer-span model reads another answer to it around its sentence"
MIN_SHARED = 0.5  # of the question's content words that its passage must contain

Ask = Callable[[str], Answer]


@dataclass(frozen=True)
class Attempt:
    """One question the model wrote, and why the check dropped it (None: kept)."""

    draft: Draft
    question: str | None
    problem: str | None
    span: Span | None = None  # the answer-span model's reading, when the check came that far


@dataclass(frozen=True)
class Practice:
    """A document's practice questions and what to tell the student about them."""

    questions: tuple[Question, ...]
    notice: str | None
    attempts: tuple[Attempt, ...] = ()


def check(question: str, answer: str, ref: Ref, ask: Ask, *, passage: str | None = None,
          confirm: Callable[[str], str | None] | None = None,
          span: Callable[[str], Span] | None = None, trusted: float = 0.0) -> str | None:
    """Why a written question must be dropped, or None when the document bears it out: its
    answer is in its sentence and not in the question, most of its words are in the sentence's
    `passage`, the product's answerer, asked it, quotes that passage with the answer in the
    quotation, `confirm` (the model answering it from the sentence) gives the same answer, and
    `span` (the answer-span model reading the sentence and its neighbours) finds an answer with
    a margin of at least `trusted` and it is the stated one."""
    if not contains(ref.text, answer):
        return NOT_IN_SENTENCE
    if set(terms(answer)) <= set(terms(question)):
        return GIVES_AWAY
    asked = set(terms(question))
    if passage is not None and len(asked & set(terms(passage))) < MIN_SHARED * len(asked):
        return OFF_PASSAGE
    said = ask(question)
    if said.refused or not said.citations:
        return NOT_ANSWERED
    if not any(c.chunk.source == ref.source and c.chunk.start <= ref.start and ref.end <= c.chunk.end
               for c in said.citations):
        return ELSEWHERE
    if not contains(strip_markers(said.answer), answer):
        return DIFFERENTLY
    if confirm is not None and not agree(confirm(question), answer):
        return ROUND_TRIP
    if span is not None:
        found = span(question)
        if found.margin < trusted:
            return NO_SPAN
        if agree_f1(found.text, answer) < AGREE:
            return OTHER_SPAN
    return None


def agree(given: str | None, answer: str) -> bool:
    """Whether two answers name the same thing: the content words of one hold the other's."""
    if not given:
        return False
    mine, theirs = set(terms(answer)), set(terms(given))
    return bool(mine & theirs) and (mine <= theirs or theirs <= mine)


def build(essay: Essay, essay_map: EssayMap, *, writer: Writer | None, ask: Ask,
          spans: SpanModel | None = None, limit: int = MAX_QUESTIONS,
          budget_s: float = MODEL_BUDGET_S, timeout_s: float = 60.0) -> Iterator[Progress | Practice]:
    """Yield a Progress after each question the model writes, then the Practice. `spans`: the
    answer-span model the check ends with (None: the check stops at the model's round trip)."""
    short = too_short(essay)
    if short:
        yield Practice((), short.replace("study aids", "practice questions"))
        return
    chosen = drafts(essay, essay_map, limit)
    if not chosen:
        yield Practice((), "No practice questions could be made: no sentence of "
                           f"{essay.source} has a name, a number, a quotation or a phrase to ask about.")
        return
    if writer is None:
        yield Practice(tuple(cloze(d) for d in chosen), None)
        return
    deadline = time.monotonic() + budget_s
    out: list[Question] = []
    attempts: list[Attempt] = []
    failed = None
    asked: set[str] = set()
    for number, draft in enumerate(chosen):
        left = deadline - time.monotonic()
        if left < MIN_CALL_S:
            failed = f"the language model ran out of time ({budget_s:.0f} s)"
        if failed:
            out += [cloze(d) for d in chosen[number:]]
            break
        try:
            written = writer.write(draft, min(timeout_s, left))
        except ModelError as exc:
            failed = str(exc)
            out += [cloze(d) for d in chosen[number:]]
            break
        def limit() -> float:
            return max(1.0, min(timeout_s, deadline - time.monotonic()))

        try:
            if written is not None and set(terms(draft.span.text)) <= set(terms(written)):
                # it gave the answer away: once more, told so
                written = writer.write(draft, limit(), previous=written) or written
            around = window(essay, draft.sentence)
            read = None if spans is None else (lambda q, c=around: spans.answer(q, c))
            problem = UNUSABLE if written is None else (
                DUPLICATE if _key(written) in asked else check(
                    written, draft.span.text, draft.sentence.ref(), ask,
                    passage=draft.sentence.chunk.text,
                    confirm=lambda q, d=draft: writer.answer(d, q, limit()),
                    span=read, trusted=spans.threshold if spans else 0.0))
        except ModelError as exc:
            failed = str(exc)
            out += [cloze(d) for d in chosen[number:]]
            break
        reached = read is not None and problem in (None, NO_SPAN, OTHER_SPAN)
        attempts.append(Attempt(draft, written, problem, read(written) if reached else None))
        if problem is None:
            asked.add(_key(written))
            out.append(make_question(draft, written, "model"))
        else:
            out.append(cloze(draft))
        yield Progress(essay.source, number + 1, len(chosen),
                       tuple(q for q in out if q.origin == "model"))
    notice = None
    if failed:
        written = sum(a.problem is None for a in attempts)
        notice = (f"{failed[:1].upper()}{failed[1:]} after {len(attempts)} of {len(chosen)} "
                  f"questions; {written} written by it passed the check, and the others are "
                  "fill-in-the-blank questions from the essay's key sentences.")
    yield Practice(tuple(out), notice, tuple(attempts))


def window(essay: Essay, sentence: Sentence) -> str:
    """The sentence with the one before and the one after it in its paragraph, as the
    answer-span model was trained to read."""
    paragraph = essay.paragraphs[sentence.paragraph - 1]
    at = next(i for i, s in enumerate(paragraph) if s.row == sentence.row)
    first, last = paragraph[max(0, at - 1)], paragraph[min(len(paragraph) - 1, at + 1)]
    return essay.text[first.start : last.end]


def grade(question: Question, given: str) -> Verdict:
    """A student's answer judged: a choice must be the answer; typed words must hold most of the
    answer's words (numbers as digits or words alike) and not much else."""
    given = (given or "").strip()
    if question.kind == "choice" or _norm(given) == _norm(question.answer):
        right = _norm(given) == _norm(question.answer)
    else:
        numbers = find_numbers(question.answer)
        want = {t for t in terms(question.answer) if not (t.isdigit() or is_number_word(t))}
        got = set(terms(given))
        right = (numbers <= find_numbers(given)
                 and len(want & got) >= round(ENOUGH * len(want))
                 and len(got - want) <= max(2, len(want)) and bool(got))
    return Verdict(question.id, right, given, question.answer, question.ref)


def contains(text: str, phrase: str) -> bool:
    """Whether the phrase's words appear in the text, in order (case, quotes and punctuation
    aside)."""
    wanted = _norm(phrase)
    return bool(wanted) and f" {wanted} " in f" {_norm(text)} "


def _norm(text: str) -> str:
    """Lower-case words without punctuation or a possessive 's ("Shelley’s" -> "shelley")."""
    text = re.sub(r"'s\b", "", text.lower().replace("’", "'"))
    return " ".join(re.findall(r"[a-z0-9]+", text.replace("'", "")))


def _key(question: str) -> str:
    return " ".join(terms(question))
