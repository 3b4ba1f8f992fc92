"""Real PDF, Word and HTML files for the format tests, written here rather than committed.

PDFs are written with fpdf2 line by line, so each test knows exactly what is on which page: a
running head on every page and the page number at the foot (both page furniture), paragraphs
separated by space, a paragraph that runs from one page onto the next, and words hyphenated at a
line end, one of them at the end of a page. Word files are written with python-docx, and the bad
inputs (scanned, encrypted, corrupt, ZIP bombs, the wrong extension) are made from these.
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

RUNNING_HEAD = "Readings in Memory, Week 3"

# The reading: pages of paragraphs, each paragraph a list of lines as they are printed. A page
# ending in the middle of a paragraph continues it on the next page.
READING: list[list[list[str]]] = [
    [
        [
            "The Gallery at Hailsham was never a real room. Madame collected the best",
            "paintings and poems every spring, and the students believed that their art",
            "went to a gallery in London. Nobody ever saw the collection, and the guardi-",
            "ans refused to talk about it.",
        ],
        [
            "Tommy did not make art as a child. He was teased for his tantrums on the",
            "football field, and Miss Lucy told him that it did not matter. Kathy was",
            "thirty-one when she told the story.",
        ],
    ],
    [
        [
            "Years later Tommy began to draw imaginary animals in tiny detail with a",
            "ballpoint pen. Each creature had metal parts, like a machine, and he kept the",
            "notebooks hidden in a box under his bed at the Cottages.",
        ],
        [
            "Ruth mocked the animals in front of the veterans, and Tommy stopped showing",
            "them to anyone except Kathy.",
        ],
    ],
    [
        [
            "The rumour of deferrals spread among the couples at the Cottages. A couple",
            "who could prove that they were truly in love might be granted three or four",
            "years together before their donations began, or so the veterans said when",
            "the younger students asked them about it during the long evenings in the farm-",
        ],
    ],
    [
        [
            "house kitchen. Madame lived in a house in Littlehampton by the sea, and Kathy",
            "and Tommy drove there in the rain to ask her for a deferral.",
        ],
        [
            "Miss Emily explained that the Gallery had been meant to prove that the",
            "students had souls at all, and that there had never been any deferrals. Kathy",
            "was thirty-",
            "one years old by then, and Tommy had completed his fourth donation.",
        ],
    ],
]
# What each page says once page furniture is gone and lines are joined.
READING_PAGES = [
    "The Gallery at Hailsham was never a real room. Madame collected the best paintings and poems "
    "every spring, and the students believed that their art went to a gallery in London. Nobody "
    "ever saw the collection, and the guardians refused to talk about it. Tommy did not make art "
    "as a child. He was teased for his tantrums on the football field, and Miss Lucy told him that "
    "it did not matter. Kathy was thirty-one when she told the story.",
    "Years later Tommy began to draw imaginary animals in tiny detail with a ballpoint pen. Each "
    "creature had metal parts, like a machine, and he kept the notebooks hidden in a box under his "
    "bed at the Cottages. Ruth mocked the animals in front of the veterans, and Tommy stopped "
    "showing them to anyone except Kathy.",
    "The rumour of deferrals spread among the couples at the Cottages. A couple who could prove "
    "that they were truly in love might be granted three or four years together before their "
    "donations began, or so the veterans said when the younger students asked them about it "
    "during the long evenings in the farm",
    "house kitchen. Madame lived in a house in Littlehampton by the sea, and Kathy and "
    "Tommy drove there in the rain to ask her for a deferral. Miss Emily explained that the Gallery "
    "had been meant to prove that the students had souls at all, and that there had never been any "
    "deferrals. Kathy was thirty-one years old by then, and Tommy had completed his fourth donation.",
]


def write_pdf(
    path: Path,
    pages: list[list[list[str]]],
    *,
    first_label: int | None = None,
    head: str | None = RUNNING_HEAD,
    numbers: bool = True,
) -> Path:
    """A text PDF, line by line: `pages` of paragraphs of lines. `first_label`: the pages are
    labelled from that number on (a reading's printed page numbers), and the foot shows it."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(25, 20, 25)
    for index, paragraphs in enumerate(pages):
        if first_label is not None:
            pdf.add_page(label_style="D", label_start=first_label) if index == 0 else pdf.add_page()
        else:
            pdf.add_page()
        if head:
            pdf.set_font("helvetica", "I", 9)
            pdf.cell(0, 6, head, align="C", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(8)
        pdf.set_font("helvetica", size=11)
        for number, lines in enumerate(paragraphs):
            if number:
                pdf.ln(5)  # the space between paragraphs
            for line in lines:
                pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
        if numbers:
            pdf.set_y(-20)
            pdf.set_font("helvetica", size=9)
            printed = index + (first_label if first_label is not None else 1)
            pdf.cell(0, 8, str(printed), align="C")
    path.write_bytes(bytes(pdf.output()))
    return path


def write_reading(path: Path, **options) -> Path:
    return write_pdf(path, READING, **options)


def scanned_pdf(path: Path, pages: int = 2) -> Path:
    """Pages that are only pictures of text: no text layer."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    pdf = FPDF(format="A4")
    for n in range(pages):
        image = Image.new("L", (600, 800), 255)
        draw = ImageDraw.Draw(image)
        for row in range(40, 760, 24):
            draw.rectangle((40, row, 40 + (row * 7 + n * 13) % 500, row + 10), fill=0)  # "lines"
        pdf.add_page()
        pdf.image(image, x=10, y=10, w=190)
    path.write_bytes(bytes(pdf.output()))
    return path


def encrypted_pdf(path: Path, *, user_password: str | None = "reader") -> Path:
    """A PDF that needs a password to open (or, without `user_password`, only restricts edits)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    pdf.add_page()
    pdf.cell(0, 6, "Only readers with the password may see this sentence.")
    pdf.set_encryption(owner_password="owner", user_password=user_password)
    path.write_bytes(bytes(pdf.output()))
    return path


def blank_pdf(path: Path, pages: int) -> Path:
    """`pages` empty pages."""
    from fpdf import FPDF

    pdf = FPDF()
    for _ in range(pages):
        pdf.add_page()
    path.write_bytes(bytes(pdf.output()))
    return path


NOTES_DOCX = {
    "title": "Notes on the Cottages",
    "paragraphs": [
        "At the Cottages the veterans read Daniel Deronda and argued about Kierkegaard.",
        "Kathy listened to a cassette of Judy Bridgewater singing Never Let Me Go.",
    ],
    "bullets": ["Chrissie and Rodney drove to Norfolk.", "They looked for Ruth's possible."],
    "table": [["Place", "Who"], ["Norfolk", "Ruth's possible"], ["Littlehampton", "Madame"]],
    "header": "CONFIDENTIAL RUNNING HEADER",
    "footer": "Page footer that is not body text",
}


def write_docx(path: Path) -> Path:
    """A Word document: a heading, paragraphs (one with a soft line break), bullets, a table, and
    a header and footer, which are not body text."""
    import docx

    notes = NOTES_DOCX
    document = docx.Document()
    document.add_heading(notes["title"], level=1)
    first = document.add_paragraph(notes["paragraphs"][0].split(" and ")[0])
    first.add_run().add_break()
    first.add_run("and " + notes["paragraphs"][0].split(" and ", 1)[1])
    document.add_paragraph(notes["paragraphs"][1])
    for item in notes["bullets"]:
        document.add_paragraph(item, style="List Bullet")
    table = document.add_table(rows=0, cols=2)
    for row in notes["table"]:
        cells = table.add_row().cells
        for cell, text in zip(cells, row):
            cell.text = text
    document.sections[0].header.paragraphs[0].text = notes["header"]
    document.sections[0].footer.paragraphs[0].text = notes["footer"]
    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(buffer.getvalue())
    return path


def zip_bomb(path: Path, expands_to: int) -> Path:
    """A .docx-shaped archive whose one large entry of zeros expands to `expands_to` bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
        with archive.open("word/media/zeros.bin", "w", force_zip64=True) as entry:
            block = bytes(1 << 20)
            for _ in range(expands_to >> 20):
                entry.write(block)
    return path


def lying_zip(path: Path, declared: int = 1000) -> Path:
    """A .docx whose entry says it expands to `declared` bytes and holds far more."""
    write_docx(path)
    data = bytearray(path.read_bytes())
    # Rewrite word/document.xml's uncompressed size in its local header and in the central directory.
    name = b"word/document.xml"
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        at = data.find(signature)
        while at != -1:
            if data[at + name_at : at + name_at + len(name)] == name:
                struct.pack_into("<I", data, at + size_at, declared)
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))
    return path


HTML_PAGE = """<!doctype html>
<html><head><title>Week 3: Memory at Hailsham</title>
<style>p { color: red } .x::after { content: "STYLE TEXT" }</style>
<script>var secret = "SCRIPT TEXT"; document.write("WRITTEN BY SCRIPT");</script></head>
<body><nav><a href="/">Home</a> | <a href="/courses">Courses</a> | <a href="/login">Log in</a></nav>
<main><article><h1>Memory at Hailsham</h1>
<p>Kathy H. is a carer who looks back on her years at Hailsham, a boarding school in the English
countryside. Her narration is calm, but the calm hides a loss.</p>
<p>The students hoard their treasures in wooden collectors' chests at the end of their beds.
<script>alert("INLINE SCRIPT TEXT")</script>At the Sales they buy toys and clothes with tokens.</p>
<ul><li>Kathy keeps a cassette tape in her chest.</li><li>Ruth keeps a pencil case she lies about.</li></ul>
<p>Years later Kathy finds the lost cassette in a second-hand shop in Norfolk.</p>
</article></main>
<footer>Copyright 2024 The School. All rights reserved. <a href="/privacy">Privacy</a></footer>
<noscript>NOSCRIPT TEXT</noscript></body></html>
"""
