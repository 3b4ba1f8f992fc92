"""The Gradio chat: a thin adapter over `Assistant.stream`, with sources, highlights and Stop.

`respond` and `stop` are plain functions (testable without a server); `build_ui` wires them into
a `gradio.Blocks`, and `launch_options` holds the app-level settings (CSS, footer) that Gradio 6
takes at `launch()` / `gr.mount_gradio_app()` rather than in the `Blocks` constructor.
The HTML shown (escaped) comes from view.py; the chat renders it without Markdown. The full page
has the chat and the study aids (study.py) in tabs; its example questions are made from the
document (`suggestions`). Leaves out the HTTP API, embedding headers and security policy (api.py,
server.py).
"""

# No `from __future__ import annotations`: Gradio reads handler annotations (gr.SelectData) at
# run time, and the nested handlers in build_ui refer to the lazily imported `gr`.

import threading
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from assistant.errors import AssistantError
from assistant.schema import Turn
from assistant.web.study import CSS as STUDY_CSS
from assistant.web.study import study_tab
from assistant.web.uploads import CSS as UPLOADS_CSS
from assistant.web.uploads import active, own_document_row
from assistant.web.view import (
    WAITING,
    Message,
    answer_message,
    escape,
    essay_html,
    notice_message,
    pending_message,
    title_of,
    user_message,
)

if TYPE_CHECKING:
    import gradio

    from assistant.assistant import Assistant

API_NAME = "ask"  # gradio_client: Client(url).predict(question, [], "extractive", api_name="/ask")
MODES = (("Explain", "generative"), ("Quote the essay", "extractive"))  # gr.Radio (label, value)
# Shown when the document yields no suggestions of its own (`suggestions`): questions about any
# essay's parts, which the assistant answers by position.
EXAMPLES = ("What is the essay's thesis?", "Summarize the essay")
UNAVAILABLE = (
    "Explain needs a language model and none is available here, so answers quote the essay."
)
COMPACT_UNAVAILABLE = "Explain (no model here)"  # the widget's label for the disabled choice
MAX_TURNS = 20  # history kept per session; the facade itself uses only the last few
# Answers run in parallel up to this many; the LLM layer serializes generation itself, so a quoted
# answer need not wait behind a generated one.
CONCURRENCY = 4


