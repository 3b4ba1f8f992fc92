"""A student's own document (assistant/student.py, web/uploads.py) without a server: real files read
with the upload limits and indexed by the real model, answered with page citations; every limit
refused with its message; the server-wide budget refuses past its limit and frees a session's
room when the session ends; nothing is left on disk and the course index is untouched."""

import copy
import os
import textwrap
from pathlib import Path

import pytest
from conftest import digest_tree
from documents import encrypted_pdf, scanned_pdf, write_pdf, write_reading
from libraries import KEEPER, LIGHTHOUSE

from assistant import Settings
from assistant.errors import BusyError, DocumentError, InputError
from assistant.student import (
    BUSY,
    Budget,
    Limits,
    Students,
    forget,
    read_upload,
    remove_leftovers,
    staging_root,
)
from assistant.web.ui import build_ui, respond
from assistant.web.uploads import active, back, status_html, upload

SKIP = object()  # stands in for gr.skip()
SESSION_A, SESSION_B = "session-a", "session-b"


def lighthouse_pdf(path: Path) -> Path:
    """The lighthouse text as a three-page PDF printed from page 12: the keeper is on page 13."""
    paragraphs = [p.replace("\n", " ") for p in LIGHTHOUSE.split("\n\n")[1:]]
    pages = [[textwrap.wrap(p, 80)] for p in paragraphs]
    return write_pdf(path, pages, first_label=12)


@pytest.fixture
def students(essay_settings, embedder) -> Students:
    return Students(essay_settings, embedder, Budget(2))


@pytest.fixture
def gradio_upload(tmp_path) -> "callable":
    """A file where Gradio puts an upload: a folder named by a hash, the file's own name in it."""

    def place(source: Path, name: str | None = None) -> Path:
        folder = tmp_path / "gradio" / f"{abs(hash((source, name))):x}"
        folder.mkdir(parents=True)
        target = folder / (name or source.name)
        target.write_bytes(source.read_bytes())
        return target

    return place


def send(students, course, path: Path, own=None, *, folder: Path | None = None) -> list:  # noqa: ANN001
    """The chat's upload handler's updates for `path` in session A (Gradio's folder: the file's
    folder's parent, as gradio_upload places it)."""
    return list(upload(students, course, str(path), own, [], SESSION_A,
                       folder=folder or path.parent.parent, skip=SKIP))


def mine() -> list[Path]:
    return sorted(staging_root().glob(f"{os.getpid()}-*"))


def test_a_students_pdf_answers_with_its_page_and_leaves_nothing_on_disk(
        students, tmp_path, essay_index_dir, essay_assistant):
    before = digest_tree(essay_index_dir)
    pdf = lighthouse_pdf(tmp_path / "lighthouse.pdf")
    document = students.open(pdf.read_bytes(), "lighthouse.pdf", SESSION_A)
    assert (document.name, document.pages) == ("lighthouse.pdf", 3)
    answer = document.assistant.ask(KEEPER)
    assert not answer.refused and "Agnes Moreau" in answer.answer
    assert answer.citations[0].chunk.source == "lighthouse.pdf"
    assert answer.citations[0].chunk.source_pages == ("13",)
    # built in a private directory and loaded into memory; the directory is gone already
    assert mine() == []
    assert not document.assistant.index.directory.exists()
    assert digest_tree(essay_index_dir) == before
    assert essay_assistant.ask(KEEPER).refused  # the course document knows nothing of it
    assert students.budget.held == 1


def test_an_upload_embeds_through_the_question_export_without_loading_the_model(
        tmp_path, essay_settings, embedder):
    # a serving process's embedder that has only answered questions (ONNX): the upload must not
    # load PyTorch's copy of the model (about 900 MB)
    from assistant.embeddings import Embedder

    fresh = Embedder(embedder._path, cache_dir=embedder._cache_dir)
    students = Students(essay_settings, fresh, Budget(1))
    document = students.open(lighthouse_pdf(tmp_path / "lighthouse.pdf").read_bytes(),
                             "lighthouse.pdf", SESSION_A)
    assert not document.assistant.ask(KEEPER).refused
    assert fresh._model is None


