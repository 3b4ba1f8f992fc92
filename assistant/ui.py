"""The Gradio chat: a thin adapter over `Assistant.stream`, with sources, highlights and a Stop button.

`respond` and `stop` are plain functions (testable without a server); `build_ui` wires them into a
`gradio.Blocks`, and `launch_options` holds the app-level settings (theme, CSS, footer) that Gradio 6
takes at `launch()` / `gr.mount_gradio_app()` rather than in the `Blocks` constructor.
Every piece of text from a user or a document is HTML-escaped here before it reaches the page; the
chat renders our HTML without Markdown. Leaves out the HTTP API and embedding headers (api.py, server.py).
"""

# No `from __future__ import annotations`: Gradio reads handler annotations (gr.SelectData) at
# run time, and the nested handlers in build_ui refer to the lazily imported `gr`.

import html
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from assistant.errors import AssistantError
from assistant.schema import Answer, Citation, Document, Turn

if TYPE_CHECKING:
    import gradio

    from assistant.assistant import Assistant

API_NAME = "ask"  # gradio_client: Client(url).predict(question, [], "extractive", api_name="/ask")
MODES = (("Explain", "generative"), ("Quote the essay", "extractive"))  # (label, value) for gr.Radio
EXAMPLES = (
    "What is the essay's thesis?",
    'Who says "Poor creatures. What did we do to you?"',
    "When does Ishiguro first use the word clone?",
    "What does Ruth fear?",
)
MAX_TURNS = 20  # history kept per session; the facade itself uses only the last few
_MARKER = re.compile(r"\[(\d+)\]")

Message = dict[str, Any]  # a Chatbot message: {"role": "user" | "assistant", "content": html}


