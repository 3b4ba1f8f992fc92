"""Check every generated sentence against the passages it cites, and compose what may be shown.

A sentence is verified when it cites at least one valid passage (invalid markers are dropped),
every quotation in it appears verbatim in a cited passage, every name and number in it appears in
the cited passages (a number they hold only as a page citation, "(Ishiguro 166)", only as a page:
"page 166", never "166 pages"), a name next to a quotation (its speaker) appears in a passage that
holds that quotation, at least half its content words occur there, a sentence that says what
someone is ("Madame is the narrator") has a cited sentence naming both, one that says who wrote
something has a cited passage naming that person as an author ("Shelley's Frankenstein", a
citation "(Shelley 58)"), and it does not open with a yes or no. Quotations forgive only
whitespace, quote styles and the punctuation at the edges; names forgive a plural s, numbers the
way they are written ("three thousand", "3,000"). Sentences that fail are left out of the
displayed answer; their checks say why. An answer to a question opening with "Who" must name
someone the question does not, or none of it is shown ("The creature attacks the creature").

This is a lexical check, not an entailment model: it catches wrong speakers, misquotations,
invented names or numbers, a role given to the wrong character and sentences about something
else, not a paraphrase that reverses the meaning. That is also why a sentence opening with "Yes,"
or "No," is never verified: its words may all be in the passage ("whether there is any grey area")
while the verdict is the model's own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.schema import Chunk, Citation, SentenceCheck
from assistant.text import (
    blank_quotations,
    find_names,
    find_numbers,
    find_speaker,
    is_number_word,
    markers_of,
    normalize,
    quotations,
    quote_in,
    split_sentences,
    strip_markers,
    subject_names,
    without_possessive,
)

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
_WORDS = re.compile(r"[^\W_]+")  # letters of any script and digits
# "X is/was a/the N...": an identity or a role, where a small model confuses its characters.
_IDENTITY = re.compile(r"\b(?:is|was|are|were|became|becomes)\s+(?:not\s+)?(?:a|an|the)\s+",
                       re.IGNORECASE)
# where the noun phrase after the article ends
_PHRASE_END = set(
    "of who whom whose that which in at for and or but with to from by on where when as than "
    "because while after before like".split()
)
_CLAUSE_START = re.compile(r"[,;:()]|\b(?:and|but|while|because|since|although|who|which|that)\b")
MIN_SUPPORT = 0.5  # share of a sentence's content words that must occur in its cited passages
# "Yes, ...", "No. ...", and "No Kathy is not ..." (small models drop the comma), not "No one ...":
# as a determiner "no" comes before a lower-case word.
_VERDICT = re.compile(r"\s*(?:(?i:yes)\b|(?i:no)(?:\s*[,.!;:\u2014\u2013-]|\s+(?=[A-Z])))")
VERDICT = "opens with a yes or no, which the passages' words cannot confirm"


@dataclass(frozen=True)
class Verified:
    """An answer after verification: what to display, what it cites, and how each sentence fared."""

    text: str  # verified sentences only, markers renumbered 1..m
    citations: tuple[Citation, ...]
    checks: tuple[SentenceCheck, ...]  # every generated sentence; only shown ones keep markers
    removed: int  # sentences left out because they failed


def _contains_word(passage_lower: str, word: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(word.lower())}(?![\w])", passage_lower) is not None


def _contains_name(passage_lower: str, name: str) -> bool:
    """The name as a word, forgiving a plural s either way (Huguenot, Huguenots)."""
    forms = {name, name + "s", name[:-1] if name.endswith("s") and len(name) > 3 else name}
    return any(_contains_word(passage_lower, form) for form in forms)


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
    chunks = [numbered[n - 1] for n in valid]
    cited = [normalize(c.text) for c in chunks]
    cited_lower = [c.lower() for c in cited]
    failed = False
    if _VERDICT.match(text):
        problems.append(VERDICT)
        failed = True

    quotes = quotations(text)
    without_quotes = blank_quotations(text, quotes)
    names = find_names(without_quotes)

    prev_end = 0
    for quote, qs, qe in quotes:
        holders = [i for i, c in enumerate(cited) if quote_in(quote, c)]
        if not holders:
            problems.append(f'quotation not found in the cited passages: "{normalize(quote)}"')
            failed = True
        else:
            speaker = find_speaker(without_quotes, names, qs, qe, prev_end)
            if speaker and not any(_contains_word(cited_lower[i], speaker) for i in holders):
                problems.append(
                    f'the passage with "{normalize(quote)}" does not mention {speaker}'
                )
                failed = True
        prev_end = qe

    passages_lower = " \n ".join(cited_lower)
    for name, _ in names:
        if not _contains_name(passages_lower, name):
            problems.append(f"name not in the cited passages: {name}")
            failed = True
    numbers = find_numbers(without_quotes)
    passage_numbers = find_numbers(passages_lower) if numbers else set()
    # the passages' numbers outside their page citations: "(Ishiguro 166)" is no count of anything
    in_text = find_numbers(" \n ".join(normalize(_without_citations(c)).lower() for c in chunks)
                           ) if numbers else set()
    for number in sorted(numbers):
        if number not in passage_numbers:
            problems.append(f"number not in the cited passages: {number}")
            failed = True
        elif number not in in_text and not _as_page(without_quotes, number):
            # "(Ishiguro 166)" gives a page, not a count: "The novel has 166 pages" is invented
            problems.append(f"{number} is only a page number in the cited passages")
            failed = True
    for subject, words in identity_claims(without_quotes):
        if not _states(cited, subject, words):
            who = " ".join(subject) or "it"
            problems.append(f'no cited sentence says {who} is "{" ".join(words)}"')
            failed = True
    for author in authorship_claims(without_quotes):
        if not _credits(chunks, cited, author):
            problems.append(f"no cited passage names {' '.join(author)} as an author")
            failed = True
    support = _support(without_quotes, passages_lower)
    if support < MIN_SUPPORT:
        problems.append(f"only {support:.0%} of its words are in the cited passages")
        failed = True
    return SentenceCheck(text=text, markers=tuple(valid), verified=not failed,
                         problems=tuple(problems))


_WROTE = re.compile(r"\b(?:wrote|writes|has written|had written|authored)\b", re.IGNORECASE)
_WRITTEN_BY = re.compile(r"\b(?:written|authored) by\b", re.IGNORECASE)
_IS_AUTHOR = re.compile(r"\b(?:is|was)\s+(?:the\s+)?(?:author|writer)\b", re.IGNORECASE)
_AUTHOR_IS = re.compile(r"\b(?:author|writer)\b[^,;.]*?\b(?:is|was)\s+", re.IGNORECASE)
# what a passage says when it names the author: "written", "novelist", ...
_AUTHOR_WORDS = re.compile(r"\b(?:wrote|writes|written|writing|author|authored|novelist|writer|"
                           r"poet|playwright)\b", re.IGNORECASE)


def authorship_claims(text: str) -> list[list[str]]:
    """The names a sentence gives as the author of something: "Victor Frankenstein wrote
    Frankenstein", "... written by Mary Shelley", "Shelley is the author", "The author is Shelley"."""
    claims = []
    for match in (*_WROTE.finditer(text), *_IS_AUTHOR.finditer(text)):
        clause = 0
        for boundary in _CLAUSE_START.finditer(text, 0, match.start()):
            clause = boundary.end()
        claims.append(subject_names(text[clause : match.start()]))
    for match in (*_WRITTEN_BY.finditer(text), *_AUTHOR_IS.finditer(text)):
        names = re.match(r"\s*((?:[A-Z][\w\u2019'\-]*\.?\s*)+)", text[match.end():])
        claims.append(subject_names(names.group(1)) if names else [])
    return [names for names in claims if names]


