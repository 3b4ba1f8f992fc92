"""A library: every index in one directory's subdirectories, each loaded on its first question.

A document's name is its subdirectory's name, which must be a slug (letters, digits, `-` and `_`,
at most 64 characters); other subdirectories, and those without a manifest.json, are not
documents. A name asked for is only ever looked up among the names found on disk, never joined to
a path, so no request reaches a file outside the library. All the documents share one embedding
model, one reader and one language model (the process-wide ones), so a library of 20 starts as
fast as one index. Leaves out serving (web/library.py) and building indexes (`assistant ingest`).

Changing the library while it is served (a teacher's upload, replacement or deletion) is atomic:
an index is built in a `.tmp-<random>` directory inside the library, which `refresh` never lists
and `remove_leftovers` deletes at the next start, and only then renamed into place (a replacement
is swapped in with one `renameat2(RENAME_EXCHANGE)` where the system has it). One change per name
at a time; a second gets a ConflictError.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from assistant.assistant import Assistant, build_read_documents, shared_embedder
from assistant.config import Settings
from assistant.errors import ConfigError, ConflictError, InputError, UnusableIndexError
from assistant.formats import kind_of
from assistant.index import MANIFEST, read_manifest
from assistant.ingest import read_document
from assistant.schema import Document

log = logging.getLogger(__name__)

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
TEMPORARY = ".tmp-"  # a directory being built or removed; never a document (not a slug)
MAX_FILE_NAME = 200


def is_name(name: str) -> bool:
    """Whether `name` could be a document's name (a slug), before looking it up."""
    return bool(NAME.fullmatch(name))


@dataclass(frozen=True)
class Entry:
    """One index of the library, as found on disk (nothing loaded)."""

    name: str
    directory: Path
    sources: tuple[str, ...]  # the documents the index holds; empty when its manifest is unreadable


