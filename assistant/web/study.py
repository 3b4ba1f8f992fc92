"""The Study tab: the essay map, practice questions answered and judged, flashcards to download.

Plain functions from the facade's study aids to what the page shows (escaped HTML and a small
`PracticeView`), testable without a server; `study_tab` wires them into Gradio components inside
the chat page (ui.py), or, compact, into the widget. Clicking a map item or checking an answer
highlights the sentence in the essay view beside it. Leaves out building the study aids (the
facade) and the chat (ui.py).
"""

# No `from __future__ import annotations`: Gradio reads handler annotations (gr.EventData) at run
# time, and the nested handlers refer to the lazily imported `gr`.

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from assistant.errors import AssistantError
from assistant.schema import Citation
from assistant.web.view import escape, essay_html

if TYPE_CHECKING:
    from assistant.assistant import Assistant

CSS = """
#study-map .thesis { margin-bottom: .6rem; }
#study-map h4 { margin: .4rem 0 .2rem 0; }
#study-map ol.claims { padding-left: 1.2rem; margin: 0; }
#study-map li.claim { margin-bottom: .5rem; }
#study-map ul.evidence { margin: .2rem 0 0 0; padding-left: 1rem; font-size: .92em; }
#study-map .role, #study-map .pages, .study-where { font-size: .85em; opacity: .75; }
#study-map button.goto { all: unset; cursor: pointer; border-bottom: 1px dotted currentColor; }
#study-map button.goto:hover, #study-map button.goto:focus { background: #fff2a8; color: #1f2328; }
.study-notice { font-style: italic; margin: .3rem 0; }
#practice-verdict span.right { color: #1a7f37; font-weight: 600; }
#practice-verdict span.wrong { color: #cf222e; font-weight: 600; }
#practice-verdict .verdict { font-weight: normal; }
#practice-verdict blockquote { margin: .3rem 0; padding-left: .6rem;
  border-left: 3px solid var(--border-color-primary); }
#study-essay { max-height: 70vh; overflow-y: auto; }
#study-essay .essay p { line-height: 1.55; margin-bottom: .8rem; }
#study-essay mark { background: #fff2a8; color: #1f2328; padding: 0 .1em; border-radius: 2px; }
"""
# A click on a map item sends its sentence to the server, which marks it in the essay view.
GOTO_JS = ("element.addEventListener('click', (e) => { const b = e.target.closest('[data-ref]');"
           " if (b) trigger('click', {ref: b.dataset.ref}); });")


@dataclasses.dataclass(frozen=True)
class PracticeView:
    """What the practice area shows for one question."""

    position: int  # 0-based, in the document's questions
    question_html: str
    choices: tuple[str, ...]  # empty: the answer is typed
    verdict_html: str = ""


# ---------------------------------------------------------------- HTML


def map_html(assistant: "Assistant", source: str) -> str:
    """The essay map of a document: thesis, claims and evidence, each a link to its sentence."""
    doc = assistant.study_aids().of(source)
    essay_map = doc.map
    out = ['<div class="study-map">']
    if essay_map.notice:
        out.append(f'<p class="study-notice">{escape(essay_map.notice)}</p>')
    if essay_map.thesis:
        out.append('<section class="thesis"><h4>Thesis</h4>'
                   f"{_goto(essay_map.thesis)} {_where(essay_map.thesis)}</section>")
    if essay_map.claims:
        out.append('<h4>Claims and evidence</h4><ol class="claims">')
        for claim in essay_map.claims:
            point = (_goto(claim.sentence, "States the thesis (above).")
                     if claim.sentence == essay_map.thesis else _goto(claim.sentence))
            out.append(f'<li class="claim" data-paragraph="{claim.paragraph}">'
                       f'<span class="role">Paragraph {claim.paragraph} · {escape(claim.role)}</span>'
                       f"<br>{point}")
            if claim.gloss:
                out.append(f'<div class="gloss">In plain words: {escape(claim.gloss)}</div>')
            if claim.evidence:
                out.append('<ul class="evidence">')
                for e in claim.evidence:
                    pages = f' <span class="pages">p. {escape(", ".join(e.pages))}</span>' if e.pages else ""
                    out.append(f'<li class="evidence-item">{_goto(e)}{pages}</li>')
                out.append("</ul>")
            out.append("</li>")
        out.append("</ol>")
    out.append("</div>")
    return "".join(out)


