"""Study aids on the real essay: the map's thesis, claims and evidence; practice questions and the
check that drops a written question the essay does not bear out; flashcards as CSV; grading;
suggested questions; study.json beside the index; bad input (too short, no thesis); the model
failing midway. Real embedding model, reader and index under tmp_path; the language model is a
LangChain fake chat model where a scripted reply is needed (the real one is in the slow test)."""

from __future__ import annotations

import csv
import io
import json
from types import SimpleNamespace

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from assistant import Assistant, InputError, Settings
from assistant.study import practice, store
from assistant.study.essay import Essay
from assistant.study.writer import Writer, parse_question

WHO = 'Who says "Poor creatures. What did we do to you?"'
SOURCE = "never-let-me-go-essay.txt"


def study_assistant(index_dir, embedder, model=None) -> Assistant:
    """The facade over an index, with `model` (a LangChain chat model) as its language model."""
    from assistant.index import load_index
    from assistant.reader import shared_reader

    settings = Settings(index_dir=index_dir, llm_backend="llamacpp" if model else "none")
    generator = SimpleNamespace(model=model) if model else None
    return Assistant(settings, load_index(index_dir, embedder), embedder, generator=generator,
                     reader=shared_reader())


def index_of(tmp_path, embedder, text: str, name: str = "notes.txt"):
    from assistant.assistant import build_texts

    directory = tmp_path / "index"
    build_texts([(name, text)], directory, Settings(), embedder)
    return directory


class FailingChat(BaseChatModel):
    """A chat model that answers `good` questions, then fails as a crashed backend does."""

    good: list[str]
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "failing"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.calls += 1
        if self.calls > len(self.good):
            raise RuntimeError("llama_decode returned -3")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.good[self.calls - 1]))])


# --- the essay map -------------------------------------------------------------------------------


def test_the_map_has_the_thesis_and_the_evidence_of_pages_254_and_166_under_the_right_claims(
        essay_assistant):
    essay_map = essay_assistant.study_map()
    assert essay_map.notice is None
    assert essay_map.thesis.text.startswith("We watch as the clones simulate human behavior")
    assert essay_map.thesis.text.endswith("no different from a human biologically born.")
    intro, body = essay_map.claims
    assert (intro.paragraph, intro.role, intro.sentence) == (1, "introduction", essay_map.thesis)
    assert body.paragraph == 2 and body.sentence.text == "Never Let Me Go is a memoir of the Other."
    assert {p for e in intro.evidence for p in e.pages} == {"254"}
    assert {p for e in body.evidence for p in e.pages} == {"166"}
    assert any("Poor creatures" in e.text for e in intro.evidence)
    assert any("modeled from trash" in e.text for e in body.evidence)
    # every item names the passage that holds it, as the document view highlights it
    chunks = {c.chunk_id: c for c in essay_assistant.chunks}
    for ref in [essay_map.thesis, *(r for c in essay_map.claims for r in (c.sentence, *c.evidence))]:
        chunk = chunks[ref.chunk_id]
        assert chunk.start <= ref.start < ref.end <= chunk.end
        assert essay_assistant.documents[SOURCE].text[ref.start:ref.end] == ref.text


def test_a_document_too_short_for_study_aids_says_so(tmp_path, embedder):
    directory = index_of(tmp_path, embedder, "Hailsham is a school. Kathy is a carer.\n")
    aids = study_assistant(directory, embedder).study_aids().documents[0]
    assert "too short for study aids: it has 2 sentences" in aids.map.notice
    assert aids.map.thesis is None and aids.map.claims == ()
    assert aids.questions == () and "too short for practice questions" in aids.notice


