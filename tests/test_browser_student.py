"""Two students on the real app (`python app.py`, a budget of one student's document) in headless
Chromium: A uploads a PDF of their own and asks about it (the answer cites its page); B, in another
browser context, asks the same and gets the course essay's refusal, sees no trace of A's file, cannot
fetch it by its upload path, and is told the server is busy when uploading too; once A closes the
page the budget is free and B's upload is taken. A screenshot goes to test-artifacts/."""

import os
import shutil
import sys

import httpx
import pytest
from libraries import KEEPER
from servers import free_port, start, stop
from test_browser_chat import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from test_student_uploads import lighthouse_pdf

pytestmark = pytest.mark.browser

READY_S = 300
LIMIT = 3_000_000  # ASSISTANT_STUDENT_UPLOAD_MAX_BYTES of the test server: over the chat's 2 MB
ANSWER_MS = 60_000


@pytest.fixture(scope="module")
def app(tmp_path_factory, essay_index_dir):
    """(base URL, Gradio's upload folder) of the app over a copy of the essay index (the page's
    suggested questions keep study aids beside it), holding one student's file."""
    work = tmp_path_factory.mktemp("browser-student")
    index = shutil.copytree(essay_index_dir, work / "index")
    port = free_port()
    env = {
        **os.environ,
        "ASSISTANT_INDEX_DIR": str(index),
        "ASSISTANT_HOST": "127.0.0.1",
        "ASSISTANT_PORT": str(port),
        "ASSISTANT_LLM_BACKEND": "none",
        "ASSISTANT_STUDENT_UPLOADS_MAX": "1",
        "ASSISTANT_STUDENT_UPLOAD_MAX_BYTES": str(LIMIT),
        "GRADIO_TEMP_DIR": str(work / "gradio"),
    }
    url = f"http://127.0.0.1:{port}"
    proc = start([sys.executable, "app.py"], env, work / "app.log", f"{url}/", READY_S)
    try:
        yield url, work / "gradio"
    finally:
        stop(proc)


def open_chat(browser, url: str):  # noqa: ANN201 - (context, page)
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto(f"{url}/")
    page.wait_for_selector("#question textarea")
    page.wait_for_selector("#own-status")
    return context, page


def upload(page, path) -> str:  # noqa: ANN001
    """Upload `path` with the chat's button; the status line once it has settled."""
    shown = "#own-status .own-status"
    before = page.inner_html(shown)
    with page.expect_file_chooser() as chooser:
        page.click("#own-upload")
    chooser.value.set_files(str(path))
    page.wait_for_function(
        "([shown, before]) => { const s = document.querySelector(shown);"
        " return s && s.innerHTML !== before && !s.classList.contains('reading'); }",
        arg=[shown, before], timeout=ANSWER_MS)
    return page.inner_text(shown)


def ask(page, question: str) -> str:
    """Ask; the text of the final answer (with its sources' places)."""
    count = page.locator("#chat .bot").count()
    page.fill("#question textarea", question)
    page.click("#ask")
    page.wait_for_function(
        "(n) => { const b = document.querySelectorAll('#chat .bot'); const last = b[b.length - 1];"
        " return b.length > n && last && !last.querySelector('.pending')"
        " && last.querySelector('.answer, .notice') !== null; }",
        arg=count, timeout=ANSWER_MS)
    return page.locator("#chat .bot").last.text_content()


def test_a_students_own_file_is_seen_only_in_their_session(app, tmp_path):
    from playwright.sync_api import sync_playwright

    url, gradio_dir = app
    pdf = lighthouse_pdf(tmp_path / "lighthouse.pdf")
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nThe ferry leaves at seven every morning from the harbour.\n")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            a_context, a = open_chat(browser, url)
            uploaded: list[str] = []
            a.on("response", lambda r: uploaded.extend(r.json()) if r.url.endswith(
                "/gradio_api/upload") and r.ok else None)
            status = upload(a, pdf)
            assert "your document: lighthouse.pdf" in status and "3 pages" in status, status
            answer = ask(a, KEEPER)
            assert "Agnes Moreau" in answer and "lighthouse.pdf" in answer and "p. 13" in answer
            assert "Agnes Moreau" in a.inner_text("#essay")
            ARTIFACTS.mkdir(exist_ok=True)
            a.screenshot(path=str(ARTIFACTS / "student-upload.png"), full_page=True)

            # Gradio's copy of the file is gone, and its upload path answers nobody
            assert uploaded and not any(gradio_dir.rglob("lighthouse.pdf"))
            for path in uploaded:
                assert httpx.get(f"{url}/gradio_api/file={path}").status_code in (403, 404)

            b_context, b = open_chat(browser, url)
            assert "the course document" in b.inner_text("#own-status .own-status")
            other = ask(b, KEEPER)
            assert "Agnes Moreau" not in other and "lighthouse.pdf" not in other
            seen = b.content()  # no trace of A's file: its name, its text
            assert "lighthouse.pdf" not in seen and "Agnes" not in seen and "Moreau" not in seen
            refused = upload(b, notes)
            assert "holding as many students' documents" in refused, refused
            assert "your document" not in refused

            a_context.close()  # A leaves: the server releases A's document (Gradio's unload)
            for _ in range(20):
                status = upload(b, notes)
                if "your document: notes.md" in status:
                    break
                b.wait_for_timeout(1000)
            assert "your document: notes.md" in status, status
            assert "seven every morning" in ask(b, "When does the ferry leave?")
            b.click("#own-back")
            b.wait_for_function("() => document.querySelector('#own-status .own-status').innerText"
                                ".includes('the course document')", timeout=ANSWER_MS)
            assert "Agnes Moreau" not in ask(b, KEEPER)
            b_context.close()
        finally:
            browser.close()


@pytest.mark.parametrize(("chat", "size", "status"), [
    ("", LIMIT - 100_000, 200),  # a student's file, over the 2 MB other chat requests may have
    ("", LIMIT + 1, 413),
    ("/embed", 100_000, 413),  # the widget takes no file
])
def test_the_chats_upload_route_takes_a_students_file_within_the_limit(app, chat, size, status):
    url, _ = app
    sent = httpx.post(f"{url}{chat}/gradio_api/upload",
                      files={"files": ("notes.txt", b"a" * size, "text/plain")}, timeout=60)
    assert sent.status_code == status, sent.text[:200]
