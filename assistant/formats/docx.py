"""Word (.docx): the body's paragraphs and tables, in order, as plain text.

A .docx file is a ZIP archive, so it is opened only after its entries are checked: how many there
are, how large they say they are once decompressed, and how large they turn out to be, reading
stops past MAX_UNZIPPED_BYTES. A ZIP bomb is refused before python-docx reads it. Headings and
list items are paragraphs of their own; a table row is one paragraph, its cells joined by " | ".
Leaves out headers and footers (page furniture), footnotes, comments, text boxes and images,
and the old binary .doc format.
"""

from __future__ import annotations

import io
import zipfile
import zlib

from assistant.errors import DocumentError
from assistant.formats import Text

MAX_BYTES = 50_000_000  # the file as given
MAX_UNZIPPED_BYTES = 200_000_000  # all of its entries decompressed: a reading, with its images
MAX_ENTRIES = 10_000
_CHUNK = 1 << 16


def read(source: str, raw: bytes) -> Text:
    """The text of a Word document; DocumentError when it is corrupt, a ZIP bomb or has no body."""
    check_archive(source, raw)
    import docx
    from docx.opc.exceptions import OpcError
    from lxml import etree

    try:
        document = docx.Document(io.BytesIO(raw))
        blocks = [_block(item) for item in document.iter_inner_content()]
    except (OpcError, etree.LxmlError, zipfile.BadZipFile, KeyError,
            ValueError, AttributeError, TypeError) as exc:
        raise DocumentError(
            f"{source}: the Word document is corrupt ({type(exc).__name__}); open it in Word and "
            "save it again"
        ) from None
    return Text("\n\n".join(block for block in blocks if block.strip()))


def check_archive(source: str, raw: bytes) -> None:
    """DocumentError unless `raw` is a ZIP archive whose entries decompress, each to the size it
    declares and all together to at most MAX_UNZIPPED_BYTES."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise DocumentError(
            f"{source}: the Word document is corrupt (not a readable ZIP archive); open it in Word "
            "and save it again"
        ) from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise DocumentError(
                f"{source}: the Word document holds {len(entries):,} files, over the limit of "
                f"{MAX_ENTRIES:,}; it is not a reading"
            )
        declared = sum(entry.file_size for entry in entries)
        if declared > MAX_UNZIPPED_BYTES:
            raise _too_large(source, f"would expand to {declared:,} bytes")
        total = 0
        try:
            for entry in entries:
                # zipfile stops each entry at its declared size and checks its CRC; the running
                # total stops an archive whose sizes lie before it is read whole.
                with archive.open(entry) as stream:
                    while chunk := stream.read(_CHUNK):
                        total += len(chunk)
                        if total > MAX_UNZIPPED_BYTES:
                            raise _too_large(source, "expands past the limit")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                RuntimeError) as exc:
            raise DocumentError(
                f"{source}: the Word document is corrupt ({exc}); open it in Word and save it again"
            ) from None


def _too_large(source: str, how: str) -> DocumentError:
    return DocumentError(
        f"{source}: the Word document {how}, over the limit of {MAX_UNZIPPED_BYTES:,} bytes "
        "decompressed; it may be a ZIP bomb"
    )


def _block(item) -> str:  # noqa: ANN001 - a docx Paragraph or Table
    if hasattr(item, "rows"):
        return "\n\n".join(_row(row) for row in item.rows)
    return item.text


def _row(row) -> str:  # noqa: ANN001 - a docx table row
    cells: list[str] = []
    for cell in row.cells:
        text = " ".join(cell.text.split())
        if text and (not cells or cells[-1] != text):  # a merged cell comes once per grid column
            cells.append(text)
    return " | ".join(cells)