@pytest.mark.parametrize(
    ("make", "limits", "message"),
    [
        (lambda d: write_reading(d / "reading.pdf"), {"max_pages": 3},
         "4 pages is over the limit of 3 pages"),
        (lambda d: write_reading(d / "reading.pdf"), {"max_bytes": 1000},
         "bytes is over the limit of 1,000 bytes for your own document"),
        (lambda d: _text(d / "long.txt", LIGHTHOUSE * 3), {"max_chars": 1000},
         "characters of text is over the limit of 1,000"),
        (lambda d: scanned_pdf(d / "scan.pdf"), {}, "no text layer"),
        (lambda d: encrypted_pdf(d / "locked.pdf"), {}, "password"),
        (lambda d: _text(d / "broken.pdf", "%PDF-1.7\nnot really a pdf"), {}, "broken.pdf"),
        (lambda d: write_reading(d / "reading.docx"), {}, "PDF"),
        (lambda d: _text(d / "notes.doc", "old Word"), {}, "unsupported file type .doc"),
        (lambda d: _text(d / "empty.md", ""), {}, "the file is empty"),
    ],
    ids=["pages", "bytes", "characters", "scanned", "encrypted", "corrupt", "mismatch",
         "extension", "empty"],
)
def test_each_limit_refuses_with_its_message_and_frees_the_room(tmp_path, essay_settings,
                                                                 embedder, make, limits, message):
    settings = essay_settings.with_(**{f"student_upload_{k}": v for k, v in limits.items()})
    students = Students(settings, embedder, Budget(1))
    path = make(tmp_path)
    with pytest.raises(DocumentError, match="") as caught:
        students.open(path.read_bytes(), path.name, SESSION_A)
    assert message.lower() in str(caught.value).lower(), str(caught.value)
    assert "\n" not in str(caught.value)
    assert students.budget.held == 0 and mine() == []


def test_the_budget_refuses_past_its_limit_and_frees_a_session_that_ends(essay_settings, embedder,
                                                                        tmp_path):
    students = Students(essay_settings, embedder, Budget(1))
    notes = _text(tmp_path / "notes.md", LIGHTHOUSE)
    first = students.open(notes.read_bytes(), "notes.md", SESSION_A)
    with pytest.raises(BusyError) as busy:
        students.open(notes.read_bytes(), "notes.md", SESSION_B)
    assert str(busy.value) == BUSY
    # a session's own document makes room for its next, which replaces it
    second = students.open(notes.read_bytes(), "notes.md", SESSION_A)
    assert first.assistant is None and second.assistant is not None
    assert students.budget.held == 1
    students.close(SESSION_A)  # the page was closed (Gradio's unload)
    assert second.assistant is None and students.budget.held == 0
    third = students.open(notes.read_bytes(), "notes.md", SESSION_B)
    forget(third)  # Gradio deleted the session's state
    assert third.assistant is None and students.budget.held == 0


def test_a_session_that_ends_while_its_document_is_built_holds_nothing(students, tmp_path):
    budget = students.budget
    budget.claim(SESSION_A)
    with pytest.raises(InputError, match="still being read"):
        budget.claim(SESSION_A)
    assert budget.held == 1
    budget.release(SESSION_A)  # closed mid-build
    document = students.open(LIGHTHOUSE.encode(), "n.md", SESSION_B)
    assert budget.settle(SESSION_A, document) is False
    assert document.assistant is None and budget.held == 1  # only B's own


def test_the_chat_asks_the_sessions_own_document_and_another_session_the_course(
        students, essay_assistant, tmp_path, gradio_upload):
    path = gradio_upload(lighthouse_pdf(tmp_path / "lighthouse.pdf"))
    steps = upload(students, essay_assistant, str(path), None, [], SESSION_A,
                   folder=path.parent.parent, skip=SKIP)
    updates = [next(steps)]
    assert "Reading lighthouse.pdf" in updates[0][4]
    assert not path.exists() and not path.parent.exists()  # taken before it is even read
    updates += list(steps)
    own, chat, turns, essay, status, shown = updates[-1]
    assert own.name == "lighthouse.pdf" and turns == [] and shown is True
    assert "your document: lighthouse.pdf" in status and "3 pages" in status
    assert "Agnes Moreau" in essay and "Now answering from your document" in chat[-1]["content"]

    mine_ = list(respond(active(essay_assistant, own), KEEPER, chat, [], "extractive", skip=SKIP))
    answer = mine_[-1][0][-1]["content"]
    assert "Agnes Moreau" in answer and "lighthouse.pdf" in answer and "p. 13" in answer
    other = list(respond(active(essay_assistant, None), KEEPER, [], [], "extractive", skip=SKIP))
    assert "Agnes Moreau" not in other[-1][0][-1]["content"]
    assert "lighthouse" not in other[-1][2]  # the other session's essay view is the course's

    own2, chat2, _, essay2, status2, shown2 = back(students, essay_assistant, chat, SESSION_A)
    assert own2 is None and own.assistant is None and shown2 is False
    assert "the course document" in status2 and "Agnes Moreau" not in essay2
    assert students.budget.held == 0


