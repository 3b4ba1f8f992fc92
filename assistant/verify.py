"""Check every generated sentence against the passages it cites, and compose what may be shown.

A sentence is verified when it cites at least one valid passage, every quotation in it appears
verbatim in a cited passage, every name and number in it appears in the cited passages, and a
name next to a quotation (its speaker) appears in a passage that holds that quotation.
Matching ignores only whitespace, quote styles and the punctuation at the edges of a quotation.

This is a lexical check, not an entailment model: it catches wrong speakers, misquotations and
invented names or numbers, not a paraphrase that reverses the meaning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.schema import Chunk, Citation, SentenceCheck

# [3], [1, 2], [1][2], [Passage 3]
_MARKER = re.compile(r"\s*\[(?:passages?\s*)?(\d+(?:\s*[,;]\s*\d+)*)\]", re.IGNORECASE)
_QUOTE = re.compile(r"“([^”]*)”|\"([^\"]*)\"")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*")
_CAPITALIZED = re.compile(r"\b[A-Z][A-Za-z]*(?:['’\-][A-Za-z]+)*")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")
_ELLIPSIS = re.compile(r"\.\.\.|…")
_TERMINAL = ".!?…"
_TITLES = {"Mr", "Mrs", "Ms", "Dr", "St", "Prof", "vs", "eg", "ie", "cf"}
_CLOSERS = "\"”’')"
_SPEECH_VERBS = {"says", "said", "asks", "asked", "states", "stated", "writes", "wrote",
                 "tells", "told", "replies", "replied", "explains", "explained", "declares",
                 "reveals", "exclaims", "adds", "notes", "admits", "cries"}
_NUMBER_WORDS = {
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
    "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand",
    "million", "billion",
}
_SMALL_NUMBERS = {
    word: value for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen".split())
} | {word: 10 * (i + 2) for i, word in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split())}
# Capitalized mid-sentence without being names (after a colon, in titles, "I").
_COMMON = {
    "i", "i'm", "i've", "i'd", "i'll", "a", "an", "the", "this", "that", "these", "those", "it",
    "in", "on", "at", "of", "for", "and", "but", "or", "as", "so", "yes", "no", "he", "she",
    "they", "we", "you", "his", "her", "their", "our", "its", "my", "however", "also", "overall",
    "according", "passage", "passages", "essay", "page", "pages", "question", "answer", "note",
    "mr", "mrs", "ms", "dr", "chapter", "part", "book", "novel", "author", "narrator",
}
# Function words left out when measuring how much of a sentence its passages support.
_STOPWORDS = set(
    "a about above after again against all also am an and any are as at be because been before "
    "being below between both but by can could did do does doing down during each few for from "
    "further had has have having he her here hers herself him himself his how i if in into is it "
    "its itself just me more most my myself no nor not now of off on once only or other our ours "
    "out over own same she should so some such than that the their theirs them themselves then "
    "there these they this those through to too under until up very was we were what when where "
    "which while who whom why will with would you your yours "
    "one "
    # words for talking about a text, not claims about it
    "essay text passage passages author novel book story page pages line lines word words quote "
    "quotes quoted says said say according explains describes shows suggests means calls called "
    "call writes wrote write states argues claims refers uses used appears appear mentions "
    "mentioned".split()
)
MIN_SUPPORT = 0.5  # share of a sentence's content words that must occur in its cited passages


@dataclass(frozen=True)
class Verified:
    """An answer after verification: what to display, what it cites, and how each sentence fared."""

    text: str  # verified sentences only, markers renumbered 1..m
    citations: tuple[Citation, ...]
    checks: tuple[SentenceCheck, ...]  # every generated sentence, shown or not
    removed: int  # sentences left out because they failed

    @property
    def verified_count(self) -> int:
        return sum(1 for c in self.checks if c.verified)


def normalize(text: str) -> str:
    """Unify quote styles and whitespace, the only differences a verbatim match forgives."""
    text = text.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'")
    text = _ELLIPSIS.sub("...", text)
    return " ".join(text.split())


def split_sentences(text: str) -> list[str]:
    """Split generated text into sentences, keeping quotations and trailing [n] markers whole."""
    sentences: list[str] = []
    for line in text.splitlines():
        sentences.extend(_split_line(line))
    return [s for s in sentences if re.search(r"[A-Za-z0-9]", _MARKER.sub("", s))]


def _split_line(line: str) -> list[str]:
    out, start, in_quote, i = [], 0, False, 0
    while i < len(line):
        ch = line[i]
        if ch == "“":
            in_quote = True
        elif ch == "”":
            in_quote = False
        elif ch == '"':
            in_quote = not in_quote
        ends_here = ch in _TERMINAL and not in_quote
        # a quotation that ends with its own full stop also ends the sentence: ... trash.”
        if ch in "”\"" and not in_quote and i > 0 and line[i - 1] in _TERMINAL:
            ends_here = True
        if ends_here and not _is_initial(line, i):
            j = i + 1
            while j < len(line) and line[j] in _CLOSERS:
                j += 1
            marker = _MARKER.match(line, j)
            while marker:
                j = marker.end()
                marker = _MARKER.match(line, j)
            if j < len(line) and line[j] in ".!?":  # "... [2]."
                j += 1
            if j >= len(line) or (line[j].isspace() and _starts_sentence(line[j:])):
                out.append(line[start:j].strip())
                start, i = j, j
                in_quote = False
                continue
        i += 1
    if line[start:].strip():
        out.append(line[start:].strip())
    return out


def _is_initial(line: str, i: int) -> bool:
    """A full stop after an initial (Kathy H.) or a title (Mr.) rarely ends a sentence."""
    if line[i] != ".":
        return False
    word = re.search(r"(\w+)$", line[:i])
    if word is None:
        return False
    return (len(word.group(1)) == 1 and word.group(1).isupper()) or word.group(1) in _TITLES


def _starts_sentence(rest: str) -> bool:
    rest = rest.lstrip()
    return not rest or rest[0].isupper() or rest[0].isdigit() or rest[0] in "\"“‘'(*-•["


def markers_of(sentence: str) -> list[int]:
    """The passage numbers a sentence cites, in order, without repeats."""
    seen: list[int] = []
    for match in _MARKER.finditer(sentence):
        for part in re.split(r"[,;]", match.group(1)):
            n = int(part)
            if n not in seen:
                seen.append(n)
    return seen


def strip_markers(text: str) -> str:
    """The text without [n] markers, tidied around the punctuation they sat next to."""
    text = _MARKER.sub("", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return " ".join(text.split())


def quotations(sentence: str) -> list[tuple[str, int, int]]:
    """Double-quoted spans (straight or curly) as (text, start, end)."""
    spans = []
    for match in _QUOTE.finditer(sentence):
        body = match.group(1) if match.group(1) is not None else match.group(2)
        if body.strip():
            spans.append((body, match.start(), match.end()))
    return spans


def _quote_in(quote: str, passage: str) -> bool:
    fragments = [f.strip(" ,.;:!?") for f in _ELLIPSIS.split(normalize(quote))]
    fragments = [f for f in fragments if f]
    return bool(fragments) and all(f in passage for f in fragments)


def _contains_word(passage_lower: str, word: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(word.lower())}(?![\w])", passage_lower) is not None


def _names(sentence_no_quotes: str) -> list[tuple[str, int]]:
    """Capitalized words other than common words; the first word only when it acts as a name."""
    names = []
    first = _WORD.search(sentence_no_quotes)
    for match in _CAPITALIZED.finditer(sentence_no_quotes):
        word = re.sub(r"['’]s$", "", match.group(0))
        if word.lower() in _COMMON:
            continue
        before = sentence_no_quotes[: match.start()].rstrip()
        if before.endswith(":") or (
            first is not None and match.start() == first.start() and not _acts_as_name(
                match.group(0), sentence_no_quotes[match.end():])
        ):
            continue
        names.append((word, match.start()))
    return names


def _acts_as_name(word: str, rest: str) -> bool:
    """A sentence's first word is a name when possessive, before a speech verb or another name."""
    if re.search(r"['’]s$", word):
        return True
    following = rest.split()
    if not following:
        return False
    return following[0].lower() in _SPEECH_VERBS or following[0][:1].isupper()