def _credits(chunks: Sequence[Chunk], cited: Sequence[str], author: Sequence[str]) -> bool:
    """Whether a passage names the author as one: a citation "(Shelley 58)", a possessive title
    "Mary Shelley's Frankenstein", "by Mary Shelley", or a sentence with the name and "wrote",
    "novelist" and the like. A necessary condition only: "Ruth's fears" passes for Ruth too."""
    last = re.escape(author[-1])
    credited = re.compile(rf"\b{last}(?:['\u2019]s?\b)|\bby\s+(?:[A-Z][\w.\-]*\s+)*{last}\b")
    for chunk, text in zip(chunks, cited, strict=True):  # `cited`: their normalized texts
        if any(c.author and author[-1] in c.author.split() for c in chunk.citations):
            return True
        if credited.search(text):
            return True
        if any(_AUTHOR_WORDS.search(s) and re.search(rf"\b{last}\b", s)
               for s in split_sentences(text)):
            return True
    return False


def _without_citations(chunk: Chunk) -> str:
    """The passage with its parenthetical page citations blanked out."""
    text = chunk.text
    for citation in chunk.citations:
        start, end = citation.start - chunk.start, citation.end - chunk.start
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def _as_page(sentence: str, number: str) -> bool:
    """Whether the sentence gives the number as a page: "page 166", "p. 166", "(Ishiguro 166)"."""
    n = re.escape(number)
    return bool(re.search(rf"\b(?:pages?|pp?\.)\s*(?:\d+\s*(?:,|and|[-\u2013])\s*)*{n}\b"
                          rf"|\([^()]*\b{n}\)", sentence, re.IGNORECASE))


def identity_claims(text: str) -> list[tuple[list[str], list[str]]]:
    """Claims of the form "X is the N ...": (the subject's names, the content words of N...).

    The subject's names are the capitalized words of the clause before the verb ("In the novel,
    Madame Marie-Claude is ..." -> Madame, Marie-Claude); the phrase ends at a preposition, a relative
    word or punctuation ("the narrator of the novel" -> narrator).
    """
    claims = []
    for match in _IDENTITY.finditer(text):
        clause = 0
        for boundary in _CLAUSE_START.finditer(text, 0, match.start()):
            clause = boundary.end()
        subject = subject_names(text[clause : match.start()])
        words = []
        for word in re.findall(r"[^\W\d_][\w'’\-]*|[^\w\s]", text[match.end():]):
            lowered = word.lower()
            if not word[0].isalpha() or lowered in _PHRASE_END or len(words) == 4:
                break
            if lowered not in _STOPWORDS and len(lowered) > 2 and not is_number_word(lowered):
                words.append(without_possessive(lowered))
        if words:
            claims.append((subject, words))
    return claims