def cards_file(assistant: "Assistant", source: str, fmt: str = "csv") -> str | None:
    """The document's flashcards as a file to download, CSV or an Anki package ("apkg"; None
    without questions), written under the system's temporary directory and named by its
    content, so the same cards are one file. Gradio serves a copy, wherever the page is mounted
    (a library's /d/NAME/ included)."""
    import hashlib
    import tempfile
    from pathlib import Path

    if not questions_of(assistant, source):
        return None
    if fmt == "apkg":
        data, suffix = assistant.study_package(source), ".apkg"
    else:
        data, suffix = assistant.study_export(source, "csv").encode("utf-8"), "-cards.csv"
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in source.rsplit(".", 1)[0])
    folder = Path(tempfile.gettempdir()) / "study-assistant-cards"
    folder.mkdir(exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:12]
    path = folder / digest / f"{stem or 'study'}{suffix}"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    return str(path)


def _goto(ref: Any, label: str | None = None) -> str:
    return (f'<button type="button" class="goto" data-ref="{escape(_ref_key(ref))}" '
            f'title="Show it in the essay">{escape(label or ref.text)}</button>')


def _where(ref: Any) -> str:
    return f'<span class="study-where">({escape(ref.where())})</span>'


def _ref_key(ref: Any) -> str:
    return f"{ref.chunk_id}|{ref.start}|{ref.end}"


# ---------------------------------------------------------------- handlers (plain functions)


def sources(assistant: "Assistant") -> list[str]:
    return list(assistant.documents)


def questions_of(assistant: "Assistant", source: str) -> tuple:
    doc = assistant.study_aids().of(source)
    return doc.questions if doc else ()


def show(assistant: "Assistant", source: str, position: int) -> PracticeView:
    """The practice question at `position` (wrapping around), unanswered."""
    questions = questions_of(assistant, source)
    if not questions:
        doc = assistant.study_aids().of(source)
        said = doc.notice if doc and doc.notice else "No practice questions for this document."
        return PracticeView(0, f'<p class="study-notice">{escape(said)}</p>', ())
    position = position % len(questions)
    question = questions[position]
    how = ("Pick one." if question.kind == "choice" else
           "Fill in the blank." if question.origin == "cloze" else "Type the answer.")
    written = ("written by the language model and checked against the essay; such questions "
               "can be worded badly: the cited sentence decides"
               if question.origin == "model" else "from one of the essay's key sentences")
    html = (f'<div class="practice-question" data-id="{escape(question.id)}">'
            f'<p class="count">Question {position + 1} of {len(questions)} '
            f'<span class="study-where">({written})</span></p>'
            f'<p class="prompt"><strong>{escape(question.prompt)}</strong></p>'
            f'<p class="study-where">{how}</p></div>')
    return PracticeView(position, html, question.choices)


def check(assistant: "Assistant", source: str, position: int, given: str | None
          ) -> tuple[str, str]:
    """(verdict HTML, essay HTML with the proving sentence marked) for a student's answer."""
    questions = questions_of(assistant, source)
    if not questions:
        return "", essay_html(assistant.documents)
    question = questions[position % len(questions)]
    if not (given or "").strip():
        return ('<p class="study-notice" role="alert">Choose or type an answer first.</p>',
                essay_html(assistant.documents))
    try:
        verdict = assistant.check_practice(question.id, given or "")
    except AssistantError as err:
        return f'<p class="study-notice" role="alert">{escape(str(err))}</p>', essay_html(
            assistant.documents)
    mark = ('<span class="right">Right.</span>' if verdict.right else
            f'<span class="wrong">Not quite.</span> The answer is '
            f'<strong>{escape(verdict.answer)}</strong>.')
    html = (f'<div class="verdict {"right" if verdict.right else "wrong"}">{mark}'
            f'<p>The essay says, in {escape(verdict.ref.where())}:</p>'
            f"<blockquote>{escape(verdict.ref.text)}</blockquote></div>")
    return html, highlighted(assistant, verdict.ref)


def highlighted(assistant: "Assistant", ref: Any) -> str:
    """The documents with one sentence marked (as a citation of its passage would be)."""
    chunk = next((c for c in assistant.chunks if c.chunk_id == ref.chunk_id), None)
    if chunk is None:
        return essay_html(assistant.documents)
    sentence = dataclasses.replace(chunk, start=ref.start, end=ref.end)
    return essay_html(assistant.documents, [Citation(1, sentence)])


