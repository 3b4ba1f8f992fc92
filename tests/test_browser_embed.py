"""The course-page widget in headless Chromium: examples/course-page.html, served from another
127.0.0.1 port, embeds the real server (`python -m assistant serve`) by <iframe> and by the
<gradio-app> web component. Each answers with its cited passage visible, nothing comes from a CDN,
the page keeps its own styles, a disallowed origin cannot frame or load it, and HTML in a question
or a document shows as text. Screenshots go to test-artifacts/.
"""

import os
import sys
import time
from urllib.parse import urlparse

import pytest
from servers import free_port, start, stop

from assistant.config import ROOT, Settings

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"
EXAMPLE = ROOT / "examples" / "course-page.html"
EXAMPLE_SERVER = "http://127.0.0.1:7860"  # the address written in the example page
DISALLOWED_HOST = "evil.test"  # resolved to 127.0.0.1 by Chromium only; not an allowed origin
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    f"--host-resolver-rules=MAP {DISALLOWED_HOST} 127.0.0.1",
]
WHO = 'Who says "Poor creatures. What did we do to you?"'
XSS = "<img src=x onerror=alert(1)>"
NOTE = (
    "Some students paste markup into their reading notes, such as <img src=x onerror=alert('doc')>"
    " or <script>alert('doc')</script>, and the notes app shows it as plain text.\n"
)
READY_S = 120
ANSWER_MS = 60_000


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """(app URL, course page port): the assistant and a static server for the example page."""
    from assistant.assistant import build_documents
    from assistant.embeddings import load_embedder

    work = tmp_path_factory.mktemp("embed")
    note = work / "teacher-note.md"
    note.write_text(NOTE, encoding="utf-8")
    settings = Settings(index_dir=work / "index")
    build_documents(
        [settings.default_document, note], settings.index_dir, settings, load_embedder()
    )

    app_port, page_port = free_port(), free_port()
    app = f"http://127.0.0.1:{app_port}"
    site = work / "site"
    site.mkdir()
    page = EXAMPLE.read_text(encoding="utf-8")
    assert page.count(EXAMPLE_SERVER) >= 3  # the iframe, the script and the component
    (site / "course-page.html").write_text(page.replace(EXAMPLE_SERVER, app), encoding="utf-8")

    env = {
        **os.environ,
        "ASSISTANT_INDEX_DIR": str(settings.index_dir),
        "ASSISTANT_HOST": "127.0.0.1",
        "ASSISTANT_PORT": str(app_port),
        "ASSISTANT_LLM_BACKEND": "none",
        "GRADIO_TEMP_DIR": str(work / "gradio"),
    }
    server = start([sys.executable, "-m", "assistant", "serve"], env, work / "app.log",
                   f"{app}/api/health", READY_S)  # fmt: skip
    try:
        static = start(
            [sys.executable, "-m", "http.server", str(page_port), "--bind", "127.0.0.1",
             "--directory", str(site)],
            os.environ.copy(), work / "site.log", f"http://127.0.0.1:{page_port}/course-page.html",
            READY_S,
        )  # fmt: skip
        try:
            yield app, page_port
        finally:
            stop(static)
    finally:
        stop(server)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class CoursePage:
    """The example course page in a fresh browser context, recording what a test must not see."""

    def __init__(self, browser, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1100, "height": 1000})
        self.page = self.context.new_page()
        self.hosts: set[str] = set()  # every host the page asked for anything
        self.dialogs: list[str] = []  # alert() and friends: script that ran
        self.console: list[str] = []
        self.page.on("request", lambda r: self.hosts.add(urlparse(r.url).hostname or r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("console", lambda m: self.console.append(m.text))
        self.page.goto(url)

    def widget(self, how: str):
        """(root, prefix): where the widget's elements are, and the selector that scopes them."""
        if how == "gradio-app":
            return self.page, "gradio-app "
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            frames = [f for f in self.page.frames if urlparse(f.url).path == "/embed/"]
            if frames:
                return frames[0], ""
            self.page.wait_for_timeout(100)
        pytest.fail(f"no /embed/ frame in {[f.url for f in self.page.frames]}")

    def ask(self, how: str, question: str):
        """Ask in the widget and return the locator of the final answer message."""
        root, prefix = self.widget(how)
        return root, prefix, ask_widget(root, prefix, question)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def style(page, selector: str, prop: str) -> str:
    return page.evaluate(
        "([s, p]) => getComputedStyle(document.querySelector(s)).getPropertyValue(p)",
        [selector, prop],
    )


@pytest.mark.parametrize("how", ["iframe", "gradio-app"])
def test_course_page_embeds_the_assistant_and_shows_the_cited_passage(browser, sites, how):
    app, page_port = sites
    visit = CoursePage(browser, f"http://127.0.0.1:{page_port}/course-page.html")
    try:
        root, prefix, answer = visit.ask(how, WHO)
        assert "Marie-Claude" in answer.locator(".answer").inner_text()
        answer.locator("details.sources summary").click()
        cited = answer.locator("li.source").filter(has_text="page 254").first
        cited.wait_for(state="visible")
        assert "Poor creatures" in cited.locator("blockquote").inner_text()
        cited.scroll_into_view_if_needed()
        visit.shot(f"embed-{how}")

        # The page around the widget keeps its own look once Gradio's styles have loaded.
        page = visit.page
        assert style(page, "#course-title", "color") == "rgb(122, 31, 43)"
        assert "Georgia" in style(page, ".course", "font-family")
        assert style(page, "html", "background-color") == "rgb(246, 241, 231)"
        assert style(page, ".course", "line-height") != "normal"
        if how == "iframe":
            assert root.evaluate("[innerWidth, innerHeight]") == [400, 600]
            assert root.evaluate("document.documentElement.scrollWidth") <= 400
        # Nothing from a CDN: every request went to the course page's host or the assistant's.
        assert visit.hosts == {"127.0.0.1"}
        assert visit.dialogs == []
    finally:
        visit.close()


def test_a_disallowed_origin_can_neither_frame_nor_load_the_widget(browser, sites):
    app, page_port = sites
    visit = CoursePage(browser, f"http://{DISALLOWED_HOST}:{page_port}/course-page.html")
    try:
        page = visit.page
        page.wait_for_load_state("load")
        time.sleep(2)  # time for a widget that was going to render to do so
        assert page.locator("gradio-app #question").count() == 0
        framed = [f for f in page.frames if f is not page.main_frame]
        assert framed and all(f.locator("#question").count() == 0 for f in framed)
        assert any("frame-ancestors" in line for line in visit.console), visit.console
        assert any("CORS" in line and "/widget/gradio.js" in line for line in visit.console)
        visit.shot("embed-disallowed-origin")
    finally:
        visit.close()


@pytest.mark.parametrize("how", ["iframe", "gradio-app"])
def test_html_in_a_question_or_a_document_shows_as_text(browser, sites, how):
    app, page_port = sites
    visit = CoursePage(browser, f"http://127.0.0.1:{page_port}/course-page.html")
    try:
        question = f"{XSS} what does Ruth fear?"
        root, prefix, _ = visit.ask(how, question)
        assert root.locator(f"{prefix}#chat .question").last.inner_text() == question
        _, _, answer = visit.ask(how, "What markup do students paste into their reading notes?")
        answer.locator("details.sources summary").click()
        quoted = answer.locator("li.source blockquote").first
        quoted.wait_for(state="visible")
        assert "<script>alert('doc')</script>" in quoted.inner_text()
        assert "<img src=x onerror=alert('doc')>" in answer.locator(".answer").inner_text()
        assert root.locator(f"{prefix}#chat img").count() == 0
        assert root.locator(f"{prefix}#chat script").count() == 0
        visit.shot(f"embed-{how}-html-as-text")
        assert visit.dialogs == []
    finally:
        visit.close()


def ask_widget(root, prefix: str, question: str):  # noqa: ANN201 - a Playwright Locator
    """Ask in a widget (a frame, or the page with a selector prefix) and wait for the answer:
    the locator of its final message."""
    root.wait_for_selector(f"{prefix}#question textarea", timeout=ANSWER_MS)
    root.fill(f"{prefix}#question textarea", question)
    root.click(f"{prefix}#ask")
    root.wait_for_function(
        "(prefix) => { const b = document.querySelectorAll(prefix + '#chat .bot');"
        " const last = b[b.length - 1];"
        " return last && !last.querySelector('.pending')"
        "   && last.innerText.trim().length > 0; }",
        arg=prefix,
        timeout=ANSWER_MS,
    )
    return root.locator(f"{prefix}#chat .bot").last