def test_no_detectable_thesis_says_so_and_still_shows_the_claims(tmp_path, embedder):
    text = ("Why do we read old novels at all?\n\n"
            "Frankenstein was written by Mary Shelley in Geneva. It was first printed in 1818.\n\n"
            "Victor Frankenstein builds the creature in Ingolstadt. He flees from it in horror.\n")
    directory = index_of(tmp_path, embedder, text)
    essay_map = study_assistant(directory, embedder).study_map()
    assert essay_map.thesis is None and essay_map.notice.startswith("No thesis found")
    assert [c.sentence.text for c in essay_map.claims] == [
        "Frankenstein was written by Mary Shelley in Geneva.",
        "Victor Frankenstein builds the creature in Ingolstadt."]


# --- practice questions and the check ------------------------------------------------------------


def _first_sentence(assistant: Assistant):
    return Essay.from_index(assistant.index, SOURCE).paragraphs[0][0].ref()


def test_the_check_keeps_a_question_the_essay_answers_and_drops_one_it_does_not(essay_assistant):
    ask = essay_assistant._quote_only
    sentence = _first_sentence(essay_assistant)
    assert practice.check(WHO, "Madame Marie-Claude", sentence, ask) is None
    # a stated answer the essay does not contain
    assert practice.check("In what year was Never Let Me Go first published?", "2005", sentence,
                          ask) == practice.NOT_IN_SENTENCE
    # an answer that is in the sentence, for a question the essay does not answer there
    problem = practice.check("What is the name of the ship the clones sail on?", "Madame Marie-Claude",
                             sentence, ask)
    assert problem in (practice.NOT_ANSWERED, practice.ELSEWHERE, practice.DIFFERENTLY)
    assert practice.check("Who says what Madame Marie-Claude says?", "Madame Marie-Claude",
                          sentence, ask) == practice.GIVES_AWAY
    # asked back, the model names someone else: the question is not about the stated answer
    assert practice.check(WHO, "Madame Marie-Claude", sentence, ask,
                          confirm=lambda q: "Kazuo Ishiguro") == practice.ROUND_TRIP
    assert practice.check(WHO, "Madame Marie-Claude", sentence, ask,
                          confirm=lambda q: "Madame") is None
    passage = next(c for c in essay_assistant.chunks if c.chunk_id == sentence.chunk_id).text
    assert practice.check("Which island is mentioned in the sentence?", "Madame Marie-Claude",
                          sentence, ask, passage=passage) == practice.OFF_PASSAGE


def test_the_answer_span_model_drops_a_question_whose_stated_answer_is_another_phrase(
        essay_assistant):
    # "Kazuo Ishiguro" is in the sentence and in the answerer's quotation, so every earlier step
    # passes; read with its neighbours, the sentence answers WHO with Madame Marie-Claude.
    from assistant.runtime.span_model import SpanModel

    spans = SpanModel.load()
    ask = essay_assistant._quote_only
    ref = _first_sentence(essay_assistant)
    essay = Essay.from_index(essay_assistant.index, SOURCE)
    around = practice.window(essay, next(s for s in essay.sentences if s.start == ref.start))
    assert ref.text in around and len(around) > len(ref.text)

    def read(question: str):
        return spans.answer(question, around)

    assert practice.check(WHO, "Kazuo Ishiguro", ref, ask) is None  # without it: kept
    assert practice.check(WHO, "Kazuo Ishiguro", ref, ask, span=read,
                          trusted=spans.threshold) == practice.OTHER_SPAN
    assert practice.check(WHO, "Madame Marie-Claude", ref, ask, span=read,
                          trusted=spans.threshold) is None


def test_the_strict_check_adds_the_answer_span_model_and_the_standard_one_does_not(index_copy,
                                                                                  embedder):
    from assistant import ConfigError
    from assistant.runtime.span_model import SpanModel

    model = FakeListChatModel(responses=["What colour is the sky?"] * 40)
    standard = study_assistant(index_copy, embedder, model)
    assert standard.study_aids(use_model=True).built_from["answer_span"] is None
    strict = Assistant(standard.settings.with_(practice_check="strict"), standard.index, embedder,
                       generator=SimpleNamespace(model=model), reader=standard.reader)
    assert strict.study_aids(use_model=True).built_from["answer_span"] == SpanModel.load().digest
    with pytest.raises(ConfigError, match="practice_check must be one of standard, strict"):
        Settings.from_env({"ASSISTANT_PRACTICE_CHECK": "lenient"})