def _states(passages: Sequence[str], subject: Sequence[str], words: Sequence[str]) -> bool:
    """Whether one sentence of the passages holds the subject's names and the phrase's words."""
    for passage in passages:
        for sentence in split_sentences(passage):
            if all(_contains_name(sentence.lower(), w) for w in (*subject, *words)):
                return True
    return False


def _key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", normalize(text).lower()))


def _stem(word: str) -> str:
    # a plural s off, then five letters: "years"/"year-old", "considered"/"considers" meet
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word[:5]


def _support(text: str, passages_lower: str) -> float:
    """The share of the sentence's content words (crudely stemmed) found in the passages."""
    # numbers are left to the number check, in digits or in words
    words = {_stem(w) for w in _WORDS.findall(normalize(text).lower().replace("'", ""))
             if w not in _STOPWORDS and len(w) > 2 and not w.isdigit() and not is_number_word(w)}
    if not words:
        return 1.0
    found = {_stem(w) for w in _WORDS.findall(passages_lower.replace("'", ""))}
    return len(words & found) / len(words)


def verify_answer(
    text: str,
    numbered: Sequence[Chunk],
    refusals: Sequence[str] = (),
    alternatives: Sequence[int] = (),
) -> Verified:
    """Check every sentence; keep the verified ones, renumber their markers 1..m in order of use.

    A sentence that cites a passage which does not support it, while one of `alternatives` (the
    passages retrieval ranked highest, best first) fully does, cites that passage instead and
    says so in its problems. A sentence that cites nothing valid is never given a citation.
    """
    checks: list[SentenceCheck] = []
    shown: list[str] = []
    display: dict[int, int] = {}  # passage number in the prompt -> marker shown to the student
    removed = 0
    for sentence in split_sentences(text):
        check = check_sentence(sentence, numbered, refusals)
        if not check.verified and check.markers and not _is_refusal(check):
            check = _recited(check, numbered, alternatives)
        if not check.verified:
            # not shown, so its markers would resolve to nothing in the displayed answer
            removed += 1
            checks.append(SentenceCheck(text=check.text, markers=(), verified=False,
                                        problems=check.problems))
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


_ASKS_WHO = re.compile(r"\s*(?:who|whom|whose)\b", re.IGNORECASE)
_WHO_IS = re.compile(r"\s*who\s+(?:is|are|was|were)\s+(.+?)[\s?.!]*$", re.IGNORECASE)
NAMES_NO_ONE = "names no one the question does not, though it asks who"


def names_no_one(question: str, verified: Verified) -> bool:
    """Whether a question opening with "Who" got shown sentences that name no one it does not
    already name: "The creature attacks the creature" for "Who attacks the creature?". Not for
    asking what a group or a named person is ("Who are the clones?", "Who is Madame?"), which a
    description answers; "Who is the narrator?" still wants a name."""
    if not _ASKS_WHO.match(question) or not verified.text:
        return False
    identity = _WHO_IS.match(question)
    if identity and (re.search(r"\b[A-Z]", identity.group(1)) or identity.group(1).endswith("s")):
        return False
    asked = {w.lower() for w in _WORDS.findall(question)}
    shown = [c.text for c in verified.checks if c.verified]
    return not any(name.lower() not in asked
                   for text in shown for name in subject_names(blank_quotations(text, quotations(text))))


def withdrawn(verified: Verified, problem: str) -> Verified:
    """The answer with every shown sentence failed for `problem`: nothing left to display."""
    checks = tuple(SentenceCheck(text=c.text, markers=(), verified=False,
                                 problems=(*c.problems, problem) if c.verified else c.problems)
                   for c in verified.checks)
    return Verified(text="", citations=(), checks=checks, removed=len(checks))


def _is_refusal(check: SentenceCheck) -> bool:
    return "the model found no answer in the passages" in check.problems


def _recited(check: SentenceCheck, numbered: Sequence[Chunk], alternatives: Sequence[int]
             ) -> SentenceCheck:
    """The check with its citation moved to the first alternative that supports the sentence."""
    for n in alternatives:
        if n in check.markers or not 1 <= n <= len(numbered):
            continue
        moved = check_sentence(f"{check.text} [{n}]", numbered)
        if moved.verified:
            cited = ", ".join(f"[{m}]" for m in check.markers)
            note = f"cited {cited}, which does not support it; cites [{n}] instead"
            return SentenceCheck(text=check.text, markers=(n,), verified=True, problems=(note,))
    return check


def _with_markers(sentence: str, markers: Sequence[int]) -> str:
    """The sentence followed by its markers, the way extractive answers show them."""
    return f"{sentence} " + "".join(f"[{m}]" for m in markers)
