"""A teacher uploads a PDF on the teacher page of a library server, in headless Chromium: the page
shows the steps and the result, and the new document's widget answers with a page citation."""

from pathlib import Path

import pytest
from libraries import LIGHTHOUSE, library_server
from test_browser_embed import ANSWER_MS
from test_browser_library import CHROMIUM_ARGS, ask

from assistant.config import Settings

pytestmark = pytest.mark.browser

TOKEN = "a-long-teacher-token-0123456789"
GALLERY = "Who collected the best paintings and poems every spring?"


def test_a_teacher_uploads_a_pdf_and_its_widget_cites_the_page(tmp_path, embedder):
    from documents import write_reading
    from playwright.sync_api import sync_playwright

    from assistant.assistant import build_texts

    library = tmp_path / "library"
    library.mkdir()
    build_texts([("lighthouse.md", LIGHTHOUSE)], library / "lighthouse", Settings(), embedder)
    reading = write_reading(tmp_path / "reading.pdf", first_label=12)
    with library_server(library, tmp_path, ASSISTANT_TEACHER_TOKEN=TOKEN) as url, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{url}/teacher")
            page.fill("#token", TOKEN)
            page.fill("#name", "week3")
            page.set_input_files("#file", str(reading))
            page.click("button[type=submit]")
            page.wait_for_function(
                "() => document.getElementById('result').className !== ''", timeout=ANSWER_MS)
            assert page.inner_text("#result") == "week3 is live: reading.pdf (4 pages).", \
                page.inner_text("#result")
            page.wait_for_selector("#documents a[href='../d/week3/']", timeout=ANSWER_MS)
            page.wait_for_function(
                "() => document.getElementById('steps').innerText.includes('week3 is live')",
                timeout=ANSWER_MS)
            assert "Received reading.pdf" in page.inner_text("#steps")

            wrong = browser.new_page()
            wrong.goto(f"{url}/teacher/")
            wrong.fill("#token", "not-the-token-0000000000")
            wrong.fill("#name", "week4")
            wrong.set_input_files("#file", str(reading))
            wrong.click("button[type=submit]")
            wrong.wait_for_function(
                "() => document.getElementById('result').className === 'error'", timeout=ANSWER_MS)
            assert "not the teacher token" in wrong.inner_text("#result")
            assert not (library / "week4").exists()

            widget = browser.new_page()
            widget.goto(f"{url}/d/week3/embed/")
            assert "Madame collected" in ask(widget, "", GALLERY)
            message = widget.locator("#chat .bot").last.text_content()  # sources folded
            assert "p. 12" in message, message
            Path("test-artifacts").mkdir(exist_ok=True)
            page.screenshot(path="test-artifacts/teacher-page.png", full_page=True)
        finally:
            browser.close()
