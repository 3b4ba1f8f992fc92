"""A library directory for the library tests, written here: two real indexes, a broken one, and
directories that are not documents; and `assistant serve --library` started on a free port."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from servers import free_port, start, stop

from assistant.config import Settings

KEEPER = "Who lit the lamp of the Gull Rock lighthouse every evening?"
LIGHTHOUSE = """# The Gull Rock lighthouse

The Gull Rock lighthouse stands on a bare island two miles off the northern cape. It was built
in 1871 from granite quarried on the mainland and carried out by barge during the calm summers.

Agnes Moreau lit the lamp of the Gull Rock lighthouse every evening for forty years. She kept a
logbook of every ship that passed, and her logbooks are now kept in the town museum.

The lamp was electrified in 1952, and the last keeper left the island in 1987. Today the light is
automatic, and seabirds are the island's only residents.
"""
SECRET = "this file is outside the library"
READY_S = 120


def build_library(root: Path, essay_index_dir: Path, embedder) -> Path:  # noqa: ANN001
    """root/library with essay/ (the shipped essay), lighthouse/ (a short text), broken/ (a
    corrupt manifest), and two directories that are not documents: bad.name/ (an index under a
    name that is not a slug) and empty/; root/secret.txt lies outside it."""
    from assistant.assistant import build_texts

    (root / "secret.txt").write_text(SECRET)
    library = root / "library"
    library.mkdir()
    shutil.copytree(essay_index_dir, library / "essay")
    build_texts([("lighthouse.md", LIGHTHOUSE)], library / "lighthouse", Settings(), embedder)
    shutil.copytree(library / "lighthouse", library / "bad.name")
    shutil.copytree(library / "lighthouse", library / "broken")
    (library / "broken" / "manifest.json").write_text("{")
    (library / "empty").mkdir()
    return library


@contextmanager
def library_server(library: Path, work: Path, **variables: str) -> Iterator[str]:
    """Base URL (no trailing slash) of `assistant serve --library` with these extra environment
    variables; stopped by its PID."""
    port = free_port()
    env = {
        **os.environ,
        "ASSISTANT_HOST": "127.0.0.1",
        "ASSISTANT_PORT": str(port),
        "ASSISTANT_LLM_BACKEND": "none",
        "GRADIO_TEMP_DIR": str(work / "gradio"),
        **variables,
    }
    url = f"http://127.0.0.1:{port}"
    proc = start([sys.executable, "-m", "assistant", "serve", "--library", str(library)],
                 env, work / "server.log", f"{url}/api/health", READY_S)
    try:
        yield url
    finally:
        stop(proc)