def test_written_questions_are_kept_only_when_checked_and_the_rest_are_cloze(index_copy, embedder):
    replies = ['Who asks "Poor creatures. What did we do to you?"',  # true of the first key sentence
               "Madame Marie-Claude",  # the model's answer to it, asked back: the same
               "In what year was the novel first published?"]  # not answered by the essay
    model = FakeListChatModel(responses=replies + ["What colour is the sky?"] * 20)
    assistant = study_assistant(index_copy, embedder, model)
    seen = []
    aids = assistant.study_aids(use_model=True, progress=seen.append)
    doc = aids.of(SOURCE)
    written = [q for q in doc.questions if q.origin == "model"]
    assert [q.prompt for q in written] == [replies[0]]
    assert written[0].answer == "Madame Marie-Claude" and written[0].kind == "choice"
    assert "Madame Marie-Claude" in written[0].ref.text and "254" in written[0].ref.pages
    # every sentence whose written question was dropped still has a question: a cloze
    assert len(doc.questions) == practice.MAX_QUESTIONS
    assert all(q.origin == "cloze" and "____" in q.prompt for q in doc.questions[1:])
    assert [p.done for p in seen] == list(range(1, len(doc.questions) + 1))
    assert aids.built_from["model"] and aids.built_from["prompts"]
    # wrong choices are not in the sentence that proves the answer
    for q in doc.questions:
        if q.kind == "choice":
            assert q.answer in q.choices and len(set(q.choices)) == len(q.choices)
            assert not any(c.lower() in q.ref.text.lower() for c in q.choices if c != q.answer)


def test_the_model_failing_midway_keeps_the_checked_questions_and_says_so(index_copy, embedder):
    good = [WHO.replace("says", "asks"), "Madame Marie-Claude"]  # a question, its round trip
    assistant = study_assistant(index_copy, embedder, FailingChat(good=good))
    doc = assistant.study_aids(use_model=True).of(SOURCE)
    assert [q.origin for q in doc.questions][:2] == ["model", "cloze"]
    assert "failed" in doc.notice and "after 1 of 10 questions; 1 written by it passed the check" \
        in doc.notice
    assert "llama_decode" in doc.notice


def test_parse_answer_takes_the_phrase_or_none():
    from assistant.study.writer import parse_answer

    assert parse_answer('Answer: "Madame Marie-Claude".\nBecause...') == "Madame Marie-Claude"
    assert parse_answer("none") is None and parse_answer("  ") is None


def test_parse_question_takes_one_question_line():
    assert parse_question("Question: Who fears being modeled from trash?\nAnswer: Ruth") == \
        "Who fears being modeled from trash?"
    assert parse_question('"What does Ruth fear?"') == "What does Ruth fear?"
    assert parse_question("Ruth fears it.") is None and parse_question("") is None


def test_a_student_is_told_right_or_wrong_with_the_passage(index_copy, embedder):
    assistant = study_assistant(index_copy, embedder)
    questions = assistant.study_aids().of(SOURCE).questions
    choice = next(q for q in questions if q.kind == "choice")
    wrong = next(c for c in choice.choices if c != choice.answer)
    assert assistant.check_practice(choice.id, choice.answer).right
    verdict = assistant.check_practice(choice.id, wrong)
    assert not verdict.right and verdict.answer == choice.answer and verdict.ref == choice.ref
    typed = next(q for q in questions if q.kind == "short")
    assert assistant.check_practice(typed.id, f"the {typed.answer.upper()}").right
    assert not assistant.check_practice(typed.id, "something else entirely").right
    with pytest.raises(InputError, match="no practice question"):
        assistant.check_practice("nope", "x")


