"""The full chat's "your own document" control: a student uploads a file for this session only.

`upload` and `back` are plain functions (testable without a server); `own_document_row` adds the
controls to the chat page and returns the per-session gr.State the chat asks through (`active`).
The document lives only in that state (server-side, one per session) and in the process-wide
budget that releases it when the session ends (the page is closed or reloaded: Gradio's unload),
or when Gradio deletes the session's state. Gradio's copy of the uploaded file is deleted as soon
as it has been read, so no URL reaches it. Not in the widget (`/embed`): a 400x600 frame in a
course page is the course's document, and has no room for it. Leaves out reading, indexing and
the limits (assistant/student.py).
"""

# No `from __future__ import annotations`: Gradio reads the handlers' annotations (gr.Request).

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import AssistantError
from assistant.web.view import Message, escape, essay_html, notice_message, title_of

if TYPE_CHECKING:
    from assistant.assistant import Assistant
    from assistant.student import StudentDocument, Students

FILE_TYPES = [".pdf", ".docx", ".html", ".htm", ".txt", ".md"]
NOT_RECEIVED = "that file did not come from this page's upload; upload it again"
CSS = """
#own-status { font-size: .9em; }
#own-status .error { color: #b00020; }
"""

# own document (gr.State), chat, turns, essay view, status line, "back" button
Update = tuple[Any, list[Message], Any, Any, str, Any]


def active(course: "Assistant", own: "StudentDocument | None") -> "Assistant":
    """The assistant a session's questions go to: its own document's while it has one."""
    return own.assistant if own is not None and own.assistant is not None else course


def status_html(course: "Assistant", own: "StudentDocument | None", error: str = "") -> str:
    """Which document the chat answers from, and why an upload was refused."""
    if own is not None and own.assistant is not None:
        pages = f"{own.pages} pages, " if own.pages else ""
        said = (f"Answering from <strong>your document: {escape(own.name)}</strong> ({pages}"
                f"{own.passages} passages). Only this page sees it; it is removed when you "
                "close or reload the page.")
    else:
        titles = ", ".join(map(title_of, course.documents)) or "no document"
        said = f"Answering from <strong>the course document: {escape(titles)}</strong>."
    if error:
        said += f'<div class="error">{escape(error[:1].upper() + error[1:])}</div>'
    return f'<div class="own-status">{said}</div>'


def upload(students: "Students", course: "Assistant", path: str | None,
           own: "StudentDocument | None", chat: list[Message] | None, session: str, *,
           folder: Path, skip: Any = None, shown: Any = True) -> Iterator[Update]:
    """Read, check and index the file uploaded to `folder` (Gradio's upload folder) for this
    session, yielding (own, chat, turns, essay, status, back) as it goes; a refused file leaves
    the session as it was, with why.

    `skip` is what to yield for an output that does not change (Gradio's `gr.skip()`); `shown(v)`
    makes the "back" button's update (Gradio's `gr.update(visible=v)`).
    """
    chat = list(chat or [])
    if not path:
        return
    file = Path(path)
    if not received(file, folder):
        # Gradio checks that a mounted app's file inputs were uploaded only once launched; a
        # client naming a file of the server's (README.md, say) gets it neither read nor deleted.
        yield skip, skip, skip, skip, status_html(course, own, NOT_RECEIVED), skip
        return
    raw = take_upload(file)
    yield skip, skip, skip, skip, (f'<div class="own-status reading">Reading '
                                   f"{escape(file.name)}…</div>"), skip
    try:
        document = students.open(raw, file.name, session)
    except AssistantError as err:
        yield skip, skip, skip, skip, status_html(course, own, str(err)), skip
        return
    chat.append(notice_message(f"Now answering from your document, {file.name}. Questions before "
                               "this were about another document."))
    yield (document, chat, [], essay_html(document.assistant.documents),
           status_html(course, document), _visible(shown, True))


def back(students: "Students", course: "Assistant", chat: list[Message] | None, session: str,
         *, shown: Any = True) -> Update:
    """Release this session's document and answer from the course document again."""
    students.close(session)
    chat = [*(chat or []), notice_message("Back to the course document; your document is gone "
                                          "from the server.")]
    return (None, chat, [], essay_html(course.documents), status_html(course, None),
            _visible(shown, False))


def received(file: Path, folder: Path) -> bool:
    """Whether `file` is one Gradio received: a plain file inside its upload folder."""
    try:
        return (not file.is_symlink() and file.is_file()
                and file.resolve().is_relative_to(Path(folder).resolve()))
    except OSError:
        return False


def take_upload(file: Path) -> bytes | None:
    """The bytes of Gradio's copy of an upload (None when it is gone), deleted at once: a student
    uploading the same bytes in the same moment gets the same path (Gradio names the folder by a
    hash of the content), and their copy must not be deleted after a long wait in a queue. Gradio
    bounded the file by the chat's max_file_size as it arrived."""
    try:
        return file.read_bytes()
    except OSError:
        return None
    finally:
        discard_upload(file)


def discard_upload(file: Path) -> None:
    """Delete Gradio's copy of an upload (and its folder, named by a hash of the content)."""
    file.unlink(missing_ok=True)
    try:
        file.parent.rmdir()  # only when empty: another session may have uploaded the same bytes
    except OSError:
        pass


def _visible(shown: Any, value: bool) -> Any:
    return shown(value) if callable(shown) else value


def own_document_row(demo, course: "Assistant", chatbot, turns, essay):  # noqa: ANN001, ANN201
    """Add the upload control, the status line and the "back" button under the chat of `demo`;
    the session's own-document gr.State (None when uploads are off: student_uploads_max = 0)."""
    import gradio as gr
    from gradio.utils import get_upload_folder

    from assistant.student import Students, forget

    students = Students.of(course)
    if not students.enabled:
        return None
    limits = students.limits
    own = gr.State(None, delete_callback=forget)
    with gr.Row(equal_height=True):
        button = gr.UploadButton(
            "Ask about your own file…", file_types=FILE_TYPES, type="filepath", size="sm",
            elem_id="own-upload", scale=1, min_width=160, variant="secondary",
        )
        leave = gr.Button("Back to the course document", size="sm", elem_id="own-back",
                          visible=False, scale=1, min_width=160)
    status = gr.HTML(status_html(course, None), elem_id="own-status", js_on_load=None)
    gr.Markdown(
        f"Your file ({', '.join(FILE_TYPES)}, up to {limits.max_bytes // 1_000_000} MB and "
        f"{limits.max_pages} PDF pages) is read on the server for this page only, never added to "
        "the library, and removed when you close the page.", elem_id="own-help",
    )
    outputs = [own, chatbot, turns, essay, status, leave]

    def uploaded(path: str | None, current, chat: list,  # noqa: ANN001 - the gr.State value
                 request: gr.Request):
        yield from upload(students, course, path, current, chat, request.session_hash,
                          folder=Path(get_upload_folder()), skip=gr.skip(),
                          shown=lambda v: gr.update(visible=v))

    def returned(chat: list, request: gr.Request):
        return back(students, course, chat, request.session_hash,
                    shown=lambda v: gr.update(visible=v))

    def ended(request: gr.Request) -> None:
        students.close(request.session_hash)

    button.upload(uploaded, [button, own, chatbot], outputs, api_visibility="private",
                  # each takes its file at once; students.py reads and embeds one at a time
                  concurrency_limit=max(1, limits.max_held), concurrency_id="own-upload",
                  show_progress="hidden")
    leave.click(returned, [chatbot], outputs, api_visibility="private", queue=False)
    demo.unload(ended)  # the page closed or reloaded: free the budget now, not when state expires
    return own