def goto(assistant: "Assistant", source: str, key: str) -> str:
    """The essay view with the map item `key` (from its data-ref) marked."""
    doc = assistant.study_aids().of(source)
    essay_map = doc.map if doc else None
    refs = []
    if essay_map is not None:
        refs = ([essay_map.thesis] if essay_map.thesis else []) + [
            r for c in essay_map.claims for r in (c.sentence, *c.evidence)]
    ref = next((r for r in refs if _ref_key(r) == key), None)
    return highlighted(assistant, ref) if ref else essay_html(assistant.documents)


def writing(assistant: "Assistant") -> Iterator[str]:
    """Have the language model write practice questions, yielding a status line as each is
    checked (with the questions kept so far), then the final one."""
    kept: list[str] = []
    try:
        for item in assistant.study_steps(use_model=True):
            if hasattr(item, "total"):  # a study.Progress
                kept = [q.prompt for q in item.kept]
                listed = "".join(f"<li>{escape(k)}</li>" for k in kept)
                yield (f'<p class="study-notice">Writing questions with the language model: '
                       f"{item.done} of {item.total} checked, {len(kept)} kept…</p>"
                       f"<ul>{listed}</ul>")
    except AssistantError as err:
        yield f'<p class="study-notice" role="alert">{escape(str(err))}</p>'
        return
    aids = assistant.study_aids()
    written = sum(q.origin == "model" for d in aids.documents for q in d.questions)
    notes = " ".join(d.notice for d in aids.documents if d.notice)
    yield (f'<p class="study-notice">{written} question{"" if written == 1 else "s"} written by '
           f"the language model passed the check. {escape(notes)}</p>")


def can_write(assistant: "Assistant") -> bool:
    """Whether to offer the model's questions: a model is configured and none are stored yet."""
    if assistant.settings.llm_backend == "none":
        return False
    aids = assistant.study_aids()
    return not aids.built_from.get("model")


# ---------------------------------------------------------------- Gradio wiring