# --- flashcards, suggestions, the file beside the index ------------------------------------------


def test_the_csv_imports_as_two_columns_with_the_passage_reference(index_copy, embedder):
    assistant = study_assistant(index_copy, embedder)
    rows = list(csv.reader(io.StringIO(assistant.study_export(fmt="csv"))))
    questions = assistant.study_aids().of(SOURCE).questions
    assert len(rows) == len(questions) > 0
    for (front, back, where), question in zip(rows, questions):
        assert front.startswith(question.prompt) and back == question.answer
        assert where.startswith(f"{SOURCE}, paragraph {question.ref.paragraph}")
        assert back.lower() in question.ref.text.lower()  # the back is the proving sentence's words
    assert any(where.endswith("p. 254") for _, _, where in rows)
    guide = assistant.study_export(fmt="md")
    assert "## Thesis" in guide and "Evidence (p. 166)" in guide and "**Answer**" in guide


def test_suggested_questions_come_from_the_essay_and_are_answered(index_copy, embedder):
    assistant = study_assistant(index_copy, embedder)
    suggested = assistant.suggested_questions()
    assert "What is the essay's thesis?" in suggested and WHO in suggested
    assert "What is on page 166?" in suggested
    for question in suggested:
        answer = assistant.ask(question)
        assert not answer.refused and answer.citations, question


def test_study_aids_are_kept_beside_the_index_and_rebuilt_when_the_document_changes(
        tmp_path, embedder):
    from assistant.assistant import build_texts

    directory = index_of(tmp_path, embedder, Settings().default_document.read_text("utf-8"),
                         SOURCE)
    first = study_assistant(directory, embedder).study_aids()
    saved = json.loads((directory / store.FILE_NAME).read_text("utf-8"))
    assert saved["format"] == store.FORMAT and saved["built_from"]["model"] is None
    assert saved["built_from"]["sources"][0][0] == SOURCE
    again = study_assistant(directory, embedder).study_aids()
    assert again.to_dict() == first.to_dict()  # read back, not rebuilt
    changed = Settings().default_document.read_text("utf-8").replace("Ruth", "Ruthie")
    build_texts([(SOURCE, changed)], directory, Settings(), embedder)
    rebuilt = study_assistant(directory, embedder).study_aids()
    assert rebuilt.built_from["sources"] != first.built_from["sources"]
    assert any("Ruthie" in e.text for c in rebuilt.of(SOURCE).map.claims for e in c.evidence)


def test_an_interrupted_build_serves_nothing_half_written(index_copy, embedder):
    model = FakeListChatModel(responses=[WHO] * 20)
    steps = study_assistant(index_copy, embedder, model).study_steps(use_model=True)
    assert next(steps).done == 1  # the first question is written and checked...
    steps.close()  # ...and the build stops there
    assert not (index_copy / store.FILE_NAME).exists()
    (index_copy / store.FILE_NAME).write_text('{"format": 1, "documents": [{"sou', "utf-8")
    aids = study_assistant(index_copy, embedder).study_aids()  # a broken file is built again
    assert aids.of(SOURCE).questions
    assert json.loads((index_copy / store.FILE_NAME).read_text("utf-8"))["format"] == store.FORMAT


def test_a_broken_study_prompt_is_refused_by_name(index_copy, embedder, tmp_path):
    import shutil

    from assistant import ConfigError

    prompts = tmp_path / "prompts"
    shutil.copytree(Settings().prompts_dir, prompts)
    (prompts / "study_question_user.md").write_text("Ask about {topic}", encoding="utf-8")
    with pytest.raises(ConfigError, match="study_question_user.md uses"):
        Writer.load(FakeListChatModel(responses=["x"]), prompts, "fake")


