"""Questions about the essay as an essay: reading them (no model), then answering them from the real
essay index and from a real index of a longer essay with an introduction, body and conclusion."""

from pathlib import Path

import pytest

from assistant import Settings
from assistant.answering.parts import Intent, intent

THESIS = "no different from a human biologically born."
TOPIC_2 = "Never Let Me Go is a memoir of the Other."
CLOSE_2 = "defined not by what they are, but by what they are not."


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is the essay's thesis?", Intent("thesis")),
        ("What is the main argument?", Intent("thesis")),
        ("What evidence does the essay use?", Intent("evidence")),
        ("Summarize the essay", Intent("summary")),
        ("Can you give me an overview?", Intent("summary")),
        ("What are the key points?", Intent("summary")),
        ("How does the essay begin?", Intent("paragraph", 1)),
        ("What does the introduction say?", Intent("paragraph", 1)),
        ("What is the conclusion?", Intent("paragraph", -1)),
        ("How does the essay end?", Intent("paragraph", -1)),
        ("Summarize the conclusion", Intent("paragraph", -1)),
        ("What is the second paragraph about?", Intent("paragraph", 2)),
        ("What is the main point of paragraph 3?", Intent("paragraph", 3)),
        ("paragraph two?", Intent("paragraph", 2)),
        ("What is the last paragraph about?", Intent("paragraph", -1)),
        ("Summarize the essay in one paragraph", Intent("summary")),  # a length, not a place
        ("Please explain the thesis.", Intent("thesis")),  # words of asking, not of a topic
        ("I'm confused. What is the thesis?", Intent("thesis")),
        ("summary please", Intent("summary")),
        ("Can you help me understand the conclusion?", Intent("paragraph", -1)),
        ("Explain what Ruth fears", None),
        ("What happens on page 254?", Intent("page", page=254)),
        ("What does Ruth say on p. 166?", Intent("page", page=166)),  # other words may come too
        # about something inside the essay (or outside it): retrieval answers or refuses
        ("How many pages does the novel have?", None),
        ("How does the novel end?", None),
        ("When did the war end?", None),
        ("Who was the first king?", None),
        ("What does Ruth say in the second paragraph?", None),
        ("When does Ishiguro first use the word clone?", None),
        ("What is the capital of France?", None),
    ],
)
def test_a_question_about_a_part_of_the_essay_is_read_as_such(question, expected):
    assert intent(question) == expected


def sentences(answer) -> list[str]:
    return [s.strip() for s in answer.answer.split("]") if s.strip()]


def test_the_essay_is_summarized_by_its_thesis_and_the_point_of_each_later_paragraph(
    essay_assistant,
):
    answer = essay_assistant.ask("Summarize the essay")
    assert not answer.refused
    said = sentences(answer)
    assert len(said) == 3
    assert said[0].endswith(f"{THESIS} [1")
    assert said[1].startswith(TOPIC_2) and said[2].rstrip(" [0123456789").endswith(CLOSE_2)
    assert [c.chunk.paragraph for c in answer.citations] == [1, 2, 2]
    assert all(c.chunk.text.find(s.rsplit(" [", 1)[0]) >= 0 for c, s in zip(answer.citations, said))


def test_a_paragraph_is_answered_with_its_topic_and_closing_sentences(essay_assistant):
    for question in ("What is the second paragraph about?", "What is the conclusion?"):
        answer = essay_assistant.ask(question)
        said = sentences(answer)
        assert len(said) == 2 and said[0].startswith(TOPIC_2), question
        assert CLOSE_2 in said[1], question
        assert {c.chunk.paragraph for c in answer.citations} == {2}
    opening = essay_assistant.ask("How does the essay begin?")
    assert sentences(opening)[0].startswith("“Poor creatures.") and THESIS in opening.answer


def test_a_paragraph_the_essay_does_not_have_is_refused_with_how_many_it_has(essay_assistant):
    answer = essay_assistant.ask("What is paragraph 5 about?")
    assert answer.refused and not answer.citations
    assert "2 paragraphs" in answer.answer and "paragraph 1 or 2" in answer.answer
    zero = essay_assistant.ask("What is paragraph 0 about?").answer
    assert zero.startswith("The essay has 2 paragraphs, so there is no paragraph 0.")


def test_evidence_shows_each_cited_page_before_repeating_one(essay_assistant):
    answer = essay_assistant.ask("What evidence does the essay use?")
    pages = [p for c in answer.citations for p in c.chunk.pages]
    assert "254" in pages and "166" in pages
    assert "modeled from trash" in answer.answer


def test_a_page_is_answered_with_the_sentences_that_cite_it(essay_assistant):
    madame = essay_assistant.ask("What happens on page 254?")
    assert madame.answer.startswith("“Poor creatures.") and not madame.refused
    assert {p for c in madame.citations for p in c.chunk.pages} == {"254"}
    ruth = essay_assistant.ask("What does Ruth say on page 166?")
    assert "modeled from trash" in ruth.answer and len(sentences(ruth)) == 1
    missing = essay_assistant.ask("What is on page 300?")
    assert missing.refused and not missing.citations
    assert missing.answer.startswith("The essay cites no page 300: it cites pages 166 and 254.")


