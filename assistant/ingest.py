"""Read a document, repair its wrapping, and split it into citable chunks with offsets.

Handles `.txt` and `.md` as they arrive from students and teachers: hard-wrapped lines, `<br>` paragraph
marks, curly quotes, hyphens and dashes at line ends. PDF, Word (.docx) and HTML files are read by
`assistant.formats`, chosen by the extension and checked against the content, then repaired the
same way; a PDF's pages become spans of the text, and each chunk records the pages it is on.
Offsets in chunks point into `Document.text`, the cleaned text.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from assistant import formats
from assistant.errors import DocumentError
from assistant.formats import kind_of, max_bytes, too_large
from assistant.schema import Chunk, Document, InTextCitation
from assistant.text import sentence_spans, skip_space

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015"  # hyphen, non-breaking hyphen, en/em dashes
_MD_BLOCK_START = re.compile(r"^(#{1,6}\s|[-*+]\s|\d+[.)]\s|>\s?)")
_MD_HEADING = re.compile(r"^#{1,6}\s+")
_MD_MARKER = re.compile(r"^(?:[-*+]\s+|>\s?)")  # bullets and quotes; numbered items keep their number
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
_MD_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_EMPHASIS = re.compile(r"(?<![\w*])(\*|_)(?=\S)(.+?)(?<=\S)\1(?![\w*])")


def read_document(path: Path) -> Document:
    """Read a .txt, .md, .pdf, .docx or .html file and return it cleaned; DocumentError says what is
    wrong and what to do."""
    path = Path(path)
    if not path.exists():
        raise DocumentError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise DocumentError(f"{path}: is a directory; pass the files inside it")
    kind = kind_of(str(path))
    size = path.stat().st_size
    if size > max_bytes(kind):
        raise too_large(str(path), size, kind)
    return document_from_bytes(path.name, path.read_bytes(), kind=kind)


def document_from_bytes(source: str, raw: bytes, *, kind: str | None = None,
                        max_pages: int | None = None) -> Document:
    """Read a document from its bytes, as its name's extension (or `kind`) says and its content
    confirms, and clean it; `max_pages` lowers the PDF page limit (a student's upload)."""
    kind = kind or kind_of(source)
    text = formats.read(source, raw, kind, max_pages=max_pages)
    plain = kind in ("text", "markdown")  # `<br>` marks paragraphs only in files typed as text
    return _document(source, text.text, hashlib.sha256(raw).hexdigest(),
                     markdown=kind == "markdown", marks=plain, pages=text.pages)


def document_from_text(source: str, text: str, *, markdown: bool = False) -> Document:
    """Clean text already in memory (e.g. a benchmark article)."""
    return _document(source, text, hashlib.sha256(text.encode()).hexdigest(), markdown=markdown)


def _document(source: str, text: str, sha256: str, *, markdown: bool, marks: bool = True,
              pages: Sequence[tuple[int, str]] = ()) -> Document:
    paragraphs = repair_paragraphs(text, markdown=markdown, marks=marks)
    if not paragraphs:
        raise DocumentError(f"{source}: the file has no text; check that it is the right file")
    spans, pos = [], 0
    for para in paragraphs:
        spans.append((pos, pos + len(para)))
        pos += len(para) + 2
    cleaned = "\n\n".join(paragraphs)
    return Document(source=source, text=cleaned, paragraphs=tuple(spans), sha256=sha256,
                    pages=_page_spans(text, pages, cleaned))


def _page_spans(
    text: str, pages: Sequence[tuple[int, str]], cleaned: str
) -> tuple[tuple[int, int, str], ...]:
    """Where each page is in the cleaned text. Repair only removes and adds whitespace, so the
    n-th non-space character of the raw text is the n-th of the cleaned one."""
    if not pages:
        return ()
    wanted, count, last = [], 0, 0
    for start, _label in pages:
        count += _non_space(text, last, start)
        wanted.append(count)
        last = start
    positions: list[int] = []
    matches, seen, at = _NON_SPACE.finditer(cleaned), -1, 0
    for n in wanted:
        while seen < n and at < len(cleaned):
            match = next(matches, None)
            seen += 1
            at = match.start() if match is not None else len(cleaned)
        positions.append(at)
    ends = positions[1:] + [len(cleaned)]
    return tuple((start, end, label) for start, end, (_, label) in zip(positions, ends, pages)
                 if start < end)


_NON_SPACE = re.compile(r"\S")


def _non_space(text: str, start: int, end: int) -> int:
    return end - start - len(_SPACE.findall(text, start, end))


_SPACE = re.compile(r"\s")


_BREAKS = str.maketrans({"\r": "\n", "\u2028": "\n", "\x85": "\n", "\u2029": "\n\n",
                         "\x0b": "\n", "\x0c": "\n\n"})


def repair_paragraphs(text: str, *, markdown: bool = False, marks: bool = True) -> list[str]:
    """Undo hard wrapping: `<br>` and blank lines end paragraphs, line breaks inside one are joined.
    `marks=False`: a `<br>` is text (in a PDF, Word or HTML file's own text)."""
    # Word and PDF copies carry Unicode's own separators: U+2029 ends a paragraph, U+2028 and
    # U+0085 (NEL) break a line, like "\n"; a file that keeps them would look hard-wrapped
    text = text.replace("\r\n", "\n").translate(_BREAKS)
    if marks:
        text = _BR.sub("\n\n", text)
    paragraphs: list[str] = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines = [line.strip() for line in block.split("\n")]
        for group in _md_blocks(lines) if markdown else [lines]:
            if markdown:
                group = [_md_inline(line) for line in group]
            para = _join_lines([line for line in group if line])
            if para:
                paragraphs.append(para)
    return paragraphs


def _md_blocks(lines: list[str]) -> Iterable[list[str]]:
    # In Markdown a heading or list item starts a new block even without a blank line before it,
    # and a heading is one line: the text under it is a block of its own.
    group: list[str] = []
    for line in lines:
        if _MD_BLOCK_START.match(line) and group:
            yield group
            group = []
        if _MD_HEADING.match(line):
            yield [_MD_HEADING.sub("", line)]
            continue
        group.append(line)
    if group:
        yield group


def _join_lines(lines: list[str]) -> str:
    out = ""
    for line in lines:
        if not out:
            out = line
        elif _spaced_dash(out, line):
            # "a word —" + "next", "a word" + "— next": the writer spaces dashes; keep the space.
            out += " " + line
        elif out[-1] in _DASHES or line[0] in "\u2013\u2014\u2015":
            # "thirty-" + "one-year-old", "Hailsham" + "—our": the break was inside a word or at a dash.
            out += line
        else:
            out += " " + line
    return re.sub(r"[ \t]{2,}", " ", out).strip()


def _spaced_dash(before: str, line: str) -> bool:
    ends = before[-1] in _DASHES and (len(before) == 1 or before[-2].isspace())
    starts = line[0] in _DASHES and (len(line) == 1 or line[1].isspace())
    return ends or starts


def _md_inline(line: str) -> str:
    """A Markdown line as plain text: no list or quote marker, emphasis, code ticks or link targets."""
    line = _MD_MARKER.sub("", line)
    line = _MD_LINK.sub(r"\1", line)
    line = _MD_STRONG.sub(r"\2", line)
    line = _MD_EMPHASIS.sub(r"\2", line)
    return line.replace("`", "")


# --- sentences -----------------------------------------------------------------------------------

# --- in-text citations ---------------------------------------------------------------------------

_AUTHOR = r"[A-Z][\w\u2019'\-]+(?:\s+(?:and|&)\s+[A-Z][\w\u2019'\-]+)?(?:\s+et\s+al\.)?"
_PAGES = r"(?:pp?\.\s*)?(\d{1,4}(?:\s*[-\u2013]\s*\d{1,4})?)"
_MLA = re.compile(rf"\((?:see\s+)?(?:({_AUTHOR}),?\s+)?{_PAGES}\)")


def find_citations(text: str) -> list[InTextCitation]:
    """MLA parenthetical citations: (Ishiguro 254), (Smith and Jones 12-14), or (254) after a quote."""
    found = []
    for match in _MLA.finditer(text):
        author, page = match.group(1), re.sub(r"\s*[-\u2013]\s*", "-", match.group(2))
        if author is None and not text[: match.start()].rstrip().endswith(("\u201d", '"')):
            continue  # a bare number in parentheses is only a page right after a quotation
        found.append(InTextCitation(author=author, page=page, start=match.start(), end=match.end()))
    return found


# --- chunks --------------------------------------------------------------------------------------


def chunk_document(doc: Document, chunk_chars: int = 480, overlap: int = 1) -> list[Chunk]:
    """Whole sentences packed up to `chunk_chars`, never across paragraphs, `overlap` sentences shared."""
    citations = find_citations(doc.text)
    page_starts = [start for start, _end, _label in doc.pages]
    chunks: list[Chunk] = []
    for number, (p_start, p_end) in enumerate(doc.paragraphs, start=1):
        sentences = _bounded(
            doc.text, sentence_spans(doc.text[p_start:p_end], p_start), chunk_chars
        )
        i = 0
        while i < len(sentences):
            j = i + 1
            while j < len(sentences) and sentences[j][1] - sentences[i][0] <= chunk_chars:
                j += 1
            start, end = sentences[i][0], sentences[j - 1][1]
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.source}#{start}-{end}",
                    source=doc.source,
                    paragraph=number,
                    start=start,
                    end=end,
                    text=doc.text[start:end],
                    sentences=tuple(sentences[i:j]),
                    citations=tuple(c for c in citations if start <= c.start and c.end <= end),
                    source_pages=_pages_of(doc.pages, page_starts, start, end),
                )
            )
            if j >= len(sentences):
                break
            i = max(i + 1, j - overlap)
    return chunks


def _pages_of(pages: Sequence[tuple[int, int, str]], starts: list[int], start: int,
              end: int) -> tuple[str, ...]:
    """The labels of the pages that the text from `start` to `end` is on."""
    labels = []
    for page_start, page_end, label in pages[max(bisect.bisect_right(starts, start) - 1, 0):]:
        if page_start >= end:
            break
        if page_end > start:
            labels.append(label)
    return tuple(labels)


def _bounded(text: str, sentences: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    # A run-on "sentence" (a list, a table, unpunctuated text) is cut at spaces so chunks stay citable.
    out: list[tuple[int, int]] = []
    for start, end in sentences:
        while end - start > 2 * limit:
            cut = text.rfind(" ", start + limit // 2, start + limit)
            cut = cut if cut > start else start + limit
            out.append((start, cut))
            start = skip_space(text, cut)
        out.append((start, end))
    return out