class Library:
    """The indexes under `settings.library_dir`, found on demand and loaded lazily, once each."""

    def __init__(self, settings: Settings, *, embedder=None) -> None:  # noqa: ANN001
        if settings.library_dir is None:
            raise ConfigError("no library directory is set (ASSISTANT_LIBRARY_DIR or --library)")
        self.settings = settings
        self.directory = Path(settings.library_dir)
        if not self.directory.is_dir():
            raise UnusableIndexError(
                f"no library at {self.directory}: it should be a directory holding one index per "
                "subdirectory, each built with `assistant ingest FILE... --index "
                f"{self.directory}/NAME`"
            )
        self._embedder = embedder
        self._entries: dict[str, Entry] = {}
        self._loaded: dict[str, Assistant] = {}
        self._lock = threading.Lock()  # guards the two dicts
        self._loading: dict[str, threading.Lock] = {}  # one per name: a document loads once
        self._skipped: set[str] = set()  # directories not named as a slug, warned about once
        self._generations: dict[str, int] = {}  # bumped when a document is replaced or deleted
        self._changing: set[str] = set()  # names being uploaded or deleted now
        self.refresh()

    @property
    def embedder(self):  # noqa: ANN201 - an embeddings.Embedder
        if self._embedder is None:
            self._embedder = shared_embedder(self.settings)
        return self._embedder

    def refresh(self) -> list[Entry]:
        """Look at the directory again (an index added since appears); the entries, by name."""
        found: dict[str, Entry] = {}
        for child in sorted(self.directory.iterdir()):
            if child.name.startswith(".") or not (child / MANIFEST).is_file():
                continue
            if not is_name(child.name):
                if child.name not in self._skipped:
                    self._skipped.add(child.name)
                    log.warning("library: skipping %s: a document's directory name may hold only "
                                "letters, digits, '-' and '_'", child)
                continue
            found[child.name] = Entry(child.name, child, _sources(child))
        with self._lock:
            self._entries = found
        return list(found.values())

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries.values())

    def find(self, name: str) -> Entry | None:
        """The entry of that name, or None (an odd name is None without touching the disk)."""
        if not is_name(name):
            return None
        with self._lock:
            entry = self._entries.get(name)
        if entry is None:
            entry = next((e for e in self.refresh() if e.name == name), None)
        return entry

    def is_loaded(self, name: str) -> bool:
        with self._lock:
            return name in self._loaded

    def assistant(self, name: str) -> Assistant | None:
        """The assistant of that document, loaded on first use; None for an unknown name.
        Blocks while it loads (about a second), so call it from a worker thread."""
        with self._lock:
            loaded = self._loaded.get(name)
        if loaded is not None:
            return loaded
        entry = self.find(name)
        if entry is None:
            return None
        with self._lock:
            gate = self._loading.setdefault(name, threading.Lock())
            generation = self._generations.get(name, 0)
        with gate:
            with self._lock:
                loaded = self._loaded.get(name)
            if loaded is None:
                settings = self.settings.with_(index_dir=entry.directory)
                loaded = Assistant.from_settings(settings, embedder=self.embedder)
                loaded.warm_up_search()
                # Explain's model (shared) and this document's saved prompt load in the
                # background; quotes are answered meanwhile.
                loaded.warm_up_in_background()
                with self._lock:
                    # replaced while it loaded: answer this request, but load afresh next time
                    if self._generations.get(name, 0) == generation:
                        self._loaded[name] = loaded
        return loaded

    # --- changes while serving ---------------------------------------------------------------

    def generation(self, name: str) -> int:
        """How many times this document was replaced or deleted while served (0 at first): a front
        end that keeps pages built for a document rebuilds them when it changes."""
        with self._lock:
            return self._generations.get(name, 0)

    def forget(self, name: str) -> None:
        """Drop a replaced or deleted document from the loaded ones; the next request loads it
        from disk again (or finds it gone)."""
        with self._lock:
            self._loaded.pop(name, None)
            self._generations[name] = self._generations.get(name, 0) + 1
        self.refresh()

    @contextmanager
    def changing(self, name: str) -> Iterator[None]:
        """Hold `name` for one upload or deletion; ConflictError when another holds it."""
        check_name(name)
        with self._lock:
            if name in self._changing:
                raise ConflictError(f"{name!r} is being changed by another upload or deletion; "
                                    "try again when it has finished")
            self._changing.add(name)
        try:
            yield
        finally:
            with self._lock:
                self._changing.discard(name)

    def temporary(self) -> Path:
        """A new, empty `.tmp-<random>` directory inside the library (same file system, so a rename
        out of it is atomic), for one upload."""
        path = self.directory / f"{TEMPORARY}{secrets.token_hex(8)}"
        path.mkdir()
        return path

    def read_upload(self, path: Path) -> Document:
        """An uploaded file, read and checked as `assistant ingest` would (DocumentError)."""
        return read_document(path)

    def publish(self, name: str, documents: Sequence[Document], staging: Path) -> Entry:
        """Build the index of `documents` in `staging` (a `temporary()` directory) and put it in
        place as document `name`, replacing any document of that name; the library is unchanged
        when building fails. Call it while `changing(name)`."""
        check_name(name)
        built = staging / "index"
        build_read_documents(documents, built, self.settings, self.embedder)
        target = self.directory / name
        if target.exists() or target.is_symlink():
            if not _exchange(built, target):
                # no atomic exchange here: two renames, with a moment in which `name` is absent
                os.rename(target, staging / "old")
                os.rename(built, target)
        else:
            os.rename(built, target)
        self.forget(name)
        return Entry(name, target, _sources(target))

    def delete(self, name: str) -> bool:
        """Take document `name` out of the library (one rename, then removal); False when there is
        none. Call it while `changing(name)`."""
        if self.find(name) is None:
            return False
        staging = self.temporary()
        os.rename(self.directory / name, staging / "old")
        self.forget(name)
        shutil.rmtree(staging, ignore_errors=True)
        return True

    def remove_leftovers(self) -> list[Path]:
        """Delete the `.tmp-*` directories an upload left when the server was killed; at start."""
        removed = []
        for child in self.directory.iterdir():
            if child.name.startswith(TEMPORARY) and child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
                removed.append(child)
                log.warning("library: removed %s, left by an upload that did not finish", child)
        return removed


def check_name(name: str) -> str:
    """`name` if it can name a document; InputError saying why not."""
    if not is_name(name):
        raise InputError(f"{name!r} cannot name a document: use 1 to 64 letters, digits, '-' and "
                         "'_', starting with a letter or digit")
    return name


def check_file_name(file_name: str) -> str:
    """An uploaded file's name, as it will be cited; InputError for a path, a control character
    or an odd name, DocumentError for a file type that is not read."""
    bad = [c for c in file_name if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
    if bad:
        raise InputError(f"the file name {file_name!r} holds control characters; rename the file")
    if not file_name.strip() or "/" in file_name or "\\" in file_name or file_name.startswith(".") \
            or len(file_name) > MAX_FILE_NAME:
        raise InputError(f"{file_name!r} is not a plain file name (no folders, no leading dot, at "
                         f"most {MAX_FILE_NAME} characters); rename the file")
    kind_of(file_name)  # DocumentError for an extension that is not read
    return file_name


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where the system cannot."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _sources(directory: Path) -> tuple[str, ...]:
    try:
        return tuple(str(s["source"]) for s in read_manifest(directory)["sources"])
    except (UnusableIndexError, KeyError, TypeError):
        return ()