LONG_ESSAY = """\
Cities were once built around the needs of walkers. Streets were narrow, markets were close, and
most people worked within a short distance of home. This essay argues that the car, not growth,
made cities sprawl.
<br>
The first cars were toys for the rich. Few roads could carry them, and most towns ignored them.
Only after the war did governments pave roads at scale. Cheap roads made cheap cars useful
(Jacobs 112-14).
<br>
Zoning followed the roads. Planners separated homes from shops and offices, which only made
sense for people who could drive. Each new rule assumed a car in every household. Walking became
impossible by design.
<br>
In the end, sprawl was a choice made again and again. Every paved road and zoning rule tilted the
balance further from the walker. Cities can choose differently today.
"""


@pytest.fixture(scope="module")
def long_essay(tmp_path_factory, embedder):
    from assistant.assistant import Assistant, build_documents

    folder = tmp_path_factory.mktemp("long-essay")
    source = folder / "sprawl.txt"
    source.write_text(LONG_ESSAY, encoding="utf-8")
    settings = Settings(index_dir=folder / "index", llm_backend="none")
    build_documents([source], Path(settings.index_dir), settings, embedder)
    return Assistant.from_settings(settings, embedder=embedder)


def test_a_longer_essay_has_its_thesis_paragraphs_and_conclusion_found_by_position(long_essay):
    thesis = long_essay.ask("What is the thesis?")
    assert sentences(thesis) == ["This essay argues that the car, not growth, made cities sprawl. [1"]
    third = sentences(long_essay.ask("What is the third paragraph about?"))
    assert third[0].startswith("Zoning followed the roads.")
    assert third[1].startswith("Walking became impossible by design.")
    conclusion = long_essay.ask("What does the conclusion say?")
    assert sentences(conclusion)[0].startswith("In the end, sprawl was a choice")
    assert "Cities can choose differently today." in conclusion.answer
    summary = sentences(long_essay.ask("Give me a summary of the essay"))
    assert summary[0].startswith("This essay argues") and len(summary) == 3
    assert summary[-1].startswith("Cities can choose differently today.")
    assert "Cheap roads made cheap cars useful" in long_essay.ask("What is on page 113?").answer
    assert long_essay.ask("What is on page 5?").answer.startswith(
        "The essay cites no page 5: it cites page 112-14."
    )
    assert long_essay.ask("What is paragraph 7 about?").answer.startswith(
        "The essay has 4 paragraphs, so there is no paragraph 7. Ask about paragraph 1 to 4"
    )


def test_markdown_headings_are_left_out_of_a_summary_but_a_conclusion_is_found_under_one(
    tmp_path, embedder
):
    from assistant.assistant import Assistant, build_documents

    source = tmp_path / "notes.md"
    source.write_text(
        "# Sprawl\n\nCities were built for walkers. Streets were narrow. This essay argues that"
        " the car made cities sprawl.\n\n## Roads\n\nCheap roads made cheap cars useful. Towns"
        " grew outward.\n\n## Conclusion\n\nSprawl was a choice. Cities can choose again.\n",
        encoding="utf-8",
    )
    settings = Settings(index_dir=tmp_path / "index", llm_backend="none")
    build_documents([source], tmp_path / "index", settings, embedder)
    notes = Assistant.from_settings(settings, embedder=embedder)
    summary = notes.ask("Summarize the essay").answer
    assert summary.startswith("This essay argues that the car made cities sprawl. [1]")
    assert "Cheap roads made cheap cars useful." in summary and "Cities can choose again." in summary
    assert not any(heading in summary for heading in ("Sprawl [", "Roads [", "Conclusion ["))
    conclusion = notes.ask("What is the conclusion?").answer
    assert conclusion.startswith("Sprawl was a choice. [1] Cities can choose again.")
    # no page citations: a page question is an ordinary question, here one the notes cannot answer
    assert notes.ask("What is on page 2?").answer.startswith("The essay doesn't say")


def test_in_an_index_of_several_documents_a_part_is_taken_from_the_one_named_or_that_has_it(
    tmp_path, embedder
):
    from assistant import Assistant
    from assistant.index import build_index, load_index
    from assistant.ingest import document_from_text

    lecture = document_from_text("lecture-notes.md", "# Lecture 3: The Water Cycle\n\nWater "
                                 "evaporates from the sea.\n\nClouds form when vapour cools.\n\n"
                                 "Rain falls back to the ground.", markdown=True)
    poem = document_from_text("poem.txt", "Two roads diverged in a yellow wood.")
    settings = Settings()
    build_index([poem, lecture], tmp_path / "two", embedder,
                chunk_chars=settings.chunk_chars, chunk_overlap=settings.chunk_overlap)
    two = Assistant(settings, load_index(tmp_path / "two", embedder), embedder)
    assert two.ask("What is paragraph 3 of the lecture about?").answer == (
        "Clouds form when vapour cools. [1]")
    assert two.ask("Summarize the poem").answer == "Two roads diverged in a yellow wood. [1]"
    # the poem has one paragraph, the lecture four: its second is the only one there is
    assert two.ask("What is paragraph 2 about?").answer == "Water evaporates from the sea. [1]"
    said = two.ask("What is paragraph 9 about?")
    assert said.refused and said.answer.startswith(
        "None of the 2 documents has paragraph 9; the longest, lecture-notes.md, has 4.")