class StopFlag:
    """One session's Stop signal: a `threading.Event` that a gr.State can hold.

    gr.State deep-copies its values; an Event cannot be copied, and copying would break the link
    between the Stop button and the running answer, so a copy is the flag itself.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.running = False

    def __deepcopy__(self, memo: dict) -> "StopFlag":
        return self


# ---------------------------------------------------------------- rendering (pure, escaped HTML)


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


def pending_message(partial: str) -> Message:
    """The answer while it streams in."""
    body = _lines(partial) if partial else '<span class="waiting">Looking in the essay…</span>'
    return {"role": "assistant", "content": f'<div class="answer pending">{body}</div>'}


def notice_message(text: str) -> Message:
    """A short visible message in the chat (bad input, an error from the assistant)."""
    return {"role": "assistant", "content": f'<div class="notice" role="alert">⚠️ {escape(text)}</div>'}


def answer_message(answer: Answer) -> Message:
    """A finished answer: its text with [n] markers, any notice, and a collapsible list of sources."""
    parts = [f'<div class="answer{" refused" if answer.refused else ""}">{_answer_body(answer)}</div>']
    if answer.notice:
        parts.append(f'<div class="notice">{escape(answer.notice)}</div>')
    if answer.citations:
        parts.append(sources_html(answer.citations, answer.mode))
    return {"role": "assistant", "content": "".join(parts)}


def _answer_body(answer: Answer) -> str:
    body = escape(answer.answer)
    for check in answer.verification or ():
        text = escape(check.text.strip())
        if not check.verified and text and text in body:
            why = escape("; ".join(check.problems) or "not found in the cited passages")
            body = body.replace(text, f'<span class="unverified" title="Not verified: {why}">⚠️ {text}</span>', 1)
    known = {c.marker for c in answer.citations}
    body = _MARKER.sub(
        lambda m: f'<span class="marker">[{m[1]}]</span>' if int(m[1]) in known else m[0], body
    )
    return body.replace("\n", "<br>")


def pages_label(pages: Sequence[str]) -> str:
    """'page 254', 'pages 166, 254', or '' when the passage cites no page."""
    if not pages:
        return ""
    return f"page{'s' if len(pages) > 1 else ''} {', '.join(pages)}"


def sources_html(citations: Sequence[Citation], mode: str) -> str:
    """A <details> block listing each cited passage with its paragraph and page(s)."""
    how = "explained by the model" if mode == "generative" else "quoted from the essay"
    items = []
    for c in citations:
        where = [escape(c.chunk.source), f"paragraph {c.chunk.paragraph}"]
        if c.chunk.pages:
            where.append(pages_label(c.chunk.pages))
        items.append(
            f'<li class="source" data-marker="{c.marker}"><span class="marker">[{c.marker}]</span> '
            f'<span class="where">{" · ".join(where)}</span>'
            f'<blockquote>{escape(c.chunk.text)}</blockquote></li>'
        )
    count = len(citations)
    return (
        f'<details class="sources"><summary>Sources ({count} passage{"s" if count > 1 else ""}, '
        f'{how})</summary><ol>{"".join(items)}</ol></details>'
    )


def essay_html(documents: Mapping[str, Document], citations: Sequence[Citation] = ()) -> str:
    """The documents as paragraphs, with the cited passages wrapped in <mark>."""
    spans: dict[str, list[tuple[int, int, int]]] = {}
    for c in citations:
        spans.setdefault(c.chunk.source, []).append((c.chunk.start, c.chunk.end, c.marker))
    out = ['<div class="essay">']
    for source, doc in documents.items():
        out.append(f'<h3 class="essay-title">{escape(source)}</h3>')
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
            piece = f'<mark data-markers="{" ".join(map(str, markers))}" title="Cited as {label}">{piece}</mark>'
        pieces.append(piece)
    return "".join(pieces)


# ---------------------------------------------------------------- handlers (plain functions)

Update = tuple[list[Message], list[Turn], Any, Any]  # chat, turns, essay html, question box


def respond(
    assistant: "Assistant",
    question: str | None,
    chat: Sequence[Message] | None,
    turns: Sequence[Turn] | None,
    mode: str | None,
    flag: StopFlag | None = None,
    *,
    skip: Any = None,
) -> Iterator[Update]:
    """Answer one question, yielding (chat, turns, essay_html, question_box) as the answer streams.

    `skip` is what to yield for an output that does not change (Gradio's `gr.skip()`); the essay
    view changes only with the final answer, and the question box is cleared once accepted.
    """
    chat = list(chat or [])
    turns = list(turns or [])
    try:
        text = assistant.check_question(question or "")
    except AssistantError as err:
        # The question stays in the box so the student can fix it.
        yield [*chat, notice_message(str(err))], turns, skip, skip
        return
    flag = flag or StopFlag()
    flag.event.clear()
    flag.running = True
    chat += [user_message(text), pending_message("")]
    yield chat, turns, skip, ""
    partial, answer = "", None
    try:
        for item in assistant.stream(text, mode=mode or None, history=tuple(turns), stop=flag.event):
            if isinstance(item, str):
                partial += item
                chat[-1] = pending_message(partial)
                yield chat, turns, skip, skip
            else:
                answer = item
    except AssistantError as err:
        chat[-1] = notice_message(str(err))
        yield chat, turns, skip, skip
        return
    finally:
        flag.running = False
    if answer is None:  # the facade promises a final Answer; say so rather than show nothing
        chat[-1] = notice_message("No answer came back. Please ask again.")
        yield chat, turns, skip, skip
        return
    chat[-1] = answer_message(answer)
    turns = [*turns, Turn(question=text, answer=answer.answer)][-MAX_TURNS:]
    yield chat, turns, essay_html(assistant.documents, answer.citations), skip


def stop(chat: Sequence[Message] | None, flag: StopFlag | None) -> list[Message]:
    """Ask the running answer to stop; note it under the partial answer shown so far."""
    chat = list(chat or [])
    if flag is None or not flag.running:
        return chat
    flag.event.set()
    if chat and chat[-1].get("role") == "assistant":
        last = dict(chat[-1])
        last["content"] = _content_html(last.get("content")) + '<div class="notice">Stopped.</div>'
        chat[-1] = last
    return chat


def _content_html(content: Any) -> str:
    # Gradio 6 hands message content back normalized: a list of {"type": "text", "text": ...}.
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(c.get("text", "") for c in content if isinstance(c, dict))
    return ""


def default_mode(assistant: "Assistant") -> str:
    """'generative' when a language model is available, else 'extractive'."""
    return "generative" if assistant.generative_available else "extractive"


# ---------------------------------------------------------------- the Blocks

CSS = """
.study-header h1 { margin: 0 0 .25rem 0; font-size: 1.6rem; }
.study-header p { margin: 0; opacity: .8; }
#chat .answer .marker, #chat .source .marker { font-weight: 600; color: var(--color-accent); }
#chat .notice { margin-top: .4rem; font-style: italic; }
#chat .refused { font-style: italic; }
#chat .unverified { text-decoration: underline dotted; }
#chat .waiting { opacity: .6; }
#chat details.sources { margin-top: .6rem; }
#chat details.sources summary { cursor: pointer; font-weight: 600; }
#chat details.sources ol { list-style: none; padding-left: 0; margin: .4rem 0 0 0; }
#chat details.sources li { margin-bottom: .5rem; }
#chat details.sources .where { font-size: .85em; opacity: .8; }
#chat details.sources blockquote { margin: .2rem 0 0 0; padding-left: .6rem;
  border-left: 3px solid var(--border-color-primary); }
