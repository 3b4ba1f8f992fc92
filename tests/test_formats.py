"""PDF, Word and HTML documents, end to end: real files written by tests/documents.py, read by the
real extractors, ingested by the real command line into a real index, and asked about.

A PDF passage records the page(s) it is on (the PDF's own labels when it has them) and its
citations show them; every bad file is refused in one line and leaves the index as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from documents import (
    HTML_PAGE,
    NOTES_DOCX,
    READING_PAGES,
    RUNNING_HEAD,
    blank_pdf,
    encrypted_pdf,
    lying_zip,
    scanned_pdf,
    write_docx,
    write_pdf,
    write_reading,
    zip_bomb,
)

from assistant import DocumentError
from assistant.cli import main
from assistant.config import DEFAULT_DOCUMENT, Settings
from assistant.formats import docx as docx_format
from assistant.formats import pdf as pdf_format
from assistant.ingest import chunk_document, read_document
from assistant.schema import page_reference
from assistant.web.view import answer_message

# Questions in the reading's own words, each answered on one known page.
GALLERY = "Who collected the best paintings and poems every spring?"
BALLPOINT = "What did Tommy draw in tiny detail with a ballpoint pen?"
LITTLEHAMPTON = "Where did Madame live by the sea?"


def normalized(text: str) -> str:
    return " ".join(text.split())


# --- reading each format ------------------------------------------------------------------------


def test_a_pdf_becomes_its_pages_text_without_running_heads_or_page_numbers(tmp_path):
    doc = read_document(write_reading(tmp_path / "reading.pdf", first_label=12))
    assert [label for _s, _e, label in doc.pages] == ["12", "13", "14", "15"]
    for (start, end, _label), written in zip(doc.pages, READING_PAGES):
        assert normalized(doc.text[start:end]) == written
    assert doc.pages[0][0] == 0 and doc.pages[-1][1] == len(doc.text)
    assert RUNNING_HEAD not in doc.text
    paragraphs = [doc.text[s:e] for s, e in doc.paragraphs]
    assert not any(p.strip().isdigit() for p in paragraphs)  # the page numbers at the foot
    # block paragraphs are kept, and the one that runs over a page break is one paragraph
    assert len(paragraphs) == 6
    assert "evenings in the farmhouse kitchen. Madame lived in a house in Littlehampton" in paragraphs[4]
    assert doc.text[doc.pages[3][0]:].startswith("house kitchen.")  # the word broken over the page
    # a word hyphenated at a line end is joined; a compound broken at its hyphen keeps it
    assert "the guardians refused" in doc.text and "guardi-" not in doc.text
    assert "Kathy was thirty-one years old" in doc.text


def test_a_pdf_without_page_labels_is_numbered_from_1(tmp_path):
    doc = read_document(write_reading(tmp_path / "plain.pdf"))
    assert [label for _s, _e, label in doc.pages] == ["1", "2", "3", "4"]


def test_a_passage_records_the_pages_it_is_on(tmp_path):
    doc = read_document(write_reading(tmp_path / "reading.pdf", first_label=12))
    chunks = chunk_document(doc, chunk_chars=480, overlap=1)
    for chunk in chunks:
        on = [label for start, end, label in doc.pages if start < chunk.end and chunk.start < end]
        assert chunk.source_pages == tuple(on) and chunk.source_pages
    across = next(c for c in chunks if "farmhouse kitchen" in c.text and "long evenings" in c.text)
    assert across.source_pages == ("14", "15") and page_reference(across.source_pages) == "pp. 14-15"
    assert page_reference(("12",)) == "p. 12" and page_reference(()) == ""


def test_a_word_document_keeps_its_body_in_order_and_leaves_out_header_and_footer(tmp_path):
    doc = read_document(write_docx(tmp_path / "notes.docx"))
    paragraphs = [doc.text[s:e] for s, e in doc.paragraphs]
    assert paragraphs[:3] == [NOTES_DOCX["title"], *NOTES_DOCX["paragraphs"]]  # soft break joined
    assert paragraphs[3:5] == NOTES_DOCX["bullets"]
    assert paragraphs[5:] == [" | ".join(row) for row in NOTES_DOCX["table"]]
    assert NOTES_DOCX["header"] not in doc.text and NOTES_DOCX["footer"] not in doc.text
    assert doc.pages == ()


def test_an_html_page_gives_its_main_text_and_never_its_scripts(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(HTML_PAGE, encoding="utf-8")
    doc = read_document(path)
    paragraphs = [doc.text[s:e] for s, e in doc.paragraphs]
    assert paragraphs[0] == "Memory at Hailsham"
    assert "At the Sales they buy toys and clothes with tokens." in doc.text
    assert "Kathy keeps a cassette tape in her chest." in paragraphs
    for never in ("SCRIPT TEXT", "WRITTEN BY SCRIPT", "alert", "STYLE TEXT", "color: red",
                  "NOSCRIPT", "Log in", "All rights reserved", "<"):
        assert never not in doc.text


# --- bad files: one line each, saying what is wrong ---------------------------------------------


def _pdf_named(path: Path) -> Path:
    return write_reading(path)


BAD_FILES = {
    "scanned": (lambda d: scanned_pdf(d / "scan.pdf"),
                ["scan.pdf", "no text layer", "OCR is not supported"]),
    "encrypted": (lambda d: encrypted_pdf(d / "locked.pdf"), ["locked.pdf", "encrypted", "password"]),
    "corrupt-pdf": (lambda d: _write(d / "broken.pdf", b"%PDF-1.7\n1 0 obj <<\x00\xff garbage"),
                    ["broken.pdf", "corrupt"]),
    "truncated-pdf": (lambda d: _write(d / "half.pdf", _half(write_reading(d / "whole.pdf"))),
                      ["half.pdf", "corrupt"]),
    "pdf-named-docx": (lambda d: _pdf_named(d / "essay.docx"),
                       ["essay.docx", "the content is a PDF, not a Word document", "rename it to .pdf"]),
    "docx-named-pdf": (lambda d: _renamed(write_docx(d / "notes.docx"), "notes.pdf"),
                       ["notes.pdf", "is a Word document (.docx), not a PDF", "rename it to .docx"]),
    "zip-named-pdf": (lambda d: _zip(d / "archive.pdf"), ["archive.pdf", "a ZIP archive, not a PDF"]),
    "zip-named-docx": (lambda d: _zip(d / "archive.docx"),
                       ["archive.docx", "a ZIP archive, not a Word document"]),
    "html-named-pdf": (lambda d: _write(d / "page.pdf", HTML_PAGE.encode()),
                       ["page.pdf", "is an HTML page, not a PDF", "rename it to .html"]),
    "pdf-named-html": (lambda d: _pdf_named(d / "page.html"), ["page.html", "a PDF, not an HTML page"]),
    "pdf-named-txt": (lambda d: _pdf_named(d / "notes.txt"), ["notes.txt", "a PDF, not a text file"]),
    "zip-bomb": (lambda d: zip_bomb(d / "bomb.docx", docx_format.MAX_UNZIPPED_BYTES + (8 << 20)),
                 ["bomb.docx", f"{docx_format.MAX_UNZIPPED_BYTES:,} bytes decompressed", "ZIP bomb"]),
    "lying-zip": (lambda d: lying_zip(d / "lying.docx"), ["lying.docx", "corrupt", "CRC"]),
    "over-page-limit": (lambda d: blank_pdf(d / "long.pdf", pdf_format.MAX_PAGES + 1),
                        ["long.pdf", f"{pdf_format.MAX_PAGES + 1:,} pages",
                         f"limit of {pdf_format.MAX_PAGES:,} pages"]),
    "script-only-html": (lambda d: _write(d / "empty.html", b"<html><script>var a = 'x';</script></html>"),
                         ["empty.html", "no text"]),
    "old-word": (lambda d: _write(d / "essay.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512)),
                 ["essay.doc", "unsupported file type .doc", "save it as .docx"]),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _half(path: Path) -> bytes:
    data = path.read_bytes()
    path.unlink()
    return data[: len(data) // 2]


def _renamed(path: Path, name: str) -> Path:
    return path.rename(path.with_name(name))


def _zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a document")
    return path


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_refused_in_one_line_and_the_index_is_kept(
    case, tmp_path, index_copy, tree_digest, capsys
):
    make, fragments = BAD_FILES[case]
    bad = make(tmp_path)
    before = tree_digest(index_copy)
    code = main(["ingest", str(DEFAULT_DOCUMENT), str(bad), "--index", str(index_copy)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err
    assert tree_digest(index_copy) == before


def test_an_encrypted_pdf_that_opens_without_a_password_is_read(tmp_path):
    doc = read_document(encrypted_pdf(tmp_path / "restricted.pdf", user_password=None))
    assert doc.text == "Only readers with the password may see this sentence."


@pytest.mark.parametrize(("module", "name"), [(pdf_format, "big.pdf"), (docx_format, "big.docx")])
def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch, module, name):
    path = write_reading(tmp_path / name) if name.endswith(".pdf") else write_docx(tmp_path / name)
    monkeypatch.setattr(module, "MAX_BYTES", 1000)
    with pytest.raises(DocumentError, match=rf"{name}: [\d,]+ bytes is too large \(limit 1,000 "):
        read_document(path)


def test_a_word_document_with_no_text_says_so(tmp_path):
    import docx

    path = tmp_path / "blank.docx"
    docx.Document().save(path)
    with pytest.raises(DocumentError, match="blank.docx: the file has no text"):
        read_document(path)


# --- end to end: ingest on the command line, ask, and see the pages -----------------------------


@pytest.fixture(scope="module")
def formats_index(tmp_path_factory) -> Path:
    """`assistant ingest reading.pdf notes.docx page.html --index DIR`, run as a user runs it."""
    folder = tmp_path_factory.mktemp("formats")
    write_reading(folder / "reading.pdf", first_label=12)
    write_docx(folder / "notes.docx")
    (folder / "page.html").write_text(HTML_PAGE, encoding="utf-8")
    index = folder / "index"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env["ASSISTANT_LLM_BACKEND"] = "none"  # the ingest alone, without preparing Explain
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "ingest", "reading.pdf", "notes.docx", "page.html",
         "--index", str(index)],
        cwd=folder, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith("indexed 3 document(s), ")
    return index


@pytest.fixture(scope="module")
def formats_assistant(formats_index, embedder):
    from assistant import Assistant

    return Assistant.from_settings(Settings(index_dir=formats_index, llm_backend="none"), embedder=embedder)


@pytest.mark.parametrize(
    ("question", "source", "pages", "words"),
    [
        (GALLERY, "reading.pdf", ("12",), "Madame collected the best paintings"),
        (BALLPOINT, "reading.pdf", ("13",), "ballpoint pen"),
        (LITTLEHAMPTON, "reading.pdf", ("15",), "Littlehampton"),
        ("Which novel did the veterans read at the Cottages?", "notes.docx", (), "Daniel Deronda"),
        ("Where does Kathy find the lost cassette?", "page.html", (), "second-hand shop"),
    ],
)
def test_answers_cite_the_pdf_page_they_come_from(formats_assistant, question, source, pages, words):
    answer = formats_assistant.ask(question)
    assert not answer.refused, answer.answer
    first = answer.citations[0].chunk
    assert first.source == source and words in first.text
    if pages:
        assert pages[0] in first.source_pages and set(first.source_pages) <= {"14", "15"} | set(pages)
    else:
        assert first.source_pages == ()


def test_the_pages_are_kept_in_the_index_on_disk(formats_index, embedder):
    from assistant.index import FORMAT_VERSION, load_index

    loaded = load_index(formats_index, embedder)
    assert loaded.manifest["format"] == FORMAT_VERSION == 2
    sources = {s["source"]: s for s in loaded.manifest["sources"]}
    assert sources["reading.pdf"]["pages"] == 4 and "pages" not in sources["notes.docx"]
    reading = loaded.documents["reading.pdf"]
    assert [label for *_span, label in reading.pages] == ["12", "13", "14", "15"]
    assert loaded.chunks == [c for d in loaded.documents.values() for c in chunk_document(d, 480, 1)]
    assert {p for c in loaded.chunks if c.source == "reading.pdf" for p in c.source_pages} == {
        "12", "13", "14", "15"}  # fmt: skip
    assert all(not c.source_pages for c in loaded.chunks if c.source != "reading.pdf")


def test_the_command_line_shows_the_page_beside_the_paragraph(formats_index, capsys):
    assert main(["ask", GALLERY, "--index", str(formats_index)]) == 0
    out = capsys.readouterr().out
    assert "[1] reading.pdf, p. 12, paragraph 1:" in out
    assert main(["ask", GALLERY, "--index", str(formats_index), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["citations"][0]["source_pages"] == ["12"] and record["citations"][0]["pages"] == []


def test_the_chat_shows_the_page_beside_the_paragraph(formats_assistant):
    content = answer_message(formats_assistant.ask(BALLPOINT))["content"]
    assert "reading.pdf · p. 13 · paragraph 3" in content


def test_a_pdf_reading_with_mla_citations_shows_both_kinds_of_page(tmp_path, capsys, embedder):
    from assistant.assistant import build_documents

    lines = [
        "Miss Lucy tells the students that they will never be film stars or work in",
        "supermarkets, because their lives have been set out for them (Ishiguro 80).",
    ]
    path = write_pdf(tmp_path / "quotes.pdf", [[lines]], first_label=7, head=None)
    build_documents([path], tmp_path / "index", Settings(), embedder)
    assert main(["ask", "What does Miss Lucy tell the students?", "--index", str(tmp_path / "index")]) == 0
    assert "[1] quotes.pdf, p. 7, paragraph 1, cites p. 80:" in capsys.readouterr().out
