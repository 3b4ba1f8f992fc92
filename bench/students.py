"""Students' own documents: the served app's memory with a library of 20 documents and 10 students'
uploads held at once (web/uploads.py, assistant/student.py).

A library of 20 indexes (five texts, the shipped essay, the Frankenstein essay and the held-out
ones, four copies each under their own names) is served by `assistant serve --library` in a
subprocess, without a language model. Each document is asked one question through its API and
its chat page is opened, so all 20 are loaded; then 10 students, each a Gradio session on another
document's chat, upload a 20-page PDF (bench/documents.write_book) through the chat's own upload
route and event, as the browser does, and keep their sessions open. An 11th is refused (the
budget, ASSISTANT_STUDENT_UPLOADS_MAX=10). Memory is read from /proc/<pid>/status: VmRSS before the
uploads and after, and VmHWM, the process's peak.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench import load, serving
from bench.context import Bench
from bench.results import ROOT, Row, Section, row

DOCUMENTS = 20
STUDENTS = 10
PAGES = 20
TEXTS = [ROOT / "assistant" / "data" / "never-let-me-go-essay.txt",
         ROOT / "bench" / "data" / "frankenstein-essay.txt",
         *sorted((ROOT / "bench" / "data" / "heldout").glob("*.txt"))]


def students(b: Bench) -> Section:
    """Resident memory of a library server of 20 documents, before and with 10 students' uploads."""
    section = Section("students", "Students' own documents: memory with 20 documents and 10 uploads")
    work = b.workdir / "students"
    library = _library(b, work)
    book = _book(work)
    book_kb = book.stat().st_size // 1000
    port = load.free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(library, work, port)
    memory = {}
    try:
        load.wait_ready(url, proc, timeout=300)
        names = sorted(p.name for p in library.iterdir())
        with httpx.Client(timeout=300) as http:
            for name in names:
                http.post(f"{url}/api/d/{name}/ask", json={"question": "What is the thesis?"}
                          ).raise_for_status()
                http.get(f"{url}/d/{name}/").raise_for_status()
        memory["library"] = serving._status_mb(proc.pid, "VmRSS")
        took = [_upload(f"{url}/d/{names[0]}", book, 0)]
        memory["first"] = serving._status_mb(proc.pid, "VmRSS")
        t0 = time.perf_counter()
        with ThreadPoolExecutor(STUDENTS - 1) as pool:
            took += pool.map(lambda i: _upload(f"{url}/d/{names[i]}", book, i), range(1, STUDENTS))
        elapsed = time.perf_counter() - t0
        refused = _upload(f"{url}/d/{names[STUDENTS]}", book, STUDENTS)
        memory["all"] = serving._status_mb(proc.pid, "VmRSS")
        memory["peak"] = serving._status_mb(proc.pid, "VmHWM")
    finally:
        serving._stop(proc)
        shutil.rmtree(work, ignore_errors=True)
    held = [t for t in took if t["held"]]
    failed = [t["status"] for t in took if not t["held"]]
    section.rows += [
        row("resident memory, 20 documents loaded and asked (VmRSS)", memory["library"],
            "{:.0f} MB"),
        row("... after the first student's upload (VmRSS)", memory["first"], "{:.0f} MB"),
        row("... with 10 students' documents held (VmRSS)", memory["all"], "{:.0f} MB"),
        row("peak resident memory (VmHWM)", memory["peak"], "{:.0f} MB"),
        row("each further student's document", (memory["all"] - memory["first"])
            / max(1, len(held) - 1), "{:.0f} MB"),
        Row("students' uploads held / sent", f"{len(held)} / {STUDENTS}"),
        row("one upload alone, sent to answering", took[0]["seconds"], "{:.1f} s"),
        row(f"{STUDENTS - 1} more at once, all done", elapsed, "{:.1f} s"),
        Row("an 11th student's upload", "refused: the server is busy" if refused["busy"]
            else f"not refused: {refused['status'][:80]}"),
    ]
    if failed:
        section.notes.append(f"Uploads not held: {'; '.join(f[:200] for f in failed)}")
    section.notes.append(
        f"{DOCUMENTS} library documents ({len(TEXTS)} texts, 2,000 to 5,000 words, "
        f"{DOCUMENTS // len(TEXTS)} copies each), each asked once through /api/d/NAME/ask and its "
        f"chat page opened; then one Gradio session uploads a {PAGES}-page PDF "
        f"({book_kb:,} KB, the held-out essays typeset as a book) to the "
        f"first document's chat, and {STUDENTS - 1} more each to another document's chat at once, "
        "through the chat's upload route and event as the browser sends them, keeping their "
        "sessions open (the server reads and embeds one at a time). No language model "
        "(ASSISTANT_LLM_BACKEND=none). A student's passages are embedded through the ONNX export "
        "questions use (embeddings.OnnxPassages), so no upload loads PyTorch's copy of the "
        "model."
    )
    return section


