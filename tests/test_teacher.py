"""The teacher page of a library (`assistant serve --library` with ASSISTANT_TEACHER_TOKEN, in a
subprocess): real uploads over HTTP become live without a restart, replace and delete work, the
token guards it all, and every bad upload gets a 4xx with the library's files left as they were,
including an upload cut short by killing the server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from documents import encrypted_pdf, scanned_pdf, write_docx, write_reading, zip_bomb
from libraries import KEEPER, LIGHTHOUSE, READY_S, library_server
from servers import free_port, start, stop

from assistant.config import Settings
from assistant.errors import ConfigError

TOKEN = "a-long-teacher-token-0123456789"
LIMIT = 1_000_000  # ASSISTANT_MAX_UPLOAD_BYTES of the test server
GALLERY = "Who collected the best paintings and poems every spring?"
FERRY = "When does the ferry to Skerry Island leave?"
FERRY_NOTES = """# Week 2: the island

The ferry to Skerry Island leaves the harbour at seven every morning. The crossing takes an hour,
and in winter the ferry does not sail at all.

The island's school has eleven pupils and one teacher, Mr Halloran, who rows over on Mondays.
"""
FERRY_CHANGED = FERRY_NOTES.replace("at seven every morning", "at noon on Saturdays only")
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory, embedder) -> Path:
    """A library holding one document, lighthouse/."""
    from assistant.assistant import build_texts

    library = tmp_path_factory.mktemp("teacher-root") / "library"
    library.mkdir()
    build_texts([("lighthouse.md", LIGHTHOUSE)], library / "lighthouse", Settings(), embedder)
    return library


@pytest.fixture(scope="module")
def server(library_dir, tmp_path_factory):
    with library_server(library_dir, tmp_path_factory.mktemp("teacher-server"),
                        ASSISTANT_TEACHER_TOKEN=TOKEN,
                        ASSISTANT_MAX_UPLOAD_BYTES=str(LIMIT)) as url:
        yield url


def upload(url: str, name: str, content, filename: str, headers=AUTH) -> httpx.Response:  # noqa: ANN001
    return httpx.post(f"{url}/teacher/api/documents/{name}", params={"filename": filename},
                      content=content, headers=headers, timeout=180)


def ask(url: str, name: str, question: str) -> httpx.Response:
    return httpx.post(f"{url}/api/d/{name}/ask", json={"question": question}, timeout=60)


def names(url: str) -> list[str]:
    return [d["name"] for d in httpx.get(f"{url}/api/library").json()["documents"]]


def state(library: Path) -> tuple[list[str], dict[str, str]]:
    """What is in the library directory: its entries (temporary ones too) and every file's hash."""
    from conftest import digest_tree

    return sorted(os.listdir(library)), digest_tree(library)


# --- uploads that work ------------------------------------------------------------------------


def test_a_markdown_file_and_a_pdf_go_live_without_a_restart(server, tmp_path):
    done = upload(server, "week2", FERRY_NOTES.encode(), "island.md")
    assert done.status_code == 200, done.text
    assert done.json()["sources"] == ["island.md"] and done.json()["ask"] == "/api/d/week2/ask"
    answer = ask(server, "week2", FERRY).json()
    assert "seven every morning" in answer["answer"]
    assert {c["source"] for c in answer["citations"]} == {"island.md"}

    pdf = write_reading(tmp_path / "reading.pdf", first_label=12).read_bytes()
    done = upload(server, "week3", pdf, "reading.pdf")
    assert done.status_code == 200, done.text
    assert done.json()["pages"] == 4
    answer = ask(server, "week3", GALLERY).json()
    assert "Madame collected the best paintings" in answer["answer"]
    assert answer["citations"][0]["source"] == "reading.pdf"
    assert answer["citations"][0]["source_pages"] == ["12"]  # the printed page number

    steps = httpx.get(f"{server}/teacher/api/progress/week3", headers=AUTH).json()["steps"]
    assert steps[0]["step"].startswith("Received reading.pdf")
    assert "4 pages" in steps[1]["step"] and steps[-1] == {**steps[-1], "step": "week3 is live",
                                                            "done": True}
    assert {"week2", "week3", "lighthouse"} <= set(names(server))
    listed = httpx.get(f"{server}/teacher/api/documents", headers=AUTH).json()["documents"]
    assert {"name": "week3", "sources": ["reading.pdf"]} in listed