def _numbers(text: str) -> set[str]:
    """Numbers as digits ("166", "1,000" -> "1000"); number words too ("thirty-one" -> "31")."""
    found = {m.group(0).replace(",", "") for m in _NUMBER.finditer(text)}
    run: list[str] = []
    for token in re.split(r"[\s\-–]+", text.lower()) + [""]:
        word = token.strip(".,;:!?()\"“”'’")
        if word in _NUMBER_WORDS or (word == "one" and run):
            run.append(word)
            continue
        if run:
            found.add(_number_value(run))
        run = []
    return found


def _number_value(words: list[str]) -> str:
    """ "thirty-one" -> "31"; runs with hundreds or more stay words, compared as written."""
    if len(words) <= 2 and all(w in _SMALL_NUMBERS for w in words):
        return str(sum(_SMALL_NUMBERS[w] for w in words))
    return "-".join(words)


def _speaker(sentence: str, names: list[tuple[str, int]], start: int, end: int,
             prev_end: int) -> str | None:
    """The name just before a quotation (since the previous one), or a 'says Name' right after."""
    before = [name for name, pos in names if prev_end <= pos < start]
    if before:
        return before[-1]
    after = sentence[end : end + 40]
    words = _WORD.findall(after)
    if len(words) >= 2 and words[0].lower() in _SPEECH_VERBS:
        following = [name for name, pos in names if end <= pos < end + 40]
        return following[0] if following else None
    return None