def _library(b: Bench, work: Path) -> Path:
    from assistant.assistant import build_texts

    library = work / "library"
    library.mkdir(parents=True)
    for i, text in enumerate(TEXTS):
        first = library / f"doc-{i:02d}"
        build_texts([(text.name, text.read_text(encoding="utf-8"))], first, b.settings,
                    b.embedder)
        for copy in range(1, DOCUMENTS // len(TEXTS)):
            shutil.copytree(first, library / f"doc-{i + copy * len(TEXTS):02d}")
    return library


def _book(work: Path) -> Path:
    from bench.documents import write_book

    return write_book(work / "reading.pdf", pages=PAGES)


def _serve(library: Path, work: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "ASSISTANT_PORT": str(port), "ASSISTANT_HOST": "127.0.0.1",
           "ASSISTANT_LLM_BACKEND": "none", "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0",
           "ASSISTANT_STUDENT_UPLOADS_MAX": str(STUDENTS), "GRADIO_TEMP_DIR": str(work / "gradio")}
    with (work / "server.log").open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--library",
                                 str(library)], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def _upload(chat: str, book: Path, student: int) -> dict:
    """One student's session on `chat`: the file to Gradio's upload route, then the upload
    button's event, as the browser sends them; whether the document is held, and how long. Each
    student's file differs (a comment after the PDF's end), as ten students' files would."""
    t0 = time.perf_counter()
    try:
        status = _send(chat, book.name, book.read_bytes() + f"\n% student {student}\n".encode())
    except httpx.HTTPError as exc:
        status = f"failed: {exc!r}"
    return {"seconds": time.perf_counter() - t0, "status": status,
            "held": "your document" in status, "busy": "holding as many" in status}


def _send(chat: str, name: str, content: bytes) -> str:
    session = secrets.token_hex(6)
    with httpx.Client(timeout=600) as http:
        config = http.get(f"{chat}/config").raise_for_status().json()
        button = next(c["id"] for c in config["components"]
                      if c.get("props", {}).get("elem_id") == "own-upload")
        event = next(d for d in config["dependencies"] if [button, "upload"] in d["targets"])
        paths = http.post(f"{chat}/gradio_api/upload",
                          files={"files": (name, content, "application/pdf")}
                          ).raise_for_status().json()
        file = {"path": paths[0], "orig_name": name, "meta": {"_type": "gradio.FileData"}}
        http.post(f"{chat}/gradio_api/queue/join", json={
            "data": [file, None, []], "fn_index": event["id"], "trigger_id": button,
            "session_hash": session, "event_data": None,
        }).raise_for_status()
        status = ""
        with http.stream("GET", f"{chat}/gradio_api/queue/data",
                         params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    outputs = (message.get("output") or {}).get("data") or []
                    status = next((o for o in outputs if isinstance(o, str)
                                   and "own-status" in o), "")
                    break
    return status