def test_a_word_file_goes_live(server, tmp_path):
    done = upload(server, "notes", write_docx(tmp_path / "notes.docx").read_bytes(), "notes.docx")
    assert done.status_code == 200, done.text
    answer = ask(server, "notes", "Which novel did the veterans read at the Cottages?").json()
    assert "Daniel Deronda" in answer["answer"]


def test_the_same_name_again_replaces_the_document_and_delete_removes_it(server, library_dir):
    assert upload(server, "week5", FERRY_NOTES.encode(), "island.md").status_code == 200
    assert "seven every morning" in ask(server, "week5", FERRY).json()["answer"]  # now loaded
    assert httpx.get(f"{server}/d/week5/", timeout=60).status_code == 200  # its chat built

    replaced = upload(server, "week5", FERRY_CHANGED.encode(), "island-v2.md")
    assert replaced.status_code == 200, replaced.text
    answer = ask(server, "week5", FERRY).json()
    assert "noon on Saturdays" in answer["answer"] and "seven" not in answer["answer"]
    assert {c["source"] for c in answer["citations"]} == {"island-v2.md"}
    health = httpx.get(f"{server}/api/d/week5/health").json()
    assert health["documents"] == ["island-v2.md"]
    assert httpx.get(f"{server}/d/week5/", timeout=60).status_code == 200
    assert not [p for p in os.listdir(library_dir) if p.startswith(".")]

    deleted = httpx.delete(f"{server}/teacher/api/documents/week5", headers=AUTH)
    assert deleted.status_code == 200 and deleted.json() == {"deleted": "week5"}
    assert ask(server, "week5", FERRY).status_code == 404
    assert httpx.get(f"{server}/d/week5/").status_code == 404
    assert "week5" not in names(server) and not (library_dir / "week5").exists()
    again = httpx.delete(f"{server}/teacher/api/documents/week5", headers=AUTH)
    assert again.status_code == 404 and "no document named 'week5'" in again.json()["error"]
    assert not [p for p in os.listdir(library_dir) if p.startswith(".")]


