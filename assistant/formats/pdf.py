"""PDF: each page's text layer, line by line with where each line is, and the page's label.

PDFium (pypdfium2) gives each page's text in reading order and the box of every character; the
lines and their positions go to layout.py, which finds paragraphs and drops running heads, footers
and page numbers. Each page is labelled as the PDF labels it ("xii", "254") or by its 1-based
number. An encrypted, corrupt or over-long file is refused, as is one with no text layer at all.

Leaves out OCR (a page without a text layer gives no text), files that need a password, and
reading orders PDFium does not find itself.
"""

from __future__ import annotations

import re

from assistant.errors import DocumentError
from assistant.formats import Text
from assistant.formats.layout import HYPHEN_MARKS, Line, text_of

MAX_BYTES = 100_000_000  # a longer file is scanned images, which have no text to read anyway
MAX_PAGES = 1_000  # a long book; more is a collection that should be split

# A printed line: PDFium joins the line after a hyphenated word onto it (even when that is the page
# number at the foot), so a line also ends after the hyphen.
_LINE = re.compile(r"[^\r\n\ufffe\x02]+[\ufffe\x02]?|[\ufffe\x02]")
_CONTROL = re.compile(r"[\x00-\x01\x03-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi",
                            "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"})


def read(source: str, raw: bytes, max_pages: int = MAX_PAGES) -> Text:
    """The text of a PDF's pages; DocumentError when it is encrypted, corrupt, longer than
    `max_pages` or has no text layer."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        pdf = pdfium.PdfDocument(raw)
    except pdfium.PdfiumError as exc:
        raise _unopened(source, exc.err_code, pdfium_c) from None
    try:
        count = len(pdf)
        if count > max_pages:
            raise DocumentError(
                f"{source}: {count:,} pages is over the limit of {max_pages:,} pages; split the PDF"
            )
        pages = [_page_lines(pdf, i, source, pdfium) for i in range(count)]
        labels = [_label(pdf, i, pdfium) for i in range(count)]
    finally:
        pdf.close()
    if not any(pages):
        raise DocumentError(
            f"{source}: no text layer (its pages are scanned images or blank); OCR is not "
            "supported, so use a PDF whose text can be selected"
        )
    return text_of(pages, labels)


def _unopened(source: str, code: int | None, pdfium_c) -> DocumentError:  # noqa: ANN001
    if code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
        return DocumentError(
            f"{source}: the PDF is encrypted (it needs a password); save an unprotected copy and "
            "ingest that"
        )
    if code == pdfium_c.FPDF_ERR_SUCCESS:
        return DocumentError(f"{source}: the PDF has no pages")
    return DocumentError(
        f"{source}: the PDF is corrupt and cannot be read; export or download it again"
    )


def _label(pdf, index: int, pdfium) -> str:  # noqa: ANN001
    try:
        label = " ".join(pdf.get_page_label(index).split())[:32]
    except pdfium.PdfiumError:
        label = ""
    return label or str(index + 1)


def _page_lines(pdf, index: int, source: str, pdfium) -> list[Line]:  # noqa: ANN001
    try:
        page = pdf[index]
    except pdfium.PdfiumError:
        raise DocumentError(
            f"{source}: page {index + 1} of the PDF is corrupt; export or download it again"
        ) from None
    try:
        textpage = page.get_textpage()
        try:
            return _lines(textpage, pdfium)
        finally:
            textpage.close()
    finally:
        page.close()


def _lines(textpage, pdfium) -> list[Line]:  # noqa: ANN001
    count = textpage.count_chars()
    text = textpage.get_text_range() if count > 0 else ""
    # Boxes are per character of PDFium's own list; the text matches it one to one in nearly
    # every PDF, and where it does not, lines are placed by their order alone.
    boxes = len(text) == count
    lines = []
    for match in _LINE.finditer(text):
        raw = match.group()
        clean = _CONTROL.sub("", raw.strip().translate(_LIGATURES))
        if not clean.strip(HYPHEN_MARKS).strip():
            if clean and lines:  # a hyphen alone: it ends the line before
                lines[-1].text += clean[-1]
            continue
        line = Line(clean, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        if boxes:
            first = match.start() + len(raw) - len(raw.lstrip())
            last = match.start() + len(raw.rstrip()) - 1
            # the type size from the first letter or digit: a bullet's glyph has a box of its own
            letter = first + next((i for i, ch in enumerate(raw.lstrip()[:6]) if ch.isalnum()), 0)
            try:
                line.left = textpage.get_charbox(first, loose=True)[0]
                _, line.first_bottom, _, line.top = textpage.get_charbox(letter, loose=True)
                _, line.bottom, line.right, _ = textpage.get_charbox(last, loose=True)
            except pdfium.PdfiumError:
                boxes = False
            line.height = line.top - line.first_bottom
            boxes = boxes and line.height > 0
        lines.append(line)
    if not boxes:  # one kind of unit on a page: characters across, lines down
        for number, line in enumerate(lines):
            line.left, line.top, line.right, line.height = 0.0, -number, float(len(line.text)), 1.0
            line.first_bottom = line.bottom = -number - 1.0
    return lines
