"""HTML for the chat: escaped messages, answers with their sources, and the highlighted essay.

Pure functions from schema values to HTML strings. Every piece of text from a user, a model or a
document goes through `escape` here, so the chat and the essay view show it as text; the page
around them (Gradio components, events) is in ui.py.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from assistant.schema import Answer, Citation, Document, page_reference

_MARKER = re.compile(r"\[(\d+)\]")
CHECKING = "Draft: each sentence is checked against the essay before it is kept."
WAITING = '<span class="waiting">Looking in the essay…</span>'

Message = dict[str, Any]  # a Chatbot message: {"role": "user" | "assistant", "content": html}


def escape(text: str) -> str:
    """HTML-escape text, including the characters Gradio's HTML templates would interpret."""
    return (
        html.escape(text, quote=True)
        .replace("$", "&#36;")
        .replace("{", "&#123;")
        .replace("}", "&#125;")
    )


def _lines(text: str) -> str:
    return escape(text).replace("\n", "<br>")


def user_message(question: str) -> Message:
    """The student's question as a chat message, shown as text."""
    return {"role": "user", "content": f'<div class="question">{_lines(question)}</div>'}


def pending_message(partial: str, checking: bool = False) -> Message:
    """The answer while it streams in; `checking`: it is being written by the model, so it is
    shown as a draft whose sentences are still to be checked against the essay."""
    if not partial:
        return {"role": "assistant", "content": f'<div class="answer pending">{WAITING}</div>'}
    if not checking:
        return {"role": "assistant", "content": f'<div class="answer pending">{_lines(partial)}</div>'}
    return {"role": "assistant", "content": (
        f'<div class="answer pending checking">{_lines(partial)}</div>'
        f'<div class="checking-note">{CHECKING}</div>')}


def notice_message(text: str) -> Message:
    """A short visible message in the chat (bad input, an error from the assistant)."""
    text = text[:1].upper() + text[1:]  # the facade's messages read as the end of a sentence
    return {
        "role": "assistant",
        "content": f'<div class="notice" role="alert">⚠️ {escape(text)}</div>',
    }


def answer_message(answer: Answer) -> Message:
    """A finished answer: its text with [n] markers, any notice, and a collapsible source list."""
    kind = "answer refused" if answer.refused else "answer"
    parts = [f'<div class="{kind}">{_answer_body(answer)}</div>']
    if answer.notice:
        parts.append(f'<div class="notice">{escape(answer.notice)}</div>')
    if answer.citations:
        parts.append(sources_html(answer.citations, answer.mode))
    return {"role": "assistant", "content": "".join(parts)}


def _answer_body(answer: Answer) -> str:
    if answer.refused and answer.nearest:  # the offered sentence, set apart from the refusal's words
        before, quoted, after = answer.answer.partition(f"\u201c{answer.nearest}\u201d")
        if quoted:
            return (f"{_lines(before.rstrip())}<blockquote class=\"nearest\">"
                    f"{_lines(answer.nearest)}</blockquote>{_lines(after.lstrip())}")
    known = {c.marker for c in answer.citations}
    marked = _MARKER.sub(
        lambda m: f'<span class="marker">[{m[1]}]</span>' if int(m[1]) in known else m[0],
        escape(answer.answer),
    )
    return marked.replace("\n", "<br>")


def pages_label(pages: Sequence[str]) -> str:
    """'page 254', 'pages 166, 254', or '' when the passage cites no page."""
    if not pages:
        return ""
    return f"page{'s' if len(pages) > 1 else ''} {', '.join(pages)}"


def sources_html(citations: Sequence[Citation], mode: str) -> str:
    """A <details> block listing each cited passage with where it is (its PDF page(s) and paragraph)
    and the page(s) its MLA citations name."""
    how = "explained by the model" if mode == "generative" else "quoted from the essay"
    items = []
    for c in citations:
        where = [escape(c.chunk.source)]
        if c.chunk.source_pages:
            where.append(escape(page_reference(c.chunk.source_pages)))
        where.append(f"paragraph {c.chunk.paragraph}")
        if c.chunk.pages:  # beside the passage's own page, say that these are the cited work's
            cited = pages_label(c.chunk.pages)
            where.append(f"cites {cited}" if c.chunk.source_pages else cited)
        items.append(
            f'<li class="source" data-marker="{c.marker}"><span class="marker">[{c.marker}]</span> '
            f'<span class="where">{" · ".join(where)}</span>'
            f"<blockquote>{escape(c.chunk.text)}</blockquote></li>"
        )
    count = len(citations)
    return (
        f'<details class="sources"><summary>Sources ({count} passage{"s" if count > 1 else ""}, '
        f"{how})</summary><ol>{''.join(items)}</ol></details>"
    )


def title_of(source: str) -> str:
    """A document's name as a reader would write it: "never-let-me-go-essay.txt" -> "Never Let Me
    Go Essay" (words already capitalized, "iPhone" or "NATO", stay as they are)."""
    stem = re.sub(r"\.(txt|text|md|markdown|pdf|docx|html?)$", "", source, flags=re.IGNORECASE)
    words = re.split(r"[\s_\-]+", stem)
    return " ".join(w if any(c.isupper() for c in w) else w[:1].upper() + w[1:]
                    for w in words if w) or source


def essay_html(documents: Mapping[str, Document], citations: Sequence[Citation] = ()) -> str:
    """The documents as paragraphs, with the cited passages wrapped in <mark>."""
    spans: dict[str, list[tuple[int, int, int]]] = {}
    for c in citations:
        spans.setdefault(c.chunk.source, []).append((c.chunk.start, c.chunk.end, c.marker))
    out = ['<div class="essay">']
    for source, doc in documents.items():
        out.append(f'<h3 class="essay-title" title="{escape(source)}">{escape(title_of(source))}</h3>')
        for number, (start, end) in enumerate(doc.paragraphs, 1):
            out.append(f'<p data-paragraph="{number}">')
            out.append(_highlight(doc.text, start, end, spans.get(source, [])))
            out.append("</p>")
    out.append("</div>")
    return "".join(out)


def _highlight(text: str, start: int, end: int, spans: list[tuple[int, int, int]]) -> str:
    # Cited passages may overlap (chunks share a sentence), so cut at every boundary and mark
    # each piece with all the markers covering it.
    cuts = sorted({start, end, *(p for s, e, _ in spans for p in (s, e) if start < p < end)})
    pieces = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        markers = sorted({m for s, e, m in spans if s < b and e > a})
        piece = escape(text[a:b])
        if markers:
            label = "".join(f"[{m}]" for m in markers)
            numbers = " ".join(map(str, markers))
            piece = f'<mark data-markers="{numbers}" title="Cited as {label}">{piece}</mark>'
        pieces.append(piece)
    return "".join(pieces)