#essay { max-height: 70vh; overflow-y: auto; }
#essay .essay p { line-height: 1.55; margin-bottom: .8rem; }
#essay mark { background: #fff2a8; color: inherit; padding: 0 .1em; border-radius: 2px; }
.compact #essay { max-height: 14rem; }
.compact.gradio-container { padding: 4px !important; }
"""


def launch_options(compact: bool = False) -> dict[str, Any]:
    """Keyword arguments for `Blocks.launch()` or `gr.mount_gradio_app()` (Gradio 6 moved them there)."""
    return {
        "css": CSS,
        "footer_links": [] if compact else ["api", "settings"],
        "run_history": False,  # questions are not kept in the browser (shared computers)
        "ssr_mode": False,  # no Node server
    }


def build_ui(assistant: "Assistant", *, compact: bool = False) -> "gradio.Blocks":
    """The chat as a gradio.Blocks; compact=True is the embeddable widget (fits a 400x600 frame)."""
    from assistant.config import apply_offline_env

    apply_offline_env()
    import gradio as gr

    mode_value = default_mode(assistant)
    titles = ", ".join(assistant.documents) or "no document"
    with gr.Blocks(
        title="Study Assistant",
        analytics_enabled=False,
        fill_height=compact,
        elem_classes=["compact"] if compact else None,
    ) as demo:
        if not compact:
            gr.HTML(
                '<div class="study-header"><h1>Study Assistant</h1>'
                f"<p>Ask about <em>{escape(titles)}</em>. Every answer cites the passages it rests "
                "on; open <strong>Sources</strong> to read them, and see them highlighted in the essay."
                "</p></div>",
                js_on_load=None,
            )
        turns = gr.State([])
        flag = gr.State(StopFlag)  # a callable: each session gets its own flag
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Conversation",
                    elem_id="chat",
                    height=300 if compact else 480,
                    render_markdown=False,  # content is HTML built (and escaped) above
                    sanitize_html=True,
                    latex_delimiters=[],
                    buttons=[],
                    feedback_options=None,
                    examples=[{"text": q} for q in EXAMPLES] if compact else None,
                    placeholder=None if compact else "Ask a question about the essay.",
                )
                with gr.Row():
                    question = gr.Textbox(
                        show_label=False,
                        placeholder="Ask about the essay…",
                        elem_id="question",
                        lines=1,
                        max_lines=4,
                        scale=5,
                        autofocus=not compact,
                    )
                    ask_button = gr.Button("Ask", variant="primary", elem_id="ask", scale=1, min_width=60)
                    stop_button = gr.Button("Stop", variant="stop", elem_id="stop", scale=1, min_width=60)
                mode = gr.Radio(
                    choices=list(MODES),
                    value=mode_value,
                    label=None if compact else "Answer style",
                    show_label=not compact,
                    elem_id="mode",
                    interactive=assistant.generative_available,
                    info=None
                    if assistant.generative_available or compact
                    else "Explain needs a language model; none is available, so answers quote the essay.",
                )
                if not compact:
                    examples = gr.Examples(
                        examples=[[q] for q in EXAMPLES], inputs=[question], label="Try asking"
                    )
            essay_column = gr.Accordion("The essay", open=False) if compact else gr.Column(scale=2)
            with essay_column:
                essay = gr.HTML(
                    essay_html(assistant.documents),
                    elem_id="essay",
                    label="The essay (cited passages highlighted)",
                    show_label=not compact,
                    js_on_load=None,
                )

        def ask(question: str, chat: list, turns: list, mode: str, flag: StopFlag):
            """Answer a question about the essay; mode is "generative" (Explain) or "extractive"."""
            yield from respond(assistant, question, chat, turns, mode, flag, skip=gr.skip())

        def pick_example(evt: gr.SelectData) -> str:
            return evt.value.get("text", "") if isinstance(evt.value, dict) else str(evt.value)

        io = {
            "fn": ask,
            "inputs": [question, chatbot, turns, mode, flag],
            "outputs": [chatbot, turns, essay, question],
            "show_progress": "minimal",
            "show_progress_on": [chatbot],
        }
        asked = gr.on([question.submit, ask_button.click], api_name=API_NAME, **io)
        if compact:
            filled = chatbot.example_select(pick_example, None, question, queue=False, api_visibility="private")
        else:
            filled = examples.load_input_event
        from_example = filled.then(api_visibility="undocumented", **io)
        stop_button.click(
            stop, [chatbot, flag], [chatbot], cancels=[asked, from_example], queue=False,
            api_visibility="private",
        )
    demo.queue(max_size=assistant.settings.queue_size)
    return demo
