"""Read a document, repair its wrapping, and split it into citable chunks with offsets.

Handles `.txt` and `.md` as they arrive from students and teachers: hard-wrapped lines, `<br>` paragraph
marks, curly quotes, hyphens and dashes at line ends. Leaves out layout formats (PDF, DOCX): convert
those to text first. Offsets in chunks point into `Document.text`, the cleaned text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from assistant.errors import DocumentError
from assistant.schema import Chunk, Document, InTextCitation
from assistant.text import sentence_spans, skip_space

SUFFIXES = (".txt", ".md", ".markdown", ".text")
MAX_BYTES = 20_000_000  # larger files are almost certainly not an essay or a reading

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015"  # hyphen, non-breaking hyphen, en/em dashes
_MD_BLOCK_START = re.compile(r"^(#{1,6}\s|[-*+]\s|\d+[.)]\s|>\s?)")
_MD_HEADING = re.compile(r"^#{1,6}\s+")
_MD_MARKER = re.compile(r"^(?:[-*+]\s+|>\s?)")  # bullets and quotes; numbered items keep their number
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
_MD_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_EMPHASIS = re.compile(r"(?<![\w*])(\*|_)(?=\S)(.+?)(?<=\S)\1(?![\w*])")


def read_document(path: Path) -> Document:
    """Read a .txt or .md file and return it cleaned; DocumentError says what is wrong and what to do."""
    path = Path(path)
    if not path.exists():
        raise DocumentError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise DocumentError(f"{path}: is a directory; pass the files inside it")
    if path.suffix.lower() not in SUFFIXES:
        raise DocumentError(
            f"{path}: unsupported file type {path.suffix or '(none)'}; use {', '.join(SUFFIXES)}"
        )
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise DocumentError(f"{path}: {size:,} bytes is too large (limit {MAX_BYTES:,})")
    raw = path.read_bytes()
    return document_from_bytes(path.name, raw, markdown=path.suffix.lower() != ".txt")


def document_from_bytes(source: str, raw: bytes, *, markdown: bool = False) -> Document:
    """Decode (strict UTF-8) and clean raw bytes."""
    if b"\x00" in raw[:8192]:
        raise DocumentError(f"{source}: looks like a binary file; save it as plain UTF-8 text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"{source}: not valid UTF-8 (byte {exc.start}); re-save the file as UTF-8 text"
        ) from None
    return _document(source, text, hashlib.sha256(raw).hexdigest(), markdown=markdown)


def document_from_text(source: str, text: str, *, markdown: bool = False) -> Document:
    """Clean text already in memory (e.g. a benchmark article)."""
    return _document(source, text, hashlib.sha256(text.encode()).hexdigest(), markdown=markdown)


def _document(source: str, text: str, sha256: str, *, markdown: bool) -> Document:
    paragraphs = repair_paragraphs(text, markdown=markdown)
    if not paragraphs:
        raise DocumentError(f"{source}: the file has no text; check that it is the right file")
    spans, pos = [], 0
    for para in paragraphs:
        spans.append((pos, pos + len(para)))
        pos += len(para) + 2
    return Document(
        source=source, text="\n\n".join(paragraphs), paragraphs=tuple(spans), sha256=sha256
    )


_BREAKS = str.maketrans({"\r": "\n", "\u2028": "\n", "\x85": "\n", "\u2029": "\n\n",
                         "\x0b": "\n", "\x0c": "\n\n"})


def repair_paragraphs(text: str, *, markdown: bool = False) -> list[str]:
    """Undo hard wrapping: `<br>` and blank lines end paragraphs, line breaks inside one are joined."""
    # Word and PDF copies carry Unicode's own separators: U+2029 ends a paragraph, U+2028 and
    # U+0085 (NEL) break a line, like "\n"; a file that keeps them would look hard-wrapped
    text = text.replace("\r\n", "\n").translate(_BREAKS)
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
                )
            )
            if j >= len(sentences):
                break
            i = max(i + 1, j - overlap)
    return chunks


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
