"""Reading and repairing documents, splitting sentences, finding MLA citations, chunking.

The shipped essay is the main case (hard-wrapped, `<br>` paragraph marks, curly quotes, a hyphen
and dashes at line ends); small hand-made files cover the other shapes a student's file can take.
"""

from __future__ import annotations

import hashlib
import re

import pytest

from assistant import DocumentError
from assistant.config import DEFAULT_DOCUMENT, Settings
from assistant.ingest import (
    chunk_document,
    document_from_text,
    find_citations,
    read_document,
    repair_paragraphs,
)
from assistant.text import sentence_spans

POOR_CREATURES = "“Poor creatures. What did we do to you? With all our schemes and plans?”"


def sentences_of(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


# --- the essay ----------------------------------------------------------------------------------


def test_essay_is_repaired_into_two_paragraphs_without_br(essay_document):
    doc = essay_document
    assert len(doc.paragraphs) == 2
    paragraphs = [doc.text[s:e] for s, e in doc.paragraphs]
    assert doc.text == "\n\n".join(paragraphs)
    assert paragraphs[0].startswith(POOR_CREATURES)
    assert paragraphs[0].endswith("no different from a human biologically born.")
    assert paragraphs[1].startswith("Never Let Me Go is a memoir of the Other.")
    assert paragraphs[1].endswith("but by what they are not.")
    for paragraph in paragraphs:
        assert "\n" not in paragraph and "  " not in paragraph
        assert paragraph == paragraph.strip()
    assert "<br" not in doc.text.lower() and "br>" not in doc.text.lower()


def test_essay_line_ends_are_joined_as_written(essay_document):
    text = essay_document.text
    assert "thirty-one-year-old Kathy H." in text
    assert "students of Hailsham—our protagonist" in text
    assert "previously—and purposefully—obscured by the narration" in text
    assert "come from—their origin" in text
    # an ordinary line break became exactly one space
    assert "asks Madame Marie-Claude mid-crisis-of-conscience" in text
    for broken in (
        "thirty- one",
        "thirty-\n",
        "Hailsham —our",
        "Hailsham\n",
        "purposefully— obscured",
    ):
        assert broken not in text


def test_essay_keeps_its_curly_quotes(essay_document):
    raw = DEFAULT_DOCUMENT.read_text(encoding="utf-8")
    text = essay_document.text
    for mark in "“”’…—":
        assert text.count(mark) == raw.count(mark) > 0, mark
    assert '"' not in text and "Ishiguro’s Never Let Me Go" in text
    assert essay_document.sha256 == hashlib.sha256(DEFAULT_DOCUMENT.read_bytes()).hexdigest()


def test_essay_pages_254_and_166_are_mla_citations(essay_document):
    found = find_citations(essay_document.text)
    assert [(c.author, c.page) for c in found] == [
        ("Ishiguro", "254"),
        ("Ishiguro", "254"),
        ("Ishiguro", "166"),
    ]
    for c in found:
        assert essay_document.text[c.start : c.end] == f"(Ishiguro {c.page})"


def test_essay_citations_are_attached_to_the_chunks_that_hold_them(essay_chunks):
    assert {p for c in essay_chunks for p in c.pages} == {"254", "166"}
    for chunk in essay_chunks:
        # a chunk's pages are exactly the parenthetical citations inside its own text
        assert chunk.pages == sorted(set(re.findall(r"\(Ishiguro (\d+)\)", chunk.text)))
        for citation in chunk.citations:
            assert chunk.start <= citation.start < citation.end <= chunk.end
    first = next(c for c in essay_chunks if POOR_CREATURES in c.text)
    assert first.pages == ["254"] and len(first.citations) == 2
    ruth = next(c for c in essay_chunks if "modeled from trash" in c.text)
    assert ruth.pages == ["166"] and ruth.paragraph == 2


def test_essay_chunk_offsets_point_into_the_cleaned_text(essay_document, essay_chunks):
    doc = essay_document
    limit = Settings().chunk_chars
    assert len(essay_chunks) >= 4
    for chunk in essay_chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.source == DEFAULT_DOCUMENT.name
        assert chunk.chunk_id == f"{chunk.source}#{chunk.start}-{chunk.end}"
        p_start, p_end = doc.paragraphs[chunk.paragraph - 1]
        assert p_start <= chunk.start < chunk.end <= p_end  # never across paragraphs
        assert len(chunk.text) <= limit
        assert chunk.sentences[0][0] == chunk.start and chunk.sentences[-1][1] == chunk.end
        assert "<br" not in chunk.text.lower()
    assert len({c.chunk_id for c in essay_chunks}) == len(essay_chunks)
    # together the chunks cover every sentence of every paragraph, each once, in order
    for number, (p_start, p_end) in enumerate(doc.paragraphs, start=1):
        spans = sorted({s for c in essay_chunks if c.paragraph == number for s in c.sentences})
        assert " ".join(doc.text[s:e] for s, e in spans) == doc.text[p_start:p_end]


def test_essay_chunk_ids_are_stable_and_follow_their_text(essay_chunks):
    again = chunk_document(read_document(DEFAULT_DOCUMENT), Settings().chunk_chars, 1)
    assert again == essay_chunks
    # editing the second paragraph leaves the ids (and offsets) of the first one alone
    raw = DEFAULT_DOCUMENT.read_text(encoding="utf-8")
    edited = raw.replace("Never Let Me Go is a memoir of the Other.", "It is a memoir.")
    changed = chunk_document(document_from_text("never-let-me-go-essay.txt", edited), 800, 1)
    first = [c.chunk_id for c in essay_chunks if c.paragraph == 1]
    assert [c.chunk_id for c in changed if c.paragraph == 1] == first
    assert {c.chunk_id for c in changed if c.paragraph == 2}.isdisjoint(
        c.chunk_id for c in essay_chunks
    )


def test_essay_quotations_are_never_split(essay_document):
    sentences = [essay_document.text[s:e] for p in essay_document.paragraphs for s, e in
                 sentence_spans(essay_document.text[p[0]:p[1]], p[0])]  # fmt: skip
    opening = next(s for s in sentences if "Poor creatures" in s)
    assert opening.startswith(POOR_CREATURES)
    assert "asks Madame Marie-Claude" in opening and opening.endswith("(Ishiguro 254).")
    ruth = next(s for s in sentences if "modeled from trash" in s)
    assert "Ruth reveals some of her greatest fears" in ruth
    assert "Convicts maybe…” she says" in ruth and ruth.endswith("(Ishiguro 166).")
    assert "Kathy H., a Hailsham-student-turned-Carer" in next(
        s for s in sentences if "Kathy H." in s
    )
    assert len(sentences) == 15


# --- sentences and citations in general ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "He said “Stop. Now.” She left. “Why?” asked Ann. Done!",
            ["He said “Stop. Now.”", "She left.", "“Why?” asked Ann.", "Done!"],
        ),
        (
            'She wrote "It ends. It begins again." Then she slept.',
            ['She wrote "It ends. It begins again."', "Then she slept."],
        ),
        (
            "Dr. Smith met Mrs. Jones at 5 p.m. on Monday. See e.g. page two. A. B. Cole agreed.",
            [
                "Dr. Smith met Mrs. Jones at 5 p.m. on Monday.",
                "See e.g. page two.",
                "A. B. Cole agreed.",
            ],
        ),
        ("No full stop at the end", ["No full stop at the end"]),
    ],
)
def test_sentences_split_at_real_ends_only(text, expected):
    assert sentences_of(text) == expected


