"""Text as every stage reads it: document sentences (with offsets), the words BM25 and overlap
count, and the sentences, [n] markers, quotations, names and numbers of generated text.

Pure string functions with no knowledge of passages, models or questions' meaning; verify.py
decides what generated text must match.
"""

from __future__ import annotations

import re

# [3], [1, 2], [1][2], [Passage 3]
_MARKER = re.compile(r"\s*\[(?:passages?\s*)?(\d+(?:\s*[,;]\s*\d+)*)\]", re.IGNORECASE)
_QUOTE = re.compile(r"“([^”]*)”|\"([^\"]*)\"")
# letters in any script: names such as Céloron or Rély are names too
_WORD = re.compile(r"[^\W\d_][\w'’\-]*")
_CAPITALIZED = re.compile(r"(?<!\w)[^\W\d_]+(?:['’\-][^\W\d_]+)*")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")
_POSSESSIVE = re.compile(r"['’]s$")
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
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_SCALED = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)*)\s+(hundred|thousand|million|billion)\b")
# Words that open a sentence before a name without being one: "Many Spanish settlers", "After Rollo",
# and a question's own words: "What South African industry ...", "Besides Britain, where ...".
_OPENERS = set(
    "many most some several few both each every all any no after before during while when where "
    "since although though because if unless until once despite following under over between "
    "among against about from into through with without by for to as at in on of upon "
    "then there here today later earlier only even also not unlike like besides "
    "what which who whom whose why how whether "
    "is are was were do does did can could would should will has have had".split()
)
# Capitalized mid-sentence without being names (after a colon, in titles, "I").
_COMMON = {
    "i", "i'm", "i've", "i'd", "i'll", "a", "an", "the", "this", "that", "these", "those", "it",
    "in", "on", "at", "of", "for", "and", "but", "or", "as", "so", "yes", "no", "he", "she",
    "they", "we", "you", "his", "her", "their", "our", "its", "my", "however", "also", "overall",
    "according", "passage", "passages", "essay", "page", "pages", "question", "answer", "note",
    "mr", "mrs", "ms", "dr", "chapter", "part", "book", "novel", "author", "narrator",
}


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
    # "(" is left out: a parenthetical citation such as (Ishiguro 166) belongs to its sentence
    return not rest or rest[0].isupper() or rest[0].isdigit() or rest[0] in "\"“‘'*-•["


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


def listing(items: list[str], last: str) -> str:
    """Items as a sentence writes them: "A", "A or B", "A, B and C" (`last` joins the final two)."""
    return f"{', '.join(items[:-1])} {last} {items[-1]}" if len(items) > 1 else "".join(items)


def blank_quotations(text: str, quotes: list[tuple[str, int, int]]) -> str:
    """The text with each of these quotations (from `quotations`) blanked out, offsets kept: a
    quotation's words are not the writer's names or numbers."""
    for _, start, end in reversed(quotes):
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def quote_in(quote: str, passage: str) -> bool:
    """Whether a quotation appears verbatim in normalized `passage` (an ellipsis marks a cut)."""
    fragments = [f.strip(" ,.;:!?") for f in _ELLIPSIS.split(normalize(quote))]
    fragments = [f for f in fragments if f]
    return bool(fragments) and all(f in passage for f in fragments)


def find_names(sentence_no_quotes: str) -> list[tuple[str, int]]:
    """Capitalized words other than common words; the first word only when it acts as a name."""
    names = []
    first = _WORD.search(sentence_no_quotes)
    for match in _CAPITALIZED.finditer(sentence_no_quotes):
        word = without_possessive(match.group(0))
        if not word[:1].isupper() or word.lower() in _COMMON:
            continue
        before = sentence_no_quotes[: match.start()].rstrip()
        if before.endswith(":") or (
            first is not None and match.start() == first.start() and not _acts_as_name(
                match.group(0), sentence_no_quotes[match.end():])
        ):
            continue
        names.append((word, match.start()))
    return names


def without_possessive(word: str) -> str:
    """The word without a possessive 's ("Ruth's" -> "Ruth")."""
    return _POSSESSIVE.sub("", word)


def subject_names(clause: str) -> list[str]:
    """The capitalized words of a clause that ends at its verb, its first word included unless
    it is a common or an opening word: "Kathy" in "Kathy is", none in "The clones are"."""
    words = (without_possessive(m.group(0)) for m in _CAPITALIZED.finditer(clause))
    return [w for w in words if w[:1].isupper() and w.lower() not in _COMMON | _OPENERS]