def check_sentence(
    sentence: str, numbered: Sequence[Chunk], refusals: Sequence[str] = ()
) -> SentenceCheck:
    """Verify one sentence against the passages it cites (markers are 1-based into `numbered`).

    `refusals` are the replies the prompt allows when the passages hold no answer; such a sentence
    is never shown as an answer, whatever it cites.
    """
    problems: list[str] = []
    all_markers = markers_of(sentence)
    valid = [n for n in all_markers if 1 <= n <= len(numbered)]
    invalid = [n for n in all_markers if n not in valid]
    if invalid:
        problems.append("dropped invalid marker " + ", ".join(f"[{n}]" for n in invalid))
    text = strip_markers(sentence)
    if _key(text) in {_key(r) for r in refusals}:
        problems.append("the model found no answer in the passages")
        return SentenceCheck(text=text, markers=tuple(valid), verified=False,
                             problems=tuple(problems))
    if not valid:
        problems.append("cites no passage")
        return SentenceCheck(text=text, markers=tuple(valid), verified=False,
                             problems=tuple(problems))
    cited = [normalize(numbered[n - 1].text) for n in valid]
    cited_lower = [c.lower() for c in cited]
    failed = False

    quotes = quotations(text)
    without_quotes = text
    for _, qs, qe in reversed(quotes):
        without_quotes = without_quotes[:qs] + " " * (qe - qs) + without_quotes[qe:]
    names = _names(without_quotes)

    prev_end = 0
    for quote, qs, qe in quotes:
        holders = [i for i, c in enumerate(cited) if _quote_in(quote, c)]
        if not holders:
            problems.append(f'quotation not found in the cited passages: "{normalize(quote)}"')
            failed = True
        else:
            speaker = _speaker(without_quotes, names, qs, qe, prev_end)
            if speaker and not any(_contains_word(cited_lower[i], speaker) for i in holders):
                problems.append(
                    f'the passage with "{normalize(quote)}" does not mention {speaker}'
                )
                failed = True
        prev_end = qe

    passages_lower = " \n ".join(cited_lower)
    for name, _ in names:
        if not _contains_word(passages_lower, name):
            problems.append(f"name not in the cited passages: {name}")
            failed = True
    passage_numbers = _numbers(passages_lower)
    for number in sorted(_numbers(without_quotes)):
        if number not in passage_numbers:
            problems.append(f"number not in the cited passages: {number}")
            failed = True
    support = _support(without_quotes, passages_lower)
    if support < MIN_SUPPORT:
        problems.append(f"only {support:.0%} of its words are in the cited passages")
        failed = True
    return SentenceCheck(text=text, markers=tuple(valid), verified=not failed,
                         problems=tuple(problems))


def _key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", normalize(text).lower()))


def _stem(word: str) -> str:
    # a plural s off, then five letters: "years"/"year-old", "considered"/"considers" meet
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word[:5]


def _support(text: str, passages_lower: str) -> float:
    """The share of the sentence's content words (crudely stemmed) found in the passages."""
    words = {_stem(w) for w in re.findall(r"[a-z0-9]+", normalize(text).lower().replace("'", ""))
             if w not in _STOPWORDS and len(w) > 2 and not w.isdigit()}
    if not words:
        return 1.0
    found = {_stem(w) for w in re.findall(r"[a-z0-9]+", passages_lower.replace("'", ""))}
    return len(words & found) / len(words)


def verify_answer(text: str, numbered: Sequence[Chunk], refusals: Sequence[str] = ()) -> Verified:
    """Check every sentence; keep the verified ones, renumber their markers 1..m in order of use."""
    checks: list[SentenceCheck] = []
    shown: list[str] = []
    display: dict[int, int] = {}  # passage number in the prompt -> marker shown to the student
    removed = 0
    for sentence in split_sentences(text):
        check = check_sentence(sentence, numbered, refusals)
        if not check.verified:
            removed += 1
            checks.append(check)
            continue
        for n in check.markers:
            display.setdefault(n, len(display) + 1)
        new_markers = tuple(display[n] for n in check.markers)
        shown.append(_with_markers(check.text, new_markers))
        checks.append(SentenceCheck(text=check.text, markers=new_markers, verified=True,
                                    problems=check.problems))
    citations = tuple(Citation(marker=m, chunk=numbered[n - 1]) for n, m in display.items())
    return Verified(text=" ".join(shown), citations=citations, checks=tuple(checks),
                    removed=removed)


def _with_markers(sentence: str, markers: Sequence[int]) -> str:
    """The sentence followed by its markers, the way extractive answers show them."""
    return f"{sentence} " + "".join(f"[{m}]" for m in markers)
