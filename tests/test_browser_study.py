"""The Study tab of the real app (`python app.py` in a subprocess) in headless Chromium: the essay
map with its thesis and evidence, a map item shown in the essay, practice questions answered
right and wrong with the proving passage highlighted, the flashcards download, and the widget's
compact practice. Without a language model, so the questions are fill-in-the-blank ones.
Screenshots go to test-artifacts/ (docs/study-aids.png is one of them)."""

import csv
import io

import httpx
import pytest
from test_browser_chat import CHROMIUM, CHROMIUM_ARGS, Visit, _serve

from assistant.config import Settings

pytestmark = pytest.mark.browser

MADAME = "Madame Marie-Claude"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    from assistant.assistant import build_documents
    from assistant.embeddings import load_embedder

    settings = Settings(index_dir=tmp_path_factory.mktemp("index"))
    build_documents([settings.default_document], settings.index_dir, settings, load_embedder())
    yield from _serve(settings, tmp_path_factory, ASSISTANT_LLM_BACKEND="none")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def marked(page, box: str = "#study-essay") -> str:
    """The text marked in an essay view, once there is some."""
    page.wait_for_function(f"() => document.querySelector('{box} mark') !== null", timeout=15_000)
    return " ".join(page.locator(f"{box} mark").all_inner_texts())


def test_the_study_tab_shows_the_map_and_judges_practice_answers(browser, app_url):
    visit = Visit(browser, app_url)
    try:
        page = visit.page
        page.get_by_role("tab", name="Study").click()
        the_map = page.locator("#study-map")
        the_map.locator(".thesis").wait_for()
        assert "We watch as the clones simulate human behavior" in the_map.locator(".thesis").inner_text()
        claims = the_map.locator("li.claim")
        assert claims.count() == 2
        assert "p. 254" in claims.nth(0).locator(".evidence").inner_text()
        assert "p. 166" in claims.nth(1).locator(".evidence").inner_text()
        assert "memoir of the Other" in claims.nth(1).inner_text()
        # a map item is a link to its sentence in the essay
        claims.nth(1).locator(".evidence button.goto").first.click()
        assert "modeled from trash" in marked(page)

        # the first question: who asks "Poor creatures...", as a multiple choice
        question = page.locator("#practice-question")
        assert "Question 1 of" in question.inner_text() and "____" in question.inner_text()
        page.locator("#practice-choice").get_by_text(MADAME, exact=True).click()
        page.click("#practice-check")
        verdict = page.locator("#practice-verdict .verdict")
        verdict.wait_for()
        assert verdict.locator(".right").inner_text() == "Right."
        assert "paragraph 1, p. 254" in verdict.inner_text()
        assert "Poor creatures" in verdict.locator("blockquote").inner_text()
        page.wait_for_function("() => document.querySelector('#study-essay mark') &&"
                               " document.querySelector('#study-essay mark').innerText"
                               ".includes('Poor creatures')", timeout=15_000)
        visit.shot("study-right")

        # the next one, answered wrong: told so, with the answer and its passage
        page.click("#practice-next")
        page.wait_for_function("() => document.querySelector('#practice-question')"
                               ".innerText.includes('Question 2 of')", timeout=15_000)
        choices = page.locator("#practice-choice label")
        if page.locator("#practice-choice").is_visible():
            answer_of = {c.inner_text().strip() for c in choices.all()}
            wrong = sorted(answer_of)[0]
            page.locator("#practice-choice").get_by_text(wrong, exact=True).click()
        else:
            wrong = "bananas"
            page.fill("#practice-typed textarea, #practice-typed input", wrong)
        page.click("#practice-check")
        page.locator("#practice-verdict .verdict").wait_for()
        shown = page.locator("#practice-verdict .verdict")
        if "Right." not in shown.inner_text():  # the alphabetically first choice may be right
            assert "Not quite." in shown.inner_text() and "The answer is" in shown.inner_text()
        proof = shown.locator("blockquote").inner_text()
        page.wait_for_function("(proof) => { const m = document.querySelector('#study-essay mark');"
                               " return m && proof.startsWith(m.innerText.slice(0, 40)); }",
                               arg=proof, timeout=15_000)
        visit.shot("study-aids")

        # the flashcards download: the same CSV as the API's
        with page.expect_download() as download:
            page.click("#study-cards")
        text = open(download.value.path(), encoding="utf-8").read()
        rows = list(csv.reader(io.StringIO(text)))
        assert rows and all(len(row) == 3 for row in rows) and rows[0][1] == MADAME
        assert text == httpx.get(app_url + "api/study/cards.csv").text
        assert visit.elsewhere == [] and visit.dialogs == []
    finally:
        visit.close()


def test_the_widget_offers_practice_compactly(browser, app_url):
    visit = Visit(browser, app_url + "embed/", viewport=(400, 600))
    try:
        page = visit.page
        page.get_by_text("Practice", exact=True).click()
        page.locator("#practice-question").wait_for()
        page.locator("#practice-choice").get_by_text(MADAME, exact=True).click()
        page.click("#practice-check")
        page.locator("#practice-verdict span.right").wait_for()
        page.get_by_text("The essay", exact=True).click()
        assert "Poor creatures" in marked(page, "#essay")
        visit.shot("widget-practice")
    finally:
        visit.close()