class StopFlag:
    """One session's Stop signal, a gr.State holding the running answer's `threading.Event`.

    Each answer gets a fresh event (`start`), so a Stop stays set for the answer it was meant
    for even when the student asks again before that generation has noticed it. gr.State
    deep-copies its initial value once for each new session (and an Event cannot be copied), so
    a copy is a fresh flag: every session gets its own.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.running = False
        self.cleared: threading.Event | None = None  # the answer running when the chat was cleared

    def start(self) -> threading.Event:
        self.event = threading.Event()
        self.running = True
        return self.event

    def clear(self) -> None:
        """The student cleared the chat: stop the running answer, and let it show nothing more."""
        if self.running:
            self.cleared = self.event
            self.event.set()

    def __deepcopy__(self, memo: dict) -> "StopFlag":
        return StopFlag()


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

    Each update is a new list, so a caller may keep them (Gradio sends only the difference).

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
    event = flag.start()
    chat += [user_message(text), pending_message("")]
    generating = (mode or assistant.settings.mode) == "generative"
    yield [*chat], turns, skip, ""
    partial, answer = "", None
    try:
        for item in assistant.stream(
            text, mode=mode or None, history=tuple(turns), stop=event
        ):
            if flag.cleared is event:
                continue  # the chat was cleared: let the generation end, show nothing of it
            if isinstance(item, str):
                partial += item
                chat[-1] = pending_message(partial, checking=generating)
                yield [*chat], turns, skip, skip
            else:
                answer = item
    except AssistantError as err:
        chat[-1] = notice_message(str(err))
        yield [*chat], turns, skip, skip
        return
    finally:
        if flag.event is event:  # a newer answer in this session owns the flag otherwise
            flag.running = False
    if flag.cleared is event:
        yield [], [], essay_html(assistant.documents), skip
        return
    if answer is None:  # the facade promises a final Answer; say so rather than show nothing
        chat[-1] = notice_message("No answer came back. Please ask again.")
        yield [*chat], turns, skip, skip
        return
    chat[-1] = answer_message(answer)
    if answer.answer:  # a stopped answer with nothing verified is not part of the conversation
        cited = tuple(c.chunk.chunk_id for c in answer.citations)
        turns = [*turns, Turn(question=text, answer=answer.answer, cited=cited)][-MAX_TURNS:]
    yield chat, turns, essay_html(assistant.documents, answer.citations), skip


def stop(chat: Sequence[Message] | None, flag: StopFlag | None) -> list[Message]:
    """Ask the running answer to stop; note it under the partial answer shown so far."""
    chat = list(chat or [])
    if flag is None or not flag.running:
        return chat
    flag.event.set()
    if chat and chat[-1].get("role") == "assistant":
        shown = _content_html(chat[-1].get("content"))
        if WAITING in shown:  # nothing produced yet: drop the "Looking…" placeholder
            shown = ""
        chat[-1] = {**chat[-1], "content": shown + '<div class="notice">Stopped.</div>'}
    return chat


def _content_html(content: Any) -> str:
    # Gradio 6 hands message content back normalized: a list of {"type": "text", "text": ...}.
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(c.get("text", "") for c in content if isinstance(c, dict))
    return ""


def suggestions(assistant: "Assistant") -> list[str]:
    """Example questions made from the documents (their thesis, evidence, pages), each answered
    with a citation; the generic EXAMPLES when none can be made."""
    try:
        return assistant.suggested_questions() or list(EXAMPLES)
    except AssistantError:
        return list(EXAMPLES)


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
#chat .refused blockquote.nearest { font-style: normal; margin: .4rem 0; padding-left: .6rem;
  border-left: 3px solid var(--border-color-primary); }
#chat .waiting { opacity: .6; }
#chat .answer.checking { opacity: .7; }
#chat .checking-note { margin-top: .3rem; font-size: .85em; font-style: italic; opacity: .7; }
#chat details.sources { margin-top: .6rem; }
#chat details.sources summary { cursor: pointer; font-weight: 600; }
#chat details.sources ol { list-style: none; padding-left: 0; margin: .4rem 0 0 0; }
#chat details.sources li { margin-bottom: .5rem; }
#chat details.sources .where { font-size: .85em; opacity: .8; }
#chat details.sources blockquote { margin: .2rem 0 0 0; padding-left: .6rem;
  border-left: 3px solid var(--border-color-primary); }
#essay { max-height: 70vh; overflow-y: auto; }
#essay .essay p { line-height: 1.55; margin-bottom: .8rem; }
#essay mark { background: #fff2a8; color: #1f2328; padding: 0 .1em; border-radius: 2px; }
"""
# Scrolls the essay view (only it, not the page) to the first highlighted passage when it is out of
# sight: after an answer, and when the widget's essay is opened.
SCROLL_TO_MARK = """() => { let tries = 0; const go = () => {
  const mark = document.querySelector('#essay mark');
  if (!mark || !mark.offsetParent) { if (++tries < 40) setTimeout(go, 50); return; }
  let box = mark.parentElement;  // the nearest box that scrolls; never the page itself
  while (box && !(/auto|scroll/.test(getComputedStyle(box).overflowY)
                  && box.scrollHeight > box.clientHeight)) box = box.parentElement;
  if (!box || box === document.body || box === document.documentElement) return;
  const b = box.getBoundingClientRect(), m = mark.getBoundingClientRect();
  if (m.top < b.top || m.bottom > b.bottom) box.scrollTop += m.top - b.top - 8;
}; setTimeout(go, 50); }"""
# The widget lives in a 400x600 frame: no room for Gradio's page margins.
COMPACT_CSS = """
.gradio-container .main.app { padding: 6px 8px !important; }
#essay { max-height: 12rem; }
"""