def test_sentence_offsets_are_shifted_into_the_document():
    text = "One here. Two there."
    assert sentence_spans(text, offset=100) == [(100, 109), (110, 120)]


def test_citation_forms():
    text = (
        "as argued (Smith and Jones 12–14). “A line” (45). In (1999) and (p. 3) nothing. "
        "(Morrison, p. 12) (Ishiguro 254)"
    )
    found = [(c.author, c.page) for c in find_citations(text)]
    # a bare page counts only right after a quotation; a year or a lone page elsewhere does not
    assert found == [
        ("Smith and Jones", "12-14"),
        (None, "45"),
        ("Morrison", "12"),
        ("Ishiguro", "254"),
    ]


# --- other files --------------------------------------------------------------------------------


def test_markdown_headings_and_list_items_are_blocks_of_their_own(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text(
        "# Study notes\n"
        "The essay argues\n"
        "that the clones are human.\n"
        "## Evidence\n"
        "- Madame Marie-Claude asks\n"
        "  about the creatures.\n"
        "- Ruth fears her **clone model**, see [the novel](https://example.org/nlmg).\n"
        "1. A numbered point with *emphasis*, `code` and snake_case_names.\n"
        "> A quoted line.\n",
        encoding="utf-8",
    )
    doc = read_document(path)
    paragraphs = [doc.text[s:e] for s, e in doc.paragraphs]
    assert paragraphs == [
        "Study notes",
        "The essay argues that the clones are human.",
        "Evidence",
        "Madame Marie-Claude asks about the creatures.",
        "Ruth fears her clone model, see the novel.",
        "1. A numbered point with emphasis, code and snake_case_names.",
        "A quoted line.",
    ]
    for chunk in chunk_document(doc):
        assert chunk.text in paragraphs[chunk.paragraph - 1]


def test_text_files_do_not_treat_markdown_marks_specially():
    assert repair_paragraphs("# not a heading\nin plain text") == ["# not a heading in plain text"]


def test_crlf_bom_and_br_variants(tmp_path):
    path = tmp_path / "windows.txt"
    raw = "\ufeffFirst line of one\r\nparagraph.<BR/>Second<br >paragraph\r\n  \t\r\nthird.\r\n"
    path.write_bytes(raw.encode())
    doc = read_document(path)
    assert doc.text == "First line of one paragraph.\n\nSecond\n\nparagraph\n\nthird."
    assert "\r" not in doc.text and "\ufeff" not in doc.text
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_unicode_line_and_paragraph_separators_are_breaks_like_newlines():
    # text copied from Word or a PDF: U+2028 and NEL break a line, U+2029 ends a paragraph
    text = "The heart has four\u2028chambers.\x85It pumps\u2029Blood carries oxygen.\x0cEnd."
    assert repair_paragraphs(text) == ["The heart has four chambers. It pumps",
                                       "Blood carries oxygen.", "End."]


def test_hyphen_and_dash_line_breaks_join_without_a_space(tmp_path):
    path = tmp_path / "wrapped.txt"
    path.write_text(
        "A well-\nknown school, Hailsham\n—our home—and a\nfriend—\nRuth—stayed.\n",
        encoding="utf-8",
    )
    assert (
        read_document(path).text
        == "A well-known school, Hailsham—our home—and a friend—Ruth—stayed."
    )


def test_a_spaced_dash_at_a_line_break_keeps_its_spaces():
    assert repair_paragraphs("the clones —\nraised from infancy — and\n— in the end — donors") == [
        "the clones — raised from infancy — and — in the end — donors"
    ]
    assert repair_paragraphs("a list -\nnot a hyphen") == ["a list - not a hyphen"]


def test_a_page_cited_in_a_small_file_is_attached_to_its_chunk(tmp_path):
    path = tmp_path / "short.md"
    path.write_text(
        "Kathy remembers “the pavilion” (Ishiguro 13).\nShe is thirty-one.\n\nNo citation here.\n",
        encoding="utf-8",
    )
    chunks = chunk_document(read_document(path))
    assert [(c.paragraph, c.pages) for c in chunks] == [(1, ["13"]), (2, [])]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"", "has no text"),
        ("blank.md", b"  \n<br>\n\t\n", "has no text"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("latin1.txt", "Café au lait.".encode("latin-1"), "not valid UTF-8"),
        ("essay.pdf", b"%PDF-1.4", "the PDF is corrupt"),
        ("essay.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "unsupported file type .doc.*save it as .docx"),
        ("essay.pdf.txt", b"%PDF-1.4\n", "the content is a PDF, not a text file.*rename it to .pdf"),
    ],
)
def test_unusable_files_are_refused_with_what_to_do(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentError, match=message) as caught:
        read_document(path)
    assert name in str(caught.value)


def test_missing_file_and_directory_are_refused(tmp_path):
    with pytest.raises(DocumentError, match="no such file"):
        read_document(tmp_path / "missing.txt")
    with pytest.raises(DocumentError, match="is a directory"):
        read_document(tmp_path)
