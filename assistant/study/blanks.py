"""What a practice question can ask for: the key sentences of a document, the answer each can give
(a name, a number, a short quotation or a rare phrase of the sentence), wrong choices for it,
and the fill-in-the-blank (cloze) question it makes without a language model.

Everything comes from the document's structure and words: key sentences are the thesis, the
claims and the evidence of the essay map; an answer is a span of the sentence itself; the wrong
choices of a multiple-choice question are spans of the same kind from other sentences that the
proving sentence does not contain, so the document itself says they are not the answer. Leaves
out asking the language model and checking its questions (writer.py, practice.py).
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.study.aids import EssayMap, Question
from assistant.study.essay import Essay, Sentence
from assistant.text import (
    STOPWORDS,
    blank_quotations,
    find_names,
    find_speaker,
    is_number_word,
    quotations,
    terms,
)

BLANK = "____"
CHOICES = 4  # a multiple-choice question offers the answer and up to three wrong choices
MIN_CHOICES = 3  # fewer make it a short-answer question
MAX_QUOTE_WORDS = 6  # a longer quotation is not a fair thing to type or pick
MAX_PHRASE_WORDS = 3
MIN_WORDS = 6  # shorter sentences make no question
MOSTLY_QUOTED = 0.5  # a sentence more than half quotation is the source's words, not the essay's
_TOKEN = re.compile(r"[^\W\d_][\w'’\-]*|\d+(?:[.,]\d+)*")
_KINDS = ("quote", "name", "number", "phrase")  # an answer of an earlier kind is preferred
# Words that open a noun phrase: a phrase answer is what follows one ("a ____ of the skin").
_DETERMINERS = frozenset("a an the this that these those his her its their our my your".split())


@dataclass(frozen=True)
class Span:
    """A possible answer: its kind, its text as the sentence writes it, and where it is."""

    kind: str  # "quote" | "name" | "number" | "phrase"
    text: str
    start: int  # offsets in the sentence; a quotation's include its quotation marks
    end: int
    weight: float = 0.0  # how specific it is to this sentence (rarer is better)


@dataclass(frozen=True)
class Draft:
    """A question to write about a key sentence: the sentence, the answer to ask for, and the
    wrong choices that go with it."""

    sentence: Sentence
    span: Span
    wrong: tuple[str, ...]
    context: str  # the sentence before it in its paragraph (pronouns point there)


class Vocabulary:
    """The document's words and spans, for weighing a span's rarity and finding wrong choices."""

    def __init__(self, essay: Essay) -> None:
        sentences = [s for p in essay.prose() for s in p]
        self.sentences = sentences
        counts = Counter(t for s in sentences for t in set(terms(s.plain())))
        self.idf = {t: math.log((1 + len(sentences)) / (1 + n)) + 1 for t, n in counts.items()}
        self.spans = {s.row: spans(s, self) for s in sentences}
        # how many sentences use a span: the main characters make the most plausible wrong names
        self.uses = Counter(key for found in self.spans.values()
                            for key in {_norm(span.text) for span in found})

    def weight(self, text: str) -> float:
        return max((self.idf.get(t, 0.0) for t in terms(text)), default=0.0)

    def wrong_choices(self, sentence: Sentence, span: Span, seed: str) -> tuple[str, ...]:
        """Spans of the same kind from other sentences that are not the answer according to the
        document: the proving sentence does not contain them, and they share no word with it."""
        own = set(terms(sentence.text)) | set(terms(span.text))
        found: dict[str, Span] = {}
        for other in self.sentences:
            if other.row == sentence.row:
                continue
            for candidate in self.spans[other.row]:
                key = _norm(candidate.text)
                if (candidate.kind != span.kind or key in found or not terms(candidate.text)
                        or set(terms(candidate.text)) & own
                        or f" {key} " in f" {_norm(sentence.text)} "):
                    continue
                if span.kind == "phrase" and len(candidate.text.split()) != len(span.text.split()):
                    continue
                found[key] = candidate
        pool = sorted(found.values(), key=lambda c: (-self.uses[_norm(c.text)], c.text))
        pool = pool[: 2 * CHOICES]
        random.Random(seed).shuffle(pool)
        return tuple(c.text for c in pool[: CHOICES - 1])


def spans(sentence: Sentence, vocabulary: Vocabulary | None = None) -> list[Span]:
    """The possible answers in a sentence, best first: short quotations, names (a quotation's
    speaker first), numbers, then its rarest phrase. Its citations are never an answer."""
    text = sentence.plain()
    quotes = quotations(text)
    out: list[Span] = []
    for body, start, end in quotes:
        words = body.strip(" ,.;:!?…").split()
        if 1 <= len(words) <= MAX_QUOTE_WORDS and end - start < len(text.strip()) / 2:
            out.append(Span("quote", body.strip(" ,.;:!?…"), start, end))
    bare = blank_quotations(text, quotes)
    found = find_names(bare)
    names = [n for n in _grouped(found, bare) if len(n.text) > 1 and not n.text.isupper()]
    speakers = {find_speaker(bare, found, s, e, 0) for _, s, e in quotes}
    names.sort(key=lambda n: not any(sp and sp in n.text for sp in speakers))
    out += names
    out += [Span("number", m.group(0), m.start(), m.end())
            for m in re.finditer(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])", bare)]
    out += _number_words(bare)
    taken = [(s.start, s.end) for s in out]
    phrase = _phrase(bare, taken, vocabulary)
    if phrase:
        out.append(phrase)
    if vocabulary is not None:
        out = [Span(s.kind, s.text, s.start, s.end, vocabulary.weight(s.text)) for s in out]
    return out


def cloze(draft: Draft) -> Question:
    """The key sentence with its answer blanked: a question needing no model, right by
    construction (the answer is the sentence's own words)."""
    sentence, span = draft.sentence, draft.span
    text = sentence.text
    prompt = " ".join((text[: span.start] + BLANK + text[span.end:]).split())
    if span.kind == "quote":  # keep the quotation marks around the blank
        prompt = " ".join((text[: span.start + 1] + BLANK + text[span.end - 1:]).split())
    return make_question(draft, prompt, "cloze")


def make_question(draft: Draft, prompt: str, origin: str) -> Question:
    """A Question for a draft: multiple choice when it has enough wrong choices."""
    ref = draft.sentence.ref()
    ident = hashlib.sha256(f"{ref.source}#{ref.start}-{ref.end}#{draft.span.text}#{origin}".encode())
    if len(draft.wrong) + 1 >= MIN_CHOICES:
        choices = [draft.span.text, *draft.wrong]
        random.Random(ident.hexdigest()).shuffle(choices)
        return Question(ident.hexdigest()[:12], "choice", origin, prompt, draft.span.text, ref,
                        tuple(choices))
    return Question(ident.hexdigest()[:12], "short", origin, prompt, draft.span.text, ref)


def drafts(essay: Essay, essay_map: EssayMap, limit: int) -> list[Draft]:
    """Up to `limit` key sentences with their answers: the thesis, claims and evidence first,
    spread over the paragraphs, each answer asked for once."""
    vocabulary = Vocabulary(essay)
    key = _ranked(essay, essay_map, vocabulary)
    used: set[str] = set()
    out = []
    for sentence in key:
        if len(out) == limit:
            break
        span = next((s for s in _by_preference(vocabulary.spans[sentence.row])
                     if _norm(s.text) not in used), None)
        if span is None:
            continue
        used.add(_norm(span.text))
        paragraph = essay.paragraphs[sentence.paragraph - 1]
        before = [s.text for s in paragraph if s.end <= sentence.start][-1:]
        seed = f"{sentence.start}-{span.text}"
        out.append(Draft(sentence, span, vocabulary.wrong_choices(sentence, span, seed),
                         " ".join(before)))
    return sorted(out, key=lambda d: d.sentence.start)


def _by_preference(found: Sequence[Span]) -> list[Span]:
    return sorted(found, key=lambda s: _KINDS.index(s.kind))  # stable: a speaker first


def _ranked(essay: Essay, essay_map: EssayMap, vocabulary: Vocabulary) -> list[Sentence]:
    """Key sentences, most important first, one per paragraph before any paragraph's second."""
    rank: dict[tuple[int, int], int] = {}
    if essay_map.thesis:
        rank[(essay_map.thesis.start, essay_map.thesis.end)] = 3
    for claim in essay_map.claims:
        rank.setdefault((claim.sentence.start, claim.sentence.end), 2)
        for e in claim.evidence:
            rank.setdefault((e.start, e.end), 2)
    usable = [s for s in vocabulary.sentences
              if s.words >= MIN_WORDS and not s.is_question() and vocabulary.spans[s.row]
              and s.quoted_share() <= MOSTLY_QUOTED]
    by_paragraph: dict[int, list[Sentence]] = {}
    for s in sorted(usable, key=lambda s: (-rank.get((s.start, s.end), 0), s.start)):
        by_paragraph.setdefault(s.paragraph, []).append(s)
    rounds: list[Sentence] = []
    depth = max((len(v) for v in by_paragraph.values()), default=0)
    for i in range(depth):
        layer = [v[i] for v in by_paragraph.values() if len(v) > i]
        rounds += sorted(layer, key=lambda s: (-rank.get((s.start, s.end), 0), _spread(s, essay)))
    return rounds


def _spread(sentence: Sentence, essay: Essay) -> float:
    """Orders a round's sentences so that the first few come from all over the document."""
    count = max(1, len(essay.paragraphs))
    position = (sentence.paragraph - 1) / count
    # bit-reversal order of the position: 0, 1/2, 1/4, 3/4, ...
    bits = int(position * 1024)
    return int(f"{bits:010b}"[::-1], 2)


def _grouped(found: list[tuple[str, int]], text: str) -> list[Span]:
    """Capitalized words next to each other as one name ("Madame Marie-Claude", "Kathy H.")."""
    groups: list[list[tuple[str, int]]] = []
    for word, at in found:
        if groups:
            last_word, last_at = groups[-1][-1]
            between = text[last_at + len(last_word): at]
            if between.strip(" .") == "" and len(between) <= 2:
                groups[-1].append((word, at))
                continue
        groups.append([(word, at)])
    out = []
    for group in groups:
        start = group[0][1]
        end = group[-1][1] + len(group[-1][0])
        if len(group[-1][0]) == 1 and text[end: end + 1] == ".":  # an initial
            end += 1
        out.append(Span("name", text[start:end], start, end))
    return out


def _number_words(text: str) -> list[Span]:
    """Numbers written as words ("seventy thousand"), as one span each."""
    out, run = [], []
    for m in _TOKEN.finditer(text):
        parts = m.group(0).lower().split("-")
        if all(is_number_word(p) for p in parts) and m.group(0).lower() not in ("one", "zero"):
            run.append(m)
            continue
        if run:
            out.append(Span("number", text[run[0].start(): run[-1].end()], run[0].start(),
                            run[-1].end()))
        run = []
    if run:
        out.append(Span("number", text[run[0].start(): run[-1].end()], run[0].start(), run[-1].end()))
    return out


def _phrase(text: str, taken: list[tuple[int, int]], vocabulary: Vocabulary | None) -> Span | None:
    """The sentence's most specific noun phrase: up to three lower-case content words right after
    a determiner ("an auto-genetic humanity", "the lowest class"), not part of another span."""
    tokens = list(_TOKEN.finditer(text))
    best: tuple[float, Span] | None = None
    for i, opener in enumerate(tokens[:-1]):
        if opener.group(0).lower() not in _DETERMINERS:
            continue
        run: list[re.Match[str]] = []
        for m in tokens[i + 1: i + 1 + MAX_PHRASE_WORDS]:
            word = m.group(0)
            previous = run[-1] if run else opener
            if (text[previous.end(): m.start()].strip() or word.lower() in STOPWORDS
                    or not word[0].isalpha() or not word.islower() or len(word) < 3
                    or any(s <= m.start() < e for s, e in taken)):
                break
            run.append(m)
        after = tokens[i + 1 + len(run)] if i + 1 + len(run) < len(tokens) else None
        if (not run or "--" in text[run[0].start(): run[-1].end()]
                or (after is not None and not text[run[-1].end(): after.start()].strip()
                    and after.group(0).lower() not in STOPWORDS)):
            continue  # no words, or the phrase runs on past three words
        weight = sum(vocabulary.weight(m.group(0)) if vocabulary else len(m.group(0)) for m in run)
        if best is None or weight > best[0]:
            best = (weight, Span("phrase", text[run[0].start(): run[-1].end()], run[0].start(),
                                 run[-1].end()))
    return best[1] if best else None


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower().replace("’", "'")))
