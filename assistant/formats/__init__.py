"""Document formats: turn a file's bytes into text that ingest repairs, by its extension and content.

`read` picks the reader by the extension and checks it against what the first bytes say the file
is, so that a file whose content does not match is refused by name ("a PDF renamed .docx"). Text
and Markdown are decoded here; one module per other format (pdf.py with layout.py, docx.py,
html.py) has a `read(source, raw) -> Text` and its own limits as named constants. Leaves out
cleaning, paragraphs of plain text and chunking (ingest.py), and OCR: a page without a text layer
has no text here.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import DocumentError

# extension -> how the file is read
KINDS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
         ".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html"}
SUFFIXES = tuple(KINDS)
MAX_TEXT_BYTES = 20_000_000  # larger text files are almost certainly not an essay or a reading


@dataclass(frozen=True)
class Text:
    """What a format reader hands to ingest: text with blank lines between paragraphs, and for paged
    formats where each page starts in it."""

    text: str
    pages: tuple[tuple[int, str], ...] = ()  # (offset in `text` where the page starts, its label)


def kind_of(name: str) -> str:
    """How a file of this name is read ("text", "markdown", "pdf", "docx", "html"); DocumentError
    for any other extension."""
    suffix = Path(name).suffix.lower()
    if suffix not in KINDS:
        hint = "; save it as .docx or .pdf" if suffix in (".doc", ".odt", ".rtf") else ""
        raise DocumentError(
            f"{name}: unsupported file type {suffix or '(none)'}; use {', '.join(SUFFIXES)}{hint}"
        )
    return KINDS[suffix]


def max_bytes(kind: str) -> int:
    """The largest file of this kind that is read."""
    from assistant.formats import docx, html, pdf

    limits = {"pdf": pdf.MAX_BYTES, "docx": docx.MAX_BYTES, "html": html.MAX_BYTES}
    return limits.get(kind, MAX_TEXT_BYTES)


def too_large(source: str, size: int, kind: str) -> DocumentError:
    return DocumentError(f"{source}: {size:,} bytes is too large (limit {max_bytes(kind):,} for "
                         f"{'text' if kind == 'markdown' else kind} files)")


def read(source: str, raw: bytes, kind: str, *, max_pages: int | None = None) -> Text:
    """A file's text, read as `kind`; DocumentError when it is over its limit (a PDF: over
    `max_pages`, when given), its content is another format, or the reader cannot use it."""
    if len(raw) > max_bytes(kind):
        raise too_large(source, len(raw), kind)
    found = sniff(raw)
    if kind in ("text", "markdown"):
        if found in ("pdf", "zip", "ole"):
            raise mismatch(source, "text", zip_kind(raw) if found == "zip" else found)
        return Text(_decoded(source, raw))
    if kind == "pdf":
        if found != "pdf":
            raise mismatch(source, "pdf", _content(raw, found))
        from assistant.formats import pdf

        return pdf.read(source, raw, pdf.MAX_PAGES if max_pages is None else max_pages)
    if kind == "docx":
        if found != "zip" or (inside := zip_kind(raw)) != "docx":
            raise mismatch(source, "docx", inside if found == "zip" else _content(raw, found))
        from assistant.formats import docx as reader
    else:
        if found is not None or b"\x00" in raw[:8192]:
            raise mismatch(source, "html", _content(raw, found))
        from assistant.formats import html as reader
    return reader.read(source, raw)


def _decoded(source: str, raw: bytes) -> str:
    """Strict UTF-8."""
    if b"\x00" in raw[:8192]:
        raise DocumentError(f"{source}: looks like a binary file; save it as plain UTF-8 text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"{source}: not valid UTF-8 (byte {exc.start}); re-save the file as UTF-8 text"
        ) from None


def _content(raw: bytes, found: str | None) -> str:
    """What a file is, for a message: a format `sniff` found, "html", "text" or "binary data"."""
    if found == "zip":
        return zip_kind(raw)
    if found is not None:
        return found
    if b"\x00" in raw[:8192]:
        return "binary data"
    return "html" if raw[:1024].lstrip().lower().startswith((b"<!doctype html", b"<html")) else "text"

# (magic bytes, where they must start: None = within the first 1024 bytes, name for messages)
_MAGIC = (
    (b"%PDF-", None, "pdf"),
    (b"PK\x03\x04", 0, "zip"),
    (b"PK\x05\x06", 0, "zip"),  # an empty archive
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 0, "ole"),  # Word 97-2003 .doc, old Excel, ...
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"\xff\xd8\xff", 0, "jpeg"),
    (b"GIF8", 0, "gif"),
    (b"\x7fELF", 0, "elf"),
)

DESCRIPTIONS = {
    "text": "a text file",
    "pdf": "a PDF",
    "docx": "a Word document (.docx)",
    "html": "an HTML page",
    "zip": "a ZIP archive",
    "odt": "an OpenDocument text file (.odt)",
    "xlsx": "an Excel workbook",
    "pptx": "a PowerPoint presentation",
    "epub": "an EPUB e-book",
    "ole": "an old or password-protected Office file (such as a Word 97-2003 .doc)",
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "gif": "a GIF image",
    "elf": "a program",
}

# What to do when the content is another format than the extension says.
ADVICE = {
    "pdf": "rename it to .pdf",
    "docx": "rename it to .docx",
    "html": "rename it to .html",
    "odt": "save it as .docx or .pdf",
    "ole": "save it as .docx or .pdf",
    "xlsx": "ingest the reading itself",
    "pptx": "save it as .pdf",
    "epub": "convert it to .pdf or .html",
    "png": "OCR is not supported; ingest a file with text",
    "jpeg": "OCR is not supported; ingest a file with text",
    "gif": "OCR is not supported; ingest a file with text",
}


def sniff(raw: bytes) -> str | None:
    """What the first bytes say a file is ("pdf", "zip", "ole", "png", ...), or None for text and
    anything unrecognised."""
    for magic, at, kind in _MAGIC:
        if (raw.startswith(magic) if at == 0 else magic in raw[:1024]):
            return kind
    return None


def zip_kind(raw: bytes) -> str:
    """Which kind of ZIP-based file this is: "docx", "odt", "xlsx", "pptx", "epub" or "zip"."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            names = set(archive.namelist())
            mimetype = b""
            if "mimetype" in names and archive.getinfo("mimetype").file_size < 200:
                mimetype = archive.read("mimetype")
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return "zip"
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    if mimetype.startswith(b"application/vnd.oasis.opendocument"):
        return "odt"
    if mimetype == b"application/epub+zip":
        return "epub"
    return "zip"


def mismatch(source: str, expected: str, found: str) -> DocumentError:
    """The error for a file whose content is `found` while its extension promises `expected`."""
    what = DESCRIPTIONS.get(found, found)
    advice = ADVICE.get(found, f"check that it is the right file and save it as {DESCRIPTIONS[expected]}")
    return DocumentError(
        f"{source}: the content is {what}, not {DESCRIPTIONS[expected]} as its name says; {advice}"
    )