def launch_options(compact: bool = False) -> dict[str, Any]:
    """Keyword arguments for `Blocks.launch()` and `gr.mount_gradio_app()` (Gradio 6 wants them)."""
    return {
        "css": CSS + STUDY_CSS + COMPACT_CSS if compact else CSS + STUDY_CSS + UPLOADS_CSS,
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
    titles = ", ".join(map(title_of, assistant.documents)) or "no document"
    with gr.Blocks(
        title="Study Assistant",
        analytics_enabled=False,
    ) as demo:
        if not compact:
            gr.HTML(
                '<div class="study-header"><h1>Study Assistant</h1>'
                f"<p>Ask about <em>{escape(titles)}</em>. Every answer cites the passages it "
                "rests on: open <strong>Sources</strong> to read them, and see them highlighted "
                "in the essay.</p></div>",
                js_on_load=None,
            )
        turns = gr.State([])
        flag = gr.State(StopFlag())  # each session gets its own copy (see StopFlag)
        suggested = suggestions(assistant)
        # the full page: the chat and the study aids in tabs; the widget: the chat alone
        with gr.Tab("Chat", id="chat-tab") if not compact else nullcontext():
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Conversation",
                        elem_id="chat",
                        height=310 if compact else 480,  # the widget: room for Practice
                        render_markdown=False,  # content is escaped HTML from view.py
                        sanitize_html=True,
                        latex_delimiters=[],
                        buttons=[],
                        feedback_options=None,
                        examples=[{"text": q} for q in suggested] if compact else None,
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
                        ask_button = gr.Button(
                            "Ask", variant="primary", elem_id="ask", scale=1, min_width=56
                        )
                        stop_button = gr.Button(
                            "Stop", variant="stop", elem_id="stop", scale=1, min_width=56
                        )
                    choices = list(MODES)
                    if compact and not assistant.generative_available:  # no room for the info line
                        choices[0] = (COMPACT_UNAVAILABLE, choices[0][1])
                    mode = gr.Radio(
                        choices=choices,
                        value=mode_value,
                        label=None if compact else "Answer style",
                        show_label=not compact,
                        elem_id="mode",
                        interactive=assistant.generative_available,
                        info=None if assistant.generative_available or compact else UNAVAILABLE,
                    )
                    if not compact:
                        examples = gr.Examples(
                            examples=[[q] for q in suggested], inputs=[question],
                            label="Try asking"
                        )
                if not compact:
                    with gr.Column(scale=2):
                        essay = gr.HTML(
                            essay_html(assistant.documents), elem_id="essay", js_on_load=None
                        )
            # a student's own document, for this session only (uploads.py); not in the widget
            own = None if compact else own_document_row(demo, assistant, chatbot, turns, essay)
        if compact:  # below the chat: a 400px frame has no room beside it
            with gr.Accordion("The essay", open=False) as essay_box:
                essay = gr.HTML(essay_html(assistant.documents), elem_id="essay", js_on_load=None)
            essay_box.expand(None, None, None, js=SCROLL_TO_MARK, queue=False)
            study_tab(assistant, compact=True, essay=essay)
        else:
            with gr.Tab("Study", id="study-tab") as study_page:
                study_tab(assistant, scroll_js=SCROLL_TO_MARK, opened=study_page.select)
        essay.change(None, None, None, js=SCROLL_TO_MARK, queue=False)

        def ask(question: str, chat: list, turns: list, mode: str, flag: StopFlag, own=None):
            """Answer a question about the essay; mode is "generative" (Explain) or "extractive"."""
            yield from respond(active(assistant, own), question, chat, turns, mode, flag,
                               skip=gr.skip())

        def pick_example(evt: gr.SelectData) -> str:
            return evt.value.get("text", "") if isinstance(evt.value, dict) else str(evt.value)

        io = {
            "fn": ask,
            "inputs": [question, chatbot, turns, mode, flag, *([own] if own is not None else [])],
            "outputs": [chatbot, turns, essay, question],
            "show_progress": "minimal",
            "show_progress_on": [chatbot],
            "concurrency_limit": CONCURRENCY,
            "concurrency_id": "ask",
            # A question sent while an answer is still finishing (just after Stop, say) waits for
            # it and then runs; Gradio's default ("once") would drop it without a word.
            "trigger_mode": "always_last",
        }
        gr.on([question.submit, ask_button.click], api_name=API_NAME, **io)
        if compact:
            filled = chatbot.example_select(
                pick_example, None, question, queue=False, api_visibility="private"
            )
        else:
            filled = examples.load_input_event
        filled.then(api_visibility="undocumented", **io)

        def clear(flag: StopFlag, own=None):  # noqa: ANN202 - Gradio's outputs
            flag.clear()
            return [], essay_html(active(assistant, own).documents)

        chatbot.clear(
            clear,
            [flag, *([own] if own is not None else [])],
            [turns, essay],
            queue=False,
            api_visibility="private",
        )
        # No `cancels=`: Gradio's cancel can leave the browser thinking the answer still runs, so
        # the next question is never sent. The flag ends the generation within a token instead
        # (pump.py), and the answer then finishes normally with what was verified so far.
        stop_button.click(
            stop, [chatbot, flag], [chatbot], queue=False, api_visibility="private"
        )
    demo.queue(max_size=assistant.settings.queue_size)
    return demo
