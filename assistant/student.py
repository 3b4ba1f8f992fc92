"""A student's own document, for one chat session: read within the upload limits, indexed, held in
memory, and counted against the server's budget until the session lets it go.

`Students.open` reads an uploaded file (its bytes) with the checks of `assistant ingest` and smaller
limits (size, PDF pages, characters of text), one upload at a time in one thread of the process,
builds its index in a private temporary directory (mode 0700, under the system's temporary
directory, never in the library or indexes/), loads it into memory and deletes the directory
before returning, so nothing of the document stays on disk. The
`Budget` counts the documents held across every session of the server; past its limit an upload
is refused with a BusyError until one is released (`close` at the session's end, or `forget`
when the session's state is deleted). The document is reachable only through the
`StudentDocument` the caller keeps (the chat keeps it in its per-session state): the budget holds
sessions only to release them. Leaves out the chat's controls (web/uploads.py) and Explain's
saved prompt (a student's document gets retrieved passages, so nothing is written beside it).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from assistant.assistant import Assistant, build_read_documents
from assistant.config import Settings
from assistant.errors import BusyError, DocumentError, InputError
from assistant.formats import kind_of
from assistant.ingest import document_from_bytes
from assistant.schema import Document

log = logging.getLogger(__name__)

STAGING = "study-assistant-students"  # under the system's temporary directory; one build each
BUSY = ("The server is holding as many students' documents as it can right now; try again in a "
        "few minutes, or ask about the course document meanwhile.")


@dataclass(frozen=True)
class Limits:
    """What one student may upload, and how many uploads the server holds at once."""

    max_bytes: int
    max_pages: int
    max_chars: int
    max_held: int  # 0: students cannot upload

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(settings.student_upload_max_bytes, settings.student_upload_max_pages,
                   settings.student_upload_max_chars, settings.student_uploads_max)


class StudentDocument:
    """One session's document and the assistant over it, until it is released."""

    def __init__(self, name: str, pages: int, passages: int, assistant: Assistant) -> None:
        self.name = name
        self.pages = pages  # PDF pages; 0 for other formats
        self.passages = passages
        self._assistant: Assistant | None = assistant
        self._budget: Budget | None = None  # the budget holding it

    @property
    def assistant(self) -> Assistant | None:
        """The assistant over the document; None once released (the session ended, or another
        upload replaced it)."""
        return self._assistant

    def release(self) -> None:
        self._assistant = None  # the index and its vectors go with the last reference

    def __deepcopy__(self, memo: dict) -> StudentDocument:
        return self  # Gradio may copy state values; one document is never two


class Budget:
    """The students' documents the server holds at once, one per session, and those being built."""

    def __init__(self, max_held: int) -> None:
        self.max_held = max_held
        self._held: dict[str, StudentDocument] = {}
        self._building: set[str] = set()
        self._closed: set[str] = set()  # sessions that ended while their upload was being built
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        """Documents held or being built now."""
        with self._lock:
            return len(self._held.keys() | self._building)

    def claim(self, session: str) -> None:
        """Reserve room for `session`'s upload (a session's own document makes room for its
        next); BusyError when the server holds its limit, InputError while one is being built."""
        with self._lock:
            if session in self._building:
                raise InputError("your last upload is still being read; wait for it to finish")
            if session not in self._held and len(self._held) + len(self._building) >= self.max_held:
                raise BusyError(BUSY)
            self._building.add(session)
            self._closed.discard(session)

    def settle(self, session: str, document: StudentDocument | None) -> bool:
        """End `session`'s claim: hold `document` (releasing the one it replaces), or nothing when
        building failed. False when the session ended meanwhile (the document is released)."""
        with self._lock:
            self._building.discard(session)
            if session in self._closed:
                self._closed.discard(session)
                if document is not None:
                    document.release()
                return False
            if document is None:
                return True
            old = self._held.get(session)
            self._held[session] = document
            document._budget = self
        if old is not None and old is not document:
            old.release()
        return True

    def release(self, session: str) -> bool:
        """The session ended: release its document (one still being built, once built)."""
        with self._lock:
            document = self._held.pop(session, None)
            if session in self._building:
                self._closed.add(session)
        if document is not None:
            document.release()
        return document is not None

    def forget(self, document: StudentDocument | None) -> None:
        """Release `document` wherever it is held (its session's state was deleted)."""
        if document is None:
            return
        with self._lock:
            sessions = [s for s, d in self._held.items() if d is document]
            for session in sessions:
                del self._held[session]
        document.release()