def test_a_refused_upload_keeps_the_sessions_document_and_says_why(students, essay_assistant,
                                                                   tmp_path, gradio_upload):
    notes = gradio_upload(_text(tmp_path / "notes.md", LIGHTHOUSE))
    own = send(students, essay_assistant, notes)[-1][0]
    bad = gradio_upload(scanned_pdf(tmp_path / "scan.pdf"))
    updates = send(students, essay_assistant, bad, own)
    kept, chat, turns, essay, status, shown = updates[-1]
    assert (kept, chat, turns, essay, shown) == (SKIP, SKIP, SKIP, SKIP, SKIP)
    assert "your document: notes.md" in status and "no text layer" in status
    assert own.assistant is not None and not bad.exists()
    assert status_html(essay_assistant, None).count("the course document") == 1


def test_a_path_gradio_did_not_receive_is_neither_read_nor_deleted(students, essay_assistant,
                                                                   tmp_path, gradio_upload):
    gradio_upload(_text(tmp_path / "x.md", "x"))  # the upload folder exists
    elsewhere = _text(tmp_path / "server-notes.md", LIGHTHOUSE)  # a file of the server's
    link = tmp_path / "gradio" / "link.md"
    link.symlink_to(elsewhere)
    for path in (elsewhere, link, tmp_path / "gradio" / ".." / "server-notes.md"):
        updates = send(students, essay_assistant, path, folder=tmp_path / "gradio")
        assert len(updates) == 1 and "did not come from this page" in updates[0][4]
    assert elsewhere.read_text() == LIGHTHOUSE and students.budget.held == 0


def test_the_full_chat_has_the_upload_and_the_widget_does_not(index_copy, essay_assistant):
    # over a copy: building the page makes the suggested questions, which keeps study aids
    # beside the index, and the session's essay index must stay as it was built
    from assistant.index import load_index

    course = type(essay_assistant)(essay_assistant.settings.with_(index_dir=index_copy),
                                   load_index(index_copy, essay_assistant.embedder),
                                   essay_assistant.embedder)
    full, compact = build_ui(course), build_ui(course, compact=True)
    ids = [b.elem_id for b in full.blocks.values()]
    assert "own-upload" in ids and "own-back" in ids
    assert "own-upload" not in [b.elem_id for b in compact.blocks.values()]
    assert any(t[1] == "unload" for f in full.fns.values() for t in f.targets)
    # Gradio deep-copies the page's config (the State's delete callback too) on each page load:
    # it must not take the embedding model along
    copied: dict = {}
    copy.deepcopy(full.config, copied)
    assert not any(v is course.embedder or type(v) is type(course.embedder)
                   for v in copied.values())
    off = build_ui(type(course)(course.settings.with_(student_uploads_max=0), course.index,
                                course.embedder))
    assert "own-upload" not in [b.elem_id for b in off.blocks.values()]


def test_leftovers_of_a_killed_server_are_removed_and_a_live_ones_kept():
    root = staging_root()
    dead = root / "999999999-leftover"  # no such process
    live = root / f"{os.getpid()}-building"
    for folder in (dead, live):
        (folder / "index").mkdir(parents=True)
    try:
        assert dead in remove_leftovers()
        assert not dead.exists() and live.exists()
    finally:
        import shutil

        shutil.rmtree(live, ignore_errors=True)


def test_an_upload_gone_before_it_was_read_says_to_upload_again():
    with pytest.raises(DocumentError, match="notes.md: the upload did not arrive whole"):
        read_upload(None, "notes.md", Limits.from_settings(Settings()))


def test_settings_read_the_limits_from_the_environment():
    settings = Settings.from_env({"ASSISTANT_STUDENT_UPLOAD_MAX_BYTES": "5000000",
                                  "ASSISTANT_STUDENT_UPLOADS_MAX": "3"})
    assert Limits.from_settings(settings) == Limits(5_000_000, 300, 1_000_000, 3)
    with pytest.raises(Exception, match="student_upload_max_pages must be at least 1"):
        Settings(student_upload_max_pages=0)


def _text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