def anki_notes(data: bytes, tmp_path) -> tuple[list[str], list[list[str]]]:
    """The deck names and the notes' fields (Front, Back, Where) of an Anki package."""
    import sqlite3
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as package:
        (tmp_path / "collection.anki2").write_bytes(package.read("collection.anki2"))
    with sqlite3.connect(tmp_path / "collection.anki2") as db:
        decks = json.loads(db.execute("SELECT decks FROM col").fetchone()[0])
        notes = [row[0].split("\x1f") for row in db.execute("SELECT flds FROM notes ORDER BY id")]
    return sorted(d["name"] for d in decks.values()), notes


def test_the_anki_package_holds_one_deck_with_the_cards_of_the_csv(index_copy, embedder, tmp_path):
    import html

    assistant = study_assistant(index_copy, embedder)
    data = assistant.study_package(SOURCE)
    decks, notes = anki_notes(data, tmp_path)
    assert "never-let-me-go-essay" in decks
    rows = list(csv.reader(io.StringIO(assistant.study_export(SOURCE, "csv"))))
    assert sorted([html.unescape(f) for f in n] for n in notes) == sorted(rows)
    assert any("p. 254" in n[2] for n in notes)
    assert assistant.study_package(SOURCE) != b"" and len(notes) == len(rows) == 10


# --- front ends: HTTP and the command line -------------------------------------------------------


def test_the_api_serves_the_map_questions_and_cards(index_copy, embedder):
    import asyncio

    import httpx

    from assistant.web.api import create_api

    app = create_api(study_assistant(index_copy, embedder))

    async def go():
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return [await client.get(path) for path in (
                "/api/study", "/api/study/map", f"/api/study/questions?document={SOURCE}",
                "/api/study/cards.csv", "/api/study?document=other.txt",
                "/api/study/cards.apkg")]

    whole, the_map, questions, cards, wrong, deck = asyncio.run(go())
    assert whole.status_code == 200 and whole.json()["source"] == SOURCE
    assert the_map.json()["thesis"]["text"].startswith("We watch as the clones")
    assert questions.json()["questions"][0]["ref"]["pages"] == ["254"]
    assert cards.headers["content-type"].startswith("text/csv")
    assert "attachment" in cards.headers["content-disposition"]
    assert all(len(row) == 3 for row in csv.reader(io.StringIO(cards.text)))
    assert wrong.status_code == 422 and "never-let-me-go-essay.txt" in wrong.json()["error"]
    assert deck.status_code == 200 and deck.content.startswith(b"PK")
    assert 'filename="never-let-me-go-essay.apkg"' in deck.headers["content-disposition"]


