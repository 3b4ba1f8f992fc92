"""Page layout: from the lines of a paged document and where they are, its text as paragraphs.

Format-neutral (pdf.py measures the lines). Paragraphs: a new one starts after a larger gap, at an
indented line, after a short line that ends a sentence, at a bullet or where the type size changes;
across a page break, a paragraph goes on unless the next page starts one. Page furniture: lines at
a page's top or bottom edge that are a bare page number, repeat on many pages or on pages close
together (running heads), or carry a number that runs with the page, are removed. A word
hyphenated at a line end is joined, unless the document writes it with a hyphen elsewhere. Leaves
out tables and columns as such: their lines are read in the order given.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass

from assistant.formats import Text

HYPHEN_MARKS = "\ufffe\x02"  # what PDFium puts where a word was hyphenated at a line end
_BROKEN_WORD = re.compile(r"(\w*)[\ufffe\x02][^\S\n]*\n?[^\S\n]*(\w*)")
_BULLETS = "\u2022\u25e6\u25aa\u25cf\u25cb\u25a0\u25a1\u2023\u2043\u2219"
_SENTENCE_END = ".!?:\"\u201d\u2019)"
# A line that is only a page number: "12", "- 12 -", "Page 12", "12 of 300", "xiv".
_BARE_NUMBER = re.compile(
    r"(?:[Pp]age\s+|p\.\s*)?[-\u2013\u2014]?\s*(?:\d{1,4}|[ivxlcdm]{1,8})\s*[-\u2013\u2014]?"
    r"(?:\s*(?:of|/)\s*\d{1,4})?"
)
_DIGITS = re.compile(r"\d+")
_EDGE_NUMBER = re.compile(r"^(\d{1,4})\b|\b(\d{1,4})$")
_WORDS = re.compile(r"\w+(?:-\w+)*")


@dataclass(slots=True)
class Line:
    """One printed line of a page and where it is: in the page's units, y growing upwards (or in
    characters across and line numbers down, when the positions are unknown)."""

    text: str
    left: float  # of the first character
    top: float
    first_bottom: float  # of the first letter: with `top`, the type size
    bottom: float  # of the last character
    right: float
    height: float  # the type size


def text_of(pages: list[list[Line]], labels: list[str]) -> Text:
    """The pages' text without page furniture, paragraphs separated by blank lines, and where each
    page with text starts in it."""
    return _assemble(_without_edges(pages), labels)


# --- running headers, footers and page numbers --------------------------------------------------


def _without_edges(pages: list[list[Line]]) -> list[list[Line]]:
    """The pages without the lines at their top and bottom edges that are page furniture: the
    outermost line at each edge, and where that one goes, the short line inside it."""
    with_text = sum(1 for lines in pages if lines)
    pages = [list(lines) for lines in pages]
    edges = [(index, edge) for index, lines in enumerate(pages) if lines for edge in ("top", "bottom")]
    for depth in range(2):
        candidates = []
        for index, edge in edges:
            lines = pages[index]
            if not lines:
                continue
            if edge == "top":
                line = max(lines, key=lambda ln: ln.top)
            else:
                line = min(lines, key=lambda ln: ln.bottom)
            if depth == 0 or line.right - line.left < 0.7 * _full_width(lines):
                candidates.append((index, edge, line))
        drop = _furniture([(index, line) for index, _, line in candidates], with_text)
        for index, _, line in candidates:
            if id(line) in drop and line in pages[index]:
                pages[index] = [ln for ln in pages[index] if ln is not line]
        edges = [(index, edge) for index, edge, line in candidates if id(line) in drop]
    return pages


def _furniture(candidates: list[tuple[int, Line]], with_text: int) -> set[int]:
    """Which of these edge lines are page furniture: a bare page number; a line that repeats (but
    for its numbers) on many pages, or on three pages or more close together (a chapter's running
    head, even on every other page; a chapter's heading recurs pages apart); or one whose number
    runs with the page."""
    drop: set[int] = set()
    found: dict[str, list[tuple[int, Line]]] = {}
    for index, line in candidates:
        if _BARE_NUMBER.fullmatch(line.text):
            drop.add(id(line))
        elif len(line.text) <= 120:
            key = " ".join(_DIGITS.sub("#", line.text.lower()).split())
            found.setdefault(key, []).append((index, line))
    for entries in found.values():
        on_pages = {index for index, _ in entries}
        offsets = Counter(
            number - index for index, line in entries if (number := _edge_number(line.text)) is not None
        )
        if len(on_pages) >= max(2, 0.4 * with_text) or (offsets and offsets.most_common(1)[0][1] >= 2):
            drop.update(id(line) for _, line in entries)
        else:
            drop.update(id(line) for _, line in _in_runs(entries))
    return drop


def _in_runs(entries: list[tuple[int, Line]], gap: int = 2, length: int = 3) -> list[tuple[int, Line]]:
    """The entries on pages that form runs of at least `length` pages, each at most `gap` pages
    after the one before."""
    entries = sorted(entries, key=lambda entry: entry[0])
    runs, run = [], entries[:1]
    for entry in entries[1:]:
        if entry[0] - run[-1][0] <= gap:
            run.append(entry)
        else:
            runs.append(run)
            run = [entry]
    runs.append(run)
    return [entry for run in runs if len({index for index, _ in run}) >= length for entry in run]


def _full_width(lines: list[Line]) -> float:
    rights = sorted(ln.right for ln in lines)
    return rights[int(0.9 * (len(rights) - 1))] - min(ln.left for ln in lines)


def _edge_number(text: str) -> int | None:
    match = _EDGE_NUMBER.search(text)
    return int(match.group(1) or match.group(2)) if match else None


# --- paragraphs ---------------------------------------------------------------------------------


def _paragraphs(lines: list[Line]) -> list[list[Line]]:
    pitch = _pitch(lines)
    paragraphs: list[list[Line]] = []
    for line in lines:
        if paragraphs and not _starts_paragraph(paragraphs[-1], line, pitch):
            paragraphs[-1].append(line)
        else:
            paragraphs.append([line])
    return paragraphs


def _pitch(lines: list[Line]) -> float:
    """The usual distance from one line to the next on this page."""
    steps = [a.bottom - b.first_bottom for a, b in zip(lines, lines[1:])
             if 0 < a.bottom - b.first_bottom < 3 * max(a.height, b.height)]
    return statistics.median(steps) if steps else 1.2 * statistics.median(ln.height for ln in lines)


def _starts_paragraph(paragraph: list[Line], line: Line, pitch: float) -> bool:
    head, prev = paragraph[0], paragraph[-1]
    if prev.text[-1] in HYPHEN_MARKS:  # the rest of a hyphenated word
        return False
    size = min(prev.height, line.height)
    if line.text[0] in _BULLETS or abs(line.height - prev.height) > 0.2 * size:
        return True
    drop = prev.bottom - line.first_bottom
    if drop > 1.25 * pitch or drop < -pitch:  # a wider gap, or up to a new column
        return True
    hanging = head.text[0] in _BULLETS and line.left <= head.left + 3 * size  # a bullet's next line
    if line.left - prev.left > 0.6 * size and not hanging:
        return True
    return _ended(prev, line.right, line.right - line.left)


def _ended(prev: Line, right: float, width: float) -> bool:
    """Whether `prev` ends a sentence well short of where full lines end: a paragraph's last line."""
    return prev.text[-1] in _SENTENCE_END and right - prev.right > max(4 * prev.height, 0.2 * width)


def _continues(prev_page: list[Line], page: list[Line]) -> bool:
    """Whether the page's first line continues the paragraph the previous page ended with."""
    prev, line = prev_page[-1], page[0]
    if line.text[0] in _BULLETS or abs(line.height - prev.height) > 0.2 * min(prev.height, line.height):
        return False
    left = statistics.mode(round(ln.left) for ln in page)
    if line.left - left > 0.6 * line.height:
        return False
    width = _full_width(prev_page)
    return not _ended(prev, min(ln.left for ln in prev_page) + width, width)


# --- the text -----------------------------------------------------------------------------------


def _assemble(pages: list[list[Line]], labels: list[str]) -> Text:
    words, compounds = _vocabulary(pages)

    def hyphen(match: re.Match) -> str:
        return match.group(1) + _hyphen(match.group(1), match.group(2), words, compounds) + match.group(2)

    parts: list[str] = []
    starts: list[tuple[int, str]] = []
    size = 0
    previous: list[Line] = []
    for lines, label in zip(pages, labels):
        if not lines:
            continue
        text = "\n\n".join("\n".join(ln.text for ln in para) for para in _paragraphs(lines))
        text = _BROKEN_WORD.sub(hyphen, text.lstrip(HYPHEN_MARKS))
        if parts:
            tail = parts[-1]
            broken = re.search(r"(\w+)[\ufffe\x02-]$", tail)
            head = re.match(r"\w+", text)
            if broken and head and (tail[-1] != "-" or head.group()[0].islower()):
                # a word hyphenated across the page break
                join = _hyphen(broken.group(1), head.group(), words, compounds)
                parts[-1] = tail[:-1] + join
                size += len(join) - 1
                separator = ""
            else:
                if tail[-1] in HYPHEN_MARKS:
                    parts[-1] = tail[:-1] + "-"
                separator = "\n" if _continues(previous, lines) else "\n\n"
            parts.append(separator)
            size += len(separator)
        starts.append((size, label))
        parts.append(text)
        size += len(text)
        previous = lines
    return Text("".join(parts), tuple(starts))


def _vocabulary(pages: list[list[Line]]) -> tuple[set[str], set[str]]:
    """The document's own words, and those it writes with a hyphen."""
    text = " ".join(ln.text for lines in pages for ln in lines)
    text = re.sub(r"\w*[\ufffe\x02]\w*", " ", text).lower()
    words = set(_WORDS.findall(text))
    return words, {w for w in words if "-" in w}


def _hyphen(before: str, after: str, words: set[str], compounds: set[str]) -> str:
    """"" to join a word broken at a line end, "-" to keep a compound's own hyphen."""
    joined, compound = (before + after).lower(), f"{before}-{after}".lower()
    if compound in compounds:
        return "-"
    if joined in words:
        return ""
    return "" if before[-1:].isalpha() and after[:1].islower() else "-"
