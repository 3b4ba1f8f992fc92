"""The chat's HTML: escaping, answers with markers and sources, and the highlighted essay.
Built from the shipped essay through the real ingest functions (no model needed)."""

import re

import pytest

from assistant import Answer, Citation, SentenceCheck, Settings
from assistant.answering.extractive import refusal
from assistant.ingest import chunk_document, read_document
from assistant.web.view import answer_message, escape, essay_html, pages_label, user_message


@pytest.fixture(scope="module")
def essay():
    settings = Settings()
    doc = read_document(settings.default_document)
    return doc, chunk_document(doc, settings.chunk_chars, settings.chunk_overlap)


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def test_a_document_is_titled_as_a_reader_would_write_its_name():
    from assistant.web.view import title_of

    assert title_of("never-let-me-go-essay.txt") == "Never Let Me Go Essay"
    assert title_of("week_3 NATO notes.md") == "Week 3 NATO Notes"
    assert title_of("iPhone-review.txt") == "iPhone Review"


def test_escape_leaves_no_markup_or_template_syntax():
    escaped = escape("<img src=x onerror=alert(1)> & \"q\" 'a' ${x} {{y}}")
    assert not set(escaped) & set("<>\"'${}")
    assert "&lt;img src=x onerror=alert(1)&gt; &amp;" in escaped


def test_a_question_keeps_its_line_breaks_as_text():
    assert user_message("a <b>\nc")["content"] == '<div class="question">a &lt;b&gt;<br>c</div>'


def test_essay_view_marks_overlapping_citations_once(essay):
    doc, chunks = essay
    pairs = zip(chunks, chunks[1:], strict=False)
    first, second = next((a, b) for a, b in pairs if a.end > b.start)  # sharing a sentence
    html = essay_html({doc.source: doc}, [Citation(1, first), Citation(2, second)])
    assert 'data-markers="1 2"' in html
    shared = doc.text[second.start : first.end]
    assert text_of(html).count(escape(shared)) == 1
    assert text_of(html).replace("&amp;", "&") == "Never Let Me Go Essay" + "".join(
        doc.text[s:e] for s, e in doc.paragraphs
    )


def test_answer_lists_each_source_with_paragraph_and_pages(essay):
    doc, chunks = essay
    with_page = next(c for c in chunks if c.pages == ["254"])
    ruth = next(c for c in chunks if "166" in c.pages)
    answer = Answer(
        "q", "Madame asks [1]. Ruth fears [2]. Not a marker [7].", False, "extractive",
        (Citation(1, with_page), Citation(2, ruth)),
    )  # fmt: skip
    content = answer_message(answer)["content"]
    assert content.count('<span class="marker">') == 4  # two in the text, two in the list
    assert "[7]" in text_of(content) and '<span class="marker">[7]' not in content
    assert "paragraph 1 · page 254" in content and f"paragraph {ruth.paragraph}" in content
    assert "quoted from the essay" in content


def test_a_refused_answer_has_no_sources_and_sets_its_nearest_sentence_apart(essay):
    _, chunks = essay
    refused = answer_message(Answer("q", "The essay doesn't say.", True, "extractive"))
    assert "<details" not in refused["content"] and "refused" in refused["content"]
    said = refusal("Where?", frozenset(), "Kathy <b>waits</b>.", "paragraph 2")
    near = answer_message(Answer("Where?", said.text, True, "extractive", nearest=said.nearest))
    near = near["content"]
    assert '<blockquote class="nearest">Kathy &lt;b&gt;waits&lt;/b&gt;.</blockquote>' in near
    assert "in paragraph 2:<blockquote" in near and "\u201c" not in near  # set apart, not quoted
    assert "<details" not in near and "ask again in its words." in near
    generated = Answer(
        "q", "Ruth says it [1]. Kathy narrates [1].", False, "generative",
        (Citation(1, chunks[0]),), notice="One sentence could not be checked.",
        verification=(SentenceCheck("Ruth says it [1].", (1,), True),
                      SentenceCheck("Kathy narrates [1].", (1,), True)),
    )  # fmt: skip
    content = answer_message(generated)["content"]
    assert content.count('<span class="marker">[1]</span>') == 3  # twice in the text, once listed
    assert "explained by the model" in content and "One sentence could not be checked." in content


@pytest.mark.parametrize(
    ("pages", "label"), [([], ""), (["254"], "page 254"), (["166", "254"], "pages 166, 254")]
)
def test_pages_label(pages, label):
    assert pages_label(pages) == label
