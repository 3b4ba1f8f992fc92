"""The facade: loading, question checks, streaming, batches, follow-ups and the mode fallback."""

from __future__ import annotations

import threading

import pytest

from assistant import Answer, Assistant, InputError, Turn, UnusableIndexError

WHO = "Who says 'Poor creatures. What did we do to you?'"


def test_facade_exposes_the_cleaned_documents_and_chunks(
    essay_assistant, essay_document, essay_chunks
):
    assert essay_assistant.documents == {essay_document.source: essay_document}
    assert essay_assistant.chunks == essay_chunks
    assert essay_assistant.generative_available is False  # llm_backend "none"


def test_from_settings_refuses_a_missing_index_without_building_one(
    essay_settings, embedder, tmp_path
):
    missing = tmp_path / "nowhere"
    with pytest.raises(UnusableIndexError, match="assistant ingest"):
        Assistant.from_settings(essay_settings.with_(index_dir=missing), embedder=embedder)
    assert not missing.exists()


def test_from_settings_refuses_a_corrupt_index(essay_settings, embedder, index_copy):
    for path in index_copy.glob("vectors-*.faiss"):
        path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UnusableIndexError, match="corrupt.*assistant ingest"):
        Assistant.from_settings(essay_settings.with_(index_dir=index_copy), embedder=embedder)


def test_check_question_strips_and_refuses_unusable_questions(essay_assistant):
    limit = essay_assistant.settings.max_question_chars
    assert essay_assistant.check_question("  Who is Ruth?\n") == "Who is Ruth?"
    assert essay_assistant.check_question("x" * limit) == "x" * limit
    for empty in ("", "   ", "\n\t "):
        with pytest.raises(InputError, match="empty"):
            essay_assistant.check_question(empty)
    with pytest.raises(InputError, match="20,000 characters long; keep it to 2,000 or fewer"):
        essay_assistant.check_question("x" * 20_000)
    with pytest.raises(InputError, match="text"):
        essay_assistant.check_question(None)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": 0}, "k must be"),
        ({"k": 51}, "k must be"),
        ({"k": True}, "k must be"),
        ({"mode": "poetic"}, "mode must be"),
        ({"question": " "}, "empty"),
    ],
)
def test_ask_refuses_bad_options(essay_assistant, options, message):
    question = options.pop("question", WHO)
    with pytest.raises(InputError, match=message):
        essay_assistant.ask(question, **options)


def test_stream_yields_text_then_exactly_one_final_answer(essay_assistant):
    items = list(essay_assistant.stream(WHO, stop=threading.Event()))
    assert isinstance(items[-1], Answer)
    assert not any(isinstance(item, Answer) for item in items[:-1])
    assert "".join(items[:-1]) == items[-1].answer
    assert items[-1].answer == essay_assistant.ask(WHO).answer


def test_ask_many_matches_ask_and_echoes_ids(essay_assistant):
    questions = [WHO, "What is the capital of France?", "What does Ruth fear?"]
    many = essay_assistant.ask_many(questions, k=3, ids=["a", "b", "c"])
    assert [a.id for a in many] == ["a", "b", "c"]
    for question, answer in zip(questions, many, strict=True):
        one = essay_assistant.ask(question, k=3)
        assert (answer.answer, answer.refused) == (one.answer, one.refused)
        assert [c.chunk.chunk_id for c in answer.citations] == [
            c.chunk.chunk_id for c in one.citations
        ]
        assert len(answer.retrieved) == 3
    assert [a.refused for a in many] == [False, True, False]


def test_a_short_follow_up_is_read_with_the_previous_question(essay_assistant):
    history = [Turn(WHO, essay_assistant.ask(WHO).answer)]
    answer = essay_assistant.ask("Which page?", history=history)
    record = answer.to_dict()
    assert record["question"] == "Which page?"
    assert record["standalone_question"].startswith(WHO)
    assert not answer.refused and answer.citations[0].chunk.pages == ["254"]
    # a new question that names its subject is not read with the previous one
    ruth = essay_assistant.ask("What does Ruth fear?", history=history).to_dict()
    assert "standalone_question" not in ruth and "modeled from trash" in ruth["answer"]
    # nor is one about a part of the essay
    second = essay_assistant.ask("And the second paragraph?", history=history).to_dict()
    assert "standalone_question" not in second and second["answer"].startswith("Never Let Me Go is")


def test_generative_mode_without_a_model_falls_back_to_quotations_with_a_notice(essay_assistant):
    answer = essay_assistant.ask(WHO, mode="generative")
    record = answer.to_dict()
    assert record["mode"] == "extractive" and "unavailable" in record["notice"]
    assert not answer.refused and "Madame Marie-Claude" in answer.answer


def test_explain_is_offered_at_once_while_the_model_loads_in_the_background(
    essay_settings, embedder, monkeypatch
):
    import time

    import assistant.generation.generate as generate
    from assistant import ModelError

    release = threading.Event()

    def slow_broken_build(settings, chunks, state_path=None):
        release.wait(30)
        raise ModelError("the model file is corrupt")

    monkeypatch.setattr(generate, "build_generator", slow_broken_build)
    facade = Assistant.from_settings(essay_settings.with_(llm_backend="llamacpp"), embedder=embedder)
    warming = facade.warm_up_in_background()
    started = time.monotonic()
    assert facade.generative_available  # a server builds its UI without waiting for the model
    assert time.monotonic() - started < 1
    release.set()
    warming.join(30)
    assert not facade.generative_available  # the failed load is known now, and said
    answer = facade.ask(WHO, mode="generative")
    assert "Marie-Claude" in answer.answer and "corrupt" in answer.notice


def test_what_page_is_that_on_answers_from_the_passages_just_cited(essay_assistant):
    from assistant import Turn

    def turn(question: str) -> Turn:
        said = essay_assistant.ask(question)
        return Turn(question, said.answer, tuple(c.chunk.chunk_id for c in said.citations))

    for mode in ("extractive", "generative"):  # no model here: Explain is not needed for it
        ruth = essay_assistant.ask("What page is that on?", mode=mode,
                                   history=[turn("What does Ruth fear?")])
        assert ruth.answer.startswith("Page 166: ") and "(Ishiguro 166)" in ruth.answer
        assert [c.chunk.pages for c in ruth.citations] == [["166"]]
    thesis = essay_assistant.ask("Which page is it on?", history=[turn("What is the thesis?")])
    assert thesis.refused and not thesis.citations
    assert thesis.answer == ("The passage that answer quoted (paragraph 1) cites no page. "
                             "The essay cites pages 166 and 254.")
    # a question that names its page, or a history without citations, is read as before
    assert "Page 166:" not in essay_assistant.ask(
        "What is on page 166?", history=[turn("What is the thesis?")]).answer
    assert essay_assistant.ask("What page is that on?",
                               history=[Turn("What does Ruth fear?", "...")]).answer != ruth.answer
