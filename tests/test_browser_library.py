"""A course page with two documents of one library, in headless Chromium: the library page's
snippets for the essay (an <iframe>) and the lighthouse (a <gradio-app>), on a page served from
another 127.0.0.1 port. Each widget answers about its own document, and nothing comes from
another host. A screenshot goes to test-artifacts/."""

import os
import sys
import time
from urllib.parse import urlparse

import pytest
from libraries import KEEPER, READY_S, build_library, library_server
from servers import free_port, start, stop
from test_browser_embed import ask_widget

from assistant.config import ROOT
from assistant.web.library import snippets

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"
WHO = 'Who says "Poor creatures. What did we do to you?"'
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def course_page(tmp_path_factory, essay_index_dir, embedder):
    """The URL of a course page embedding two documents of a library server."""
    work = tmp_path_factory.mktemp("browser-library")
    library = build_library(work, essay_index_dir, embedder)
    with library_server(library, work) as app:
        iframe, _ = snippets(app, "essay")
        _, component = snippets(app, "lighthouse")
        site = work / "site"
        site.mkdir()
        (site / "course.html").write_text(
            '<!doctype html><html><head><meta charset="utf-8"><title>Course</title></head><body>'
            f'<h1>Week 6</h1><div id="essay">{iframe}</div>'
            f'<div id="lighthouse" style="width:420px">{component}</div></body></html>',
            encoding="utf-8",
        )
        port = free_port()
        static = start(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
             "--directory", str(site)],
            os.environ.copy(), work / "site.log", f"http://127.0.0.1:{port}/course.html", READY_S,
        )  # fmt: skip
        try:
            yield f"http://127.0.0.1:{port}/course.html"
        finally:
            stop(static)


def ask(root, prefix: str, question: str) -> str:
    """Ask in a widget (a frame, or the page with a selector prefix); the answer's text."""
    return ask_widget(root, prefix, question).locator(".answer").inner_text()


def test_two_documents_of_a_library_answer_in_one_course_page(course_page):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 1400})
            page = context.new_page()
            hosts: set[str] = set()
            page.on("request", lambda r: hosts.add(urlparse(r.url).hostname or r.url))
            page.goto(course_page)

            assert "Agnes Moreau" in ask(page, "#lighthouse gradio-app ", KEEPER)
            deadline = time.monotonic() + READY_S
            while not (frames := [f for f in page.frames
                                  if urlparse(f.url).path == "/d/essay/embed/"]):
                assert time.monotonic() < deadline, [f.url for f in page.frames]
                page.wait_for_timeout(100)
            assert "Marie-Claude" in ask(frames[0], "", WHO)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "library-course-page.png"), full_page=True)
            assert hosts == {"127.0.0.1"}
        finally:
            browser.close()