def test_the_study_command_prints_the_guide_the_cards_or_json(run_cli, index_copy, monkeypatch,
                                                             tmp_path):
    monkeypatch.setenv("ASSISTANT_LLM_BACKEND", "none")
    done = run_cli("study", "--index", index_copy, "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows and all(len(row) == 3 for row in rows)
    done = run_cli("study", SOURCE, "--index", index_copy, "--format", "json")
    assert json.loads(done.stdout)["map"]["claims"][1]["evidence"][0]["pages"] == ["166"]
    done = run_cli("study", "--index", index_copy)
    assert done.stdout.startswith(f"# {SOURCE}") and "## Practice questions" in done.stdout
    done = run_cli("study", "other.txt", "--index", index_copy)
    assert done.returncode == 2 and done.stderr.startswith("error: name one of")
    deck = tmp_path / "deck.apkg"
    done = run_cli("study", "--index", index_copy, "--format", "apkg", "--output", deck)
    assert done.returncode == 0 and deck.read_bytes().startswith(b"PK"), done.stderr
    assert len(anki_notes(deck.read_bytes(), tmp_path)[1]) == 10
    done = run_cli("study", "--index", index_copy, "--format", "apkg", "--output",
                   tmp_path / "no-such-folder" / "deck.apkg")
    assert done.returncode == 2 and "cannot write" in done.stderr


# --- the real language model -------------------------------------------------------------------


@pytest.mark.slow
def test_the_local_model_writes_questions_the_check_bears_out(tmp_path, embedder,
                                                              local_chat_model):
    # The Frankenstein essay: on the shipped one the check keeps none of the model's questions
    # (BENCHMARKS.md), and this test is about the ones it keeps.
    from assistant.config import ROOT

    name = "frankenstein-essay.txt"
    text = (ROOT / "bench" / "data" / name).read_text(encoding="utf-8")
    assistant = study_assistant(index_of(tmp_path, embedder, text, name), embedder,
                                local_chat_model)
    seen = []
    doc = assistant.study_aids(use_model=True, progress=seen.append).of(name)
    written = [q for q in doc.questions if q.origin == "model"]
    assert written, doc.notice  # the model's questions, not only fill-in-the-blank ones
    assert len(doc.questions) == practice.MAX_QUESTIONS and seen
    for question in written:
        assert question.prompt.endswith(("?", '?"', "?”")) and "____" not in question.prompt
        assert practice.contains(question.ref.text, question.answer)
        answer = assistant.ask(question.prompt, mode="extractive")
        assert any(c.chunk.chunk_id == question.ref.chunk_id or
                   c.chunk.start <= question.ref.start < question.ref.end <= c.chunk.end
                   for c in answer.citations), question
    assert assistant.study_aids().built_from["model"].startswith("llamacpp:")


def test_the_study_view_handlers_show_judge_and_mark_without_a_server(index_copy, embedder):
    import re

    from assistant.web import study

    assistant = study_assistant(index_copy, embedder)
    html = study.map_html(assistant, SOURCE)
    assert "<h4>Thesis</h4>" in html and "p. 254" in html and "p. 166" in html
    keys = re.findall(r'data-ref="([^"]+)"', html)
    assert len(keys) == 1 + 2 + 3  # the thesis, two claims, three pieces of evidence
    marked = study.goto(assistant, SOURCE, keys[-1])
    assert re.search(r"<mark[^>]*>[^<]*modeled from trash", marked)
    first = study.show(assistant, SOURCE, 0)
    assert "Question 1 of 10" in first.question_html and "Madame Marie-Claude" in first.choices
    assert study.show(assistant, SOURCE, 10).position == 0  # Next wraps around
    verdict, essay = study.check(assistant, SOURCE, 0, "Madame Marie-Claude")
    assert 'class="right"' in verdict and "paragraph 1, p. 254" in verdict
    assert re.search(r"<mark[^>]*>“Poor creatures", essay)
    verdict, _ = study.check(assistant, SOURCE, 0, "Ruth")
    assert "Not quite." in verdict and "<strong>Madame Marie-Claude</strong>" in verdict
    assert "Choose or type an answer first" in study.check(assistant, SOURCE, 0, " ")[0]
    cards = study.cards_file(assistant, SOURCE)
    assert cards.endswith(".csv") and study.cards_file(assistant, SOURCE) == cards
    assert open(cards, encoding="utf-8").read() == assistant.study_export(SOURCE, "csv")
    deck = study.cards_file(assistant, SOURCE, "apkg")
    assert deck.endswith("never-let-me-go-essay.apkg") and open(deck, "rb").read(2) == b"PK"


def test_the_study_tab_has_the_model_write_questions_and_lists_them_as_they_pass(index_copy,
                                                                                 embedder):
    from assistant.web import study

    model = FakeListChatModel(responses=[WHO.replace("says", "asks"), "Madame Marie-Claude",
                                         "What colour is the sky?"] + ["What is it?"] * 20)
    assistant = study_assistant(index_copy, embedder, model)
    assert study.can_write(assistant)  # fill-in-the-blank questions so far
    lines = list(study.writing(assistant))
    assert "1 of 10 checked, 1 kept" in lines[0] and "Who asks" in lines[0]
    assert "1 question written by the language model passed the check" in lines[-1]
    assert not study.can_write(assistant)
    assert study.show(assistant, SOURCE, 0).question_html.count("written by the language model")