def forget(document: StudentDocument | None) -> None:
    """Release `document` and free its room in the budget holding it (Gradio deleted its
    session's state). A plain function, for gr.State's delete_callback: Gradio deep-copies the
    page's config, callback included, on every page load, and a bound method would take its
    object along, embedding model and all (450 MB, measured)."""
    if document is None:
        return
    if document._budget is not None:
        document._budget.forget(document)
    else:
        document.release()


@functools.cache
def _builder() -> ThreadPoolExecutor:
    # One thread reads and embeds every student's document, one at a time: the embedding model's
    # working memory (hundreds of MB for a batch of long passages) then stays in one malloc arena,
    # where each request thread kept its own (500 MB more per upload, measured), and two cores
    # embed one document at a time as fast as two.
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="student-documents")


@functools.cache
def shared_budget(max_held: int) -> Budget:
    """The process-wide budget: every chat of a server (a library's documents too) shares it."""
    return Budget(max_held)


class Students:
    """Opens students' documents with the settings and embedding model of the course assistant."""

    def __init__(self, settings: Settings, embedder, budget: Budget | None = None) -> None:  # noqa: ANN001
        from assistant.embeddings import OnnxPassages

        self.settings = settings
        self.embedder = OnnxPassages(embedder)  # an upload loads no second copy of the model
        self.limits = Limits.from_settings(settings)
        self.budget = budget or shared_budget(self.limits.max_held)

    @classmethod
    def of(cls, course: Assistant) -> Students:
        return cls(course.settings, course.embedder)

    @property
    def enabled(self) -> bool:
        return self.limits.max_held > 0

    def open(self, raw: bytes | None, name: str, session: str) -> StudentDocument:
        """Read, check and index the file uploaded as `name` (its bytes) for `session`, and hold
        it; DocumentError for a file it refuses, BusyError when the server holds its limit."""
        self.budget.claim(session)
        document = None
        try:
            document = _builder().submit(self._build, raw, name).result()
        finally:
            self.budget.settle(session, document)
        if document.assistant is None:
            raise InputError("the page was closed while the document was being read")
        return document

    def close(self, session: str) -> None:
        self.budget.release(session)

    def _build(self, raw: bytes | None, name: str) -> StudentDocument:
        read = read_upload(raw, name, self.limits)
        assistant = self._index(read)
        return StudentDocument(read.source, len(read.pages), len(assistant.chunks), assistant)

    def _index(self, document: Document) -> Assistant:
        # Retrieved passages for Explain (llm_whole_document_tokens=0): no saved prompt to write
        # beside an index that is gone, and no state evicting the course documents' prompts.
        root = staging_root()
        with tempfile.TemporaryDirectory(prefix=f"{os.getpid()}-", dir=root) as tmp:
            directory = Path(tmp) / "index"
            build_read_documents([document], directory, self.settings, self.embedder)
            settings = self.settings.with_(index_dir=directory, llm_whole_document_tokens=0)
            return Assistant.from_settings(settings, embedder=self.embedder)


def read_upload(raw: bytes | None, name: str, limits: Limits) -> Document:
    """The uploaded file (its bytes; None when they could not be read), read and checked as
    `assistant ingest` checks files, within a student's limits; DocumentError says what is wrong."""
    kind = kind_of(name)
    if raw is None:
        raise DocumentError(f"{name}: the upload did not arrive whole; upload it again")
    if not raw:
        raise DocumentError(f"{name}: the file is empty")
    if len(raw) > limits.max_bytes:
        raise DocumentError(f"{name}: {len(raw):,} bytes is over the limit of "
                            f"{limits.max_bytes:,} bytes for your own document; upload a smaller "
                            "file or a part of it")
    document = document_from_bytes(name, raw, kind=kind, max_pages=limits.max_pages)
    if len(document.text) > limits.max_chars:
        raise DocumentError(f"{name}: {len(document.text):,} characters of text is over the limit "
                            f"of {limits.max_chars:,} for your own document; upload a part of it")
    return document


def staging_root() -> Path:
    """Where students' indexes are built for a moment: private to this user."""
    root = Path(tempfile.gettempdir()) / STAGING
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def remove_leftovers() -> list[Path]:
    """Delete the build directories of server processes that are gone (killed mid-build); at
    start. Those of live processes (another server on this machine) are left alone."""
    root = Path(tempfile.gettempdir()) / STAGING
    removed = []
    for child in root.iterdir() if root.is_dir() else ():
        pid = child.name.split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)) and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
            removed.append(child)
            log.warning("removed %s, left by a student's upload that did not finish", child)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