def test_two_teachers_uploading_one_name_at_once_never_leave_half_an_index(server, library_dir):
    results: dict[str, httpx.Response] = {}

    def send(text: str, filename: str) -> None:
        results[filename] = upload(server, "race", text.encode(), filename)

    threads = [threading.Thread(target=send, args=(FERRY_NOTES, "first.md")),
               threading.Thread(target=send, args=(FERRY_CHANGED, "second.md"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = {name: r.status_code for name, r in results.items()}
    assert set(statuses.values()) <= {200, 409} and 200 in statuses.values(), statuses
    for response in results.values():
        if response.status_code == 409:
            assert "being changed by another upload" in response.json()["error"]
    won = httpx.get(f"{server}/api/d/race/health").json()["documents"]
    assert won in (["first.md"], ["second.md"])
    assert statuses[won[0]] == 200
    assert not [p for p in os.listdir(library_dir) if p.startswith(".")]


def test_an_upload_of_a_name_being_uploaded_gets_a_409(server, library_dir):
    release, stalled = threading.Event(), threading.Event()
    first: list[httpx.Response] = []

    def slow_body():
        yield FERRY_NOTES.encode()[:100]
        stalled.set()
        release.wait(30)
        yield FERRY_NOTES.encode()[100:]

    sender = threading.Thread(target=lambda: first.append(
        upload(server, "busy", slow_body(), "first.md")))
    sender.start()
    try:
        assert stalled.wait(30)
        deadline = time.monotonic() + 30
        while not [p for p in os.listdir(library_dir) if p.startswith(".tmp-")]:
            assert time.monotonic() < deadline, "the first upload never started"
            time.sleep(0.05)
        second = upload(server, "busy", FERRY_CHANGED.encode(), "second.md")
        deleted = httpx.delete(f"{server}/teacher/api/documents/busy", headers=AUTH)
    finally:
        release.set()
        sender.join()
    assert second.status_code == 409 and "being changed by another" in second.json()["error"]
    assert deleted.status_code == 409
    assert first[0].status_code == 200, first[0].text
    assert httpx.get(f"{server}/api/d/busy/health").json()["documents"] == ["first.md"]


def test_a_build_that_fails_leaves_the_library_as_it_was(library_dir, tmp_path, embedder):
    from assistant.ingest import document_from_text
    from assistant.library import Library

    class Failing:
        """The real embedder, failing once the index is half built."""

        def __init__(self, real) -> None:  # noqa: ANN001
            self.real = real

        def __getattr__(self, name: str):  # noqa: ANN204
            return getattr(self.real, name)

        def encode(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
            raise RuntimeError("the disk is full")

    library_copy = Path(shutil.copytree(library_dir, tmp_path / "library"))
    before = state(library_copy)
    library = Library(Settings(library_dir=library_copy), embedder=Failing(embedder))
    staging = library.temporary()
    with pytest.raises(RuntimeError, match="disk is full"):
        library.publish("lighthouse", [document_from_text("new.md", FERRY_NOTES)], staging)
    shutil.rmtree(staging)
    assert state(library_copy) == before
    assert [e.name for e in library.entries()] == sorted(
        p for p in os.listdir(library_copy) if not p.startswith("."))


# --- the token --------------------------------------------------------------------------------


def test_without_a_token_configured_there_is_no_teacher_page(library_dir, tmp_path):
    with library_server(library_dir, tmp_path) as url:
        for path in ("/teacher", "/teacher/", "/teacher/api/documents", "/teacher/api/progress/x"):
            assert httpx.get(url + path, headers=AUTH).status_code == 404, path
        refused = upload(url, "week9", FERRY_NOTES.encode(), "island.md")
        assert refused.status_code in (404, 405)
        assert httpx.delete(f"{url}/teacher/api/documents/lighthouse", headers=AUTH).status_code in (
            404, 405)
    assert (library_dir / "lighthouse" / "manifest.json").is_file()


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401), ({"Authorization": "Bearer"}, 401), ({"Authorization": f"Basic {TOKEN}"}, 401),
    ({"Authorization": "Bearer not-the-token-at-all-0000"}, 403),
    ({"Authorization": f"Bearer {TOKEN}x"}, 403),
])
def test_the_api_wants_the_token(server, library_dir, headers, status):
    before = state(library_dir)
    calls = [
        upload(server, "intruder", FERRY_NOTES.encode(), "island.md", headers=headers),
        httpx.delete(f"{server}/teacher/api/documents/lighthouse", headers=headers),
        httpx.get(f"{server}/teacher/api/documents", headers=headers),
        httpx.get(f"{server}/teacher/api/progress/week3", headers=headers),
    ]
    assert [c.status_code for c in calls] == [status] * 4
    assert "teacher token" in calls[0].json()["error"]
    if status == 401:
        assert calls[0].headers["www-authenticate"].startswith("Bearer")
    assert state(library_dir) == before


def test_the_page_is_served_with_its_form(server):
    assert httpx.get(f"{server}/teacher").headers["location"] == "/teacher/"
    page = httpx.get(f"{server}/teacher/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'type="file"' in page.text and "fetch(" in page.text and "api/progress/" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN, nothing external
    assert TOKEN not in page.text


def test_a_short_token_is_refused_at_start():
    with pytest.raises(ConfigError, match="at least 16 characters"):
        Settings.from_env({"ASSISTANT_TEACHER_TOKEN": "short"})
    assert Settings().teacher_token == "" and TOKEN not in repr(Settings(teacher_token=TOKEN))


# --- bad uploads: a 4xx each, and the library as it was -----------------------------------------


def _bad_files(d: Path) -> dict[str, tuple[str, str, bytes, int, str]]:
    """case -> (document name, file name, content, status, words in the message)."""
    pdf = write_reading(d / "reading.pdf").read_bytes()
    return {
        "pdf-named-docx": ("bad", "essay.docx", pdf, 422, "the content is a PDF"),
        "text-named-pdf": ("bad", "notes.pdf", FERRY_NOTES.encode(), 422, "not a PDF"),
        "unsupported-type": ("bad", "setup.exe", b"MZ\x90\x00", 422, "unsupported file type"),
        "encrypted": ("bad", "locked.pdf", encrypted_pdf(d / "locked.pdf").read_bytes(), 422,
                      "encrypted"),
        "scanned": ("bad", "scan.pdf", scanned_pdf(d / "scan.pdf").read_bytes(), 422, "no text layer"),
        "zip-bomb": ("bad", "bomb.docx", zip_bomb(d / "bomb.docx", 210 << 20).read_bytes(), 422,
                     "ZIP bomb"),
        "empty": ("bad", "empty.md", b"", 422, "empty"),
        "binary-text": ("bad", "notes.md", b"\x00\x01\x02" * 10, 422, "binary"),
        "too-large": ("bad", "big.md", b"a" * (LIMIT + 1), 413, "over the limit"),
        "climbing-file-name": ("bad", "../../secret.md", FERRY_NOTES.encode(), 400, "plain file name"),
        "folder-file-name": ("bad", "notes/island.md", FERRY_NOTES.encode(), 400, "plain file name"),
        "backslash-file-name": ("bad", "..\\island.md", FERRY_NOTES.encode(), 400, "plain file name"),
        "control-file-name": ("bad", "isl\x1band.md", FERRY_NOTES.encode(), 400, "control characters"),
        "newline-file-name": ("bad", "island\n.md", FERRY_NOTES.encode(), 400, "control characters"),
        "hidden-file-name": ("bad", ".island.md", FERRY_NOTES.encode(), 400, "plain file name"),
        "no-file-name": ("bad", "", FERRY_NOTES.encode(), 400, "plain file name"),
        "dotted-name": ("bad.name", "island.md", FERRY_NOTES.encode(), 400, "cannot name a document"),
        "climbing-name": ("%2e%2e", "island.md", FERRY_NOTES.encode(), 400, "cannot name a document"),
        "control-name": ("week%01", "island.md", FERRY_NOTES.encode(), 400, "cannot name"),
        "long-name": ("a" * 65, "island.md", FERRY_NOTES.encode(), 400, "cannot name a document"),
        "temporary-name": (".tmp-0123", "island.md", FERRY_NOTES.encode(), 400, "cannot name"),
    }


BAD_CASES = ["pdf-named-docx", "text-named-pdf", "unsupported-type", "encrypted", "scanned",
             "zip-bomb", "empty", "binary-text", "too-large", "climbing-file-name",
             "folder-file-name", "backslash-file-name", "control-file-name", "newline-file-name",
             "hidden-file-name", "no-file-name", "dotted-name", "climbing-name", "control-name",
             "long-name", "temporary-name"]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    return _bad_files(tmp_path_factory.mktemp("bad-uploads"))


@pytest.mark.parametrize("case", BAD_CASES)
def test_a_bad_upload_is_refused_and_changes_nothing(server, library_dir, bad_files, case):
    name, filename, content, status, words = bad_files[case]
    # replacing a live document with a bad file leaves the old one live
    for target in (name, "lighthouse") if name == "bad" else (name,):
        before = state(library_dir)
        refused = upload(server, target, content, filename)
        assert refused.status_code == status, refused.text
        assert words in refused.json()["error"]
        assert state(library_dir) == before
    assert "Agnes Moreau" in ask(server, "lighthouse", KEEPER).json()["answer"]


def test_an_endless_upload_is_cut_off_at_the_limit(server, library_dir):
    before = state(library_dir)
    sent = 0

    def chunks():  # no Content-Length: the server counts what arrives
        nonlocal sent
        while sent < 4 * LIMIT:
            sent += 1 << 16
            yield b"a" * (1 << 16)

    try:
        refused = upload(server, "endless", chunks(), "endless.md")
        assert refused.status_code == 413 and "over the limit" in refused.json()["error"]
    except httpx.TransportError:
        pass  # the server closed the connection while more was being sent: also refused
    assert state(library_dir) == before


def test_a_huge_declared_upload_is_refused_before_its_body_arrives(server, library_dir):
    before = state(library_dir)
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /teacher/api/documents/huge?filename=huge.pdf HTTP/1.1\r\n"
            + f"Host: {host}\r\nAuthorization: Bearer {TOKEN}\r\n".encode()
            + b"Content-Length: 200000000\r\n\r\n%PDF-1.7\n")
        reply = b""
        while b"}" not in reply:  # the JSON body may come in a second packet
            part = connection.recv(4096)
            if not part:
                break
            reply += part
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"over the limit" in reply
    assert state(library_dir) == before


# --- a server killed mid-upload ------------------------------------------------------------------


def test_a_server_killed_mid_upload_restarts_with_the_library_as_before(library_dir, tmp_path):
    library = Path(shutil.copytree(library_dir, tmp_path / "library",
                                   ignore=shutil.ignore_patterns(".*")))
    before = state(library)
    documents = sorted(p for p in os.listdir(library) if (library / p / "manifest.json").exists())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ASSISTANT_HOST": "127.0.0.1", "ASSISTANT_PORT": str(port),
           "ASSISTANT_LLM_BACKEND": "none", "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
           "ASSISTANT_TEACHER_TOKEN": TOKEN}
    command = [sys.executable, "-m", "assistant", "serve", "--library", str(library)]
    proc = start(command, env, tmp_path / "first.log", f"{url}/api/health", READY_S)
    stalled = threading.Event()

    def slow_body():
        yield FERRY_NOTES.encode()
        stalled.set()
        time.sleep(30)  # the server is killed meanwhile
        yield b"never sent"

    def send() -> None:
        try:
            upload(url, "lighthouse", slow_body(), "island.md")
        except httpx.TransportError:
            pass

    sender = threading.Thread(target=send, daemon=True)
    try:
        sender.start()
        assert stalled.wait(30)
        deadline = time.monotonic() + 30
        while not [p for p in os.listdir(library) if p.startswith(".tmp-")]:
            assert time.monotonic() < deadline, "the upload never reached the library"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        stop(proc)
    left = [p for p in os.listdir(library) if p.startswith(".tmp-")]
    assert left and (library / left[0] / "upload" / "island.md").exists()
    # a leftover holding a whole index is no document either
    shutil.copytree(library / "lighthouse", library / ".tmp-0123456789abcdef")
    assert state(library) != before

    proc = start(command, env, tmp_path / "second.log", f"{url}/api/health", READY_S)
    try:
        assert state(library) == before  # removed at start
        assert names(url) == documents
        assert "Agnes Moreau" in ask(url, "lighthouse", KEEPER).json()["answer"]
        # one made while it runs is not listed, and its name reaches nothing
        shutil.copytree(library / "lighthouse", library / ".tmp-feedface")
        assert names(url) == documents
        assert httpx.get(f"{url}/d/.tmp-feedface/").status_code in (400, 404)
    finally:
        stop(proc)
    assert "removed" in (tmp_path / "second.log").read_text()