def _acts_as_name(word: str, rest: str) -> bool:
    """A sentence's first word is a name when possessive, before a speech verb or another name."""
    if _POSSESSIVE.search(word):
        return True
    following = rest.split()
    if not following or word.lower() in _OPENERS:
        return False
    return following[0].lower() in _SPEECH_VERBS or following[0][:1].isupper()


def find_numbers(text: str) -> set[str]:
    """Numbers as digits ("166", "1,000" -> "1000"); number words too ("thirty-one" -> "31").

    A scale word after digits or words adds the value it makes ("3 million", "three thousand"),
    so the same amount written either way matches.
    """
    found = {m.group(0).replace(",", "") for m in _NUMBER.finditer(text)}
    for m in _SCALED.finditer(text.lower()):
        value = float(m.group(1).replace(",", "")) * _SCALES[m.group(2)]
        found.add(f"{value:.0f}" if value == int(value) else f"{value:g}")
    run: list[str] = []
    for token in re.split(r"[\s\-–]+", text.lower()) + [""]:
        word = token.strip(".,;:!?()\"“”'’")
        # "one" only inside a run ("thirty-one"), "and" only after a scale ("hundred and five")
        if word in _NUMBER_WORDS or (word == "one" and run) or (
                word == "and" and run and run[-1] in _SCALES):
            run.append(word)
            continue
        if run:
            found.add(_number_value(run))
        run = []
    return found


def is_number_word(word: str) -> bool:
    """Whether a lowercase word spells a number ("three", "thousand"); find_numbers checks those."""
    return word in _NUMBER_WORDS or word in _SMALL_NUMBERS


def _number_value(words: list[str]) -> str:
    """ "thirty-one" -> "31", "two hundred and fifty" -> "250", "three thousand" -> "3000"."""
    while words[-1] == "and":
        words = words[:-1]
    words = [w for w in words if w != "and"]
    if all(w in _SCALES for w in words):  # "million" after digits: _SCALED has the value
        return "-".join(words)
    total = current = 0
    for word in words:
        if word in _SMALL_NUMBERS:
            current += _SMALL_NUMBERS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        else:
            total += max(current, 1) * _SCALES[word]
            current = 0
    return str(total + current)


def find_speaker(
    sentence: str, names: list[tuple[str, int]], start: int, end: int, prev_end: int
) -> str | None:
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


# --- document sentences -------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"\u201d\u2019')\]]*(?=\s|$)")
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "prof", "sr", "jr", "vs", "etc", "e.g", "i.e", "cf", "no", "vol",
    "p", "pp", "ed", "eds", "fig", "al", "inc", "ltd", "co", "mt", "gen", "col", "lt", "rev", "u.s",
}  # fmt: skip
_MAX_QUOTE = (
    600  # an opening quote left open longer than this is treated as a typo, not a quotation
)


def sentence_spans(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Sentence spans of a document's `text` (shifted by `offset`); quotations are never split in
    the middle. The one splitter of documents: passages, answers and the reader all use it."""
    spans: list[tuple[int, int]] = []
    start = skip_space(text, 0)
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if end <= start or not _is_boundary(text, start, match):
            continue
        spans.append((offset + start, offset + end))
        start = skip_space(text, end)
    if start < len(text.rstrip()):
        spans.append((offset + start, offset + len(text.rstrip())))
    return spans


def skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _is_boundary(text: str, start: int, match: re.Match[str]) -> bool:
    nxt = skip_space(text, match.end())
    if nxt < len(text):
        first = text[nxt]
        if not (first.isupper() or first.isdigit() or first in "\"\u201c\u2018('[\u2014"):
            return False
    if match.group()[0] == ".":
        word = re.search(r"([\w.]+)$", text[start : match.start()])
        token = word.group(1).lower() if word else ""
        if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
            return False
    inside = text[start : match.start()]
    opened = inside.count("\u201c") - inside.count("\u201d") + inside.count('"') % 2
    if opened > 0 and len(inside) - inside.rfind("\u201c") < _MAX_QUOTE:
        closing = match.group()
        return closing.endswith(("\u201d", '"')) and opened == 1
    return True


# --- words: what BM25, overlap and refusals count -----------------------------------------------

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they this
    those through to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself yourselves s t don didn doesn isn wasn aren weren ll ve re d m
    also may might must shall us one ever""".split()
)  # fmt: skip
_TERM = re.compile(r"[a-z0-9]+")


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words: the units BM25 and lexical overlap count."""
    return [_stem(w) for w in _TERM.findall(text.lower()) if w not in STOPWORDS]


def _stem(word: str) -> str:
    # A deliberately light stemmer: plural and verb endings only, so names stay recognisable.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word