def study_tab(assistant: "Assistant", *, compact: bool = False, essay: Any = None,
              scroll_js: str | None = None, opened: Any = None) -> None:
    """The study view's components and events, inside the current Gradio layout. `compact`: the
    widget's practice questions alone, marking answers in its `essay` view. `scroll_js` scrolls
    an essay view to its first mark (ui.py's, for "#essay"); `opened` is the event of the tab
    holding the view being opened, when it shows the study aids as they are now (the model may
    have written questions since the page was made)."""
    import gradio as gr

    names = sources(assistant)
    first = names[0] if names else None
    start = show(assistant, first, 0) if first else PracticeView(0, "", ())

    def radio(view: PracticeView) -> Any:
        return gr.update(choices=list(view.choices), value=None, visible=bool(view.choices))

    def typed(view: PracticeView) -> Any:
        return gr.update(value="", visible=not view.choices)

    source = gr.State(first)
    position = gr.State(0)
    if not compact:
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chooser = gr.Dropdown(names, value=first, label="Document", visible=len(names) > 1,
                                      elem_id="study-document")
                with gr.Accordion("Essay map", open=True):
                    the_map = gr.HTML(map_html(assistant, first) if first else "", elem_id="study-map",
                                      js_on_load=GOTO_JS)
                gr.HTML("<h3>Practice</h3>", js_on_load=None)
                practice = _practice(gr, start, radio, typed)
                cards = cards_file(assistant, first) if first else None
                with gr.Row():
                    downloads = gr.DownloadButton("Flashcards (CSV, for Anki or Quizlet)",
                                                  value=cards, elem_id="study-cards",
                                                  visible=cards is not None, size="sm")
                    package = cards_file(assistant, first, "apkg") if first else None
                    deck = gr.DownloadButton("Anki deck (.apkg)", value=package,
                                             elem_id="study-deck", visible=package is not None,
                                             size="sm")
                offer = can_write(assistant) if first else False
                write = gr.Button("Write questions with the language model (about 2 minutes)",
                                  elem_id="study-write", visible=offer)
                status = gr.HTML("", elem_id="study-status", js_on_load=None)
            with gr.Column(scale=2):
                essay = gr.HTML(essay_html(assistant.documents), elem_id="study-essay",
                                js_on_load=None)
        def _cards(name: str) -> tuple[Any, Any]:
            paths = cards_file(assistant, name), cards_file(assistant, name, "apkg")
            return tuple(gr.update(value=p, visible=p is not None) for p in paths)

        if scroll_js:
            essay.change(None, None, None, js=scroll_js.replace("#essay ", "#study-essay "),
                         queue=False)

        def pick(name: str):  # noqa: ANN202 - Gradio's outputs
            view = show(assistant, name, 0)
            return (name, 0, map_html(assistant, name), view.question_html, radio(view),
                    typed(view), "", *_cards(name), essay_html(assistant.documents))

        chooser.change(pick, [chooser], [source, position, the_map, practice["question"],
                                         practice["choice"], practice["typed"],
                                         practice["verdict"], downloads, deck, essay],
                       api_visibility="private")

        def go(name: str, evt: gr.EventData):  # noqa: ANN202
            return goto(assistant, name, getattr(evt, "ref", "") or "")

        the_map.click(go, [source], [essay], api_visibility="private")

        shown = [position, the_map, practice["question"], practice["choice"], practice["typed"],
                 practice["verdict"], downloads, deck, write]

        def current(name: str, showing: str | None = None) -> tuple:
            """The view as the study aids are now; nothing changes while its questions are the
            ones shown (a student may be answering one)."""
            view = show(assistant, name, 0)
            offer = gr.update(visible=can_write(assistant))
            if showing is not None and _same_questions(assistant, name, showing):
                return (*[gr.skip()] * (len(shown) - 1), offer)
            return (0, map_html(assistant, name), view.question_html, radio(view), typed(view),
                    "", *_cards(name), offer)

        if opened is not None:
            opened(current, [source, practice["question"]], shown, api_visibility="private")

        def write_questions(name: str):  # noqa: ANN202
            line = ""
            for line in writing(assistant):
                yield (line, *[gr.skip()] * len(shown))
            yield (line, *current(name))

        write.click(write_questions, [source], [status, *shown], api_visibility="private",
                    concurrency_limit=1, concurrency_id="study-write")
    else:
        with gr.Accordion("Practice", open=False) as panel:
            practice = _practice(gr, start, radio, typed)

        def current_question(name: str, showing: str) -> tuple:
            if _same_questions(assistant, name, showing):
                return (gr.skip(),) * 5
            view = show(assistant, name, 0)
            return 0, view.question_html, radio(view), typed(view), ""

        panel.expand(current_question, [source, practice["question"]],
                     [position, practice["question"], practice["choice"], practice["typed"],
                      practice["verdict"]], api_visibility="private")

    def answer(name: str, at: int, choice: str | None, text: str | None):  # noqa: ANN202
        verdict, marked = check(assistant, name, at, choice if choice else text)
        return verdict, marked

    practice["check"].click(answer, [source, position, practice["choice"], practice["typed"]],
                            [practice["verdict"], essay], api_visibility="private")
    practice["typed"].submit(answer, [source, position, practice["choice"], practice["typed"]],
                             [practice["verdict"], essay], api_visibility="private")

    def following(name: str, at: int):  # noqa: ANN202
        view = show(assistant, name, at + 1)
        return view.position, view.question_html, radio(view), typed(view), ""

    practice["next"].click(following, [source, position],
                           [position, practice["question"], practice["choice"], practice["typed"],
                            practice["verdict"]], api_visibility="private")


def _same_questions(assistant: "Assistant", source: str, showing: str | None) -> bool:
    """Whether the question shown (its HTML) is one of the document's questions now."""
    return any(f'data-id="{escape(q.id)}"' in (showing or "")
               for q in questions_of(assistant, source))


def _practice(gr: Any, start: PracticeView, radio: Any, typed: Any) -> dict[str, Any]:
    question = gr.HTML(start.question_html, elem_id="practice-question", js_on_load=None)
    choice = gr.Radio(list(start.choices), value=None, label="Your answer", elem_id="practice-choice",
                      visible=bool(start.choices))
    text = gr.Textbox(label="Your answer", elem_id="practice-typed", lines=1,
                      visible=not start.choices)
    with gr.Row():
        check_button = gr.Button("Check", variant="primary", elem_id="practice-check", min_width=60)
        next_button = gr.Button("Next question", elem_id="practice-next", min_width=60)
    verdict = gr.HTML("", elem_id="practice-verdict", js_on_load=None)
    return {"question": question, "choice": choice, "typed": text, "check": check_button,
            "next": next_button, "verdict": verdict}
