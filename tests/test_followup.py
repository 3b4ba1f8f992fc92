"""Follow-up questions: which lean on the conversation, and what retrieval searches for them."""

import pytest

from assistant import Turn
from assistant.answering.followup import looks_like_follow_up, with_history

WHO = 'Who says "Poor creatures. What did we do to you?"'


@pytest.mark.parametrize(
    ("question", "leans"),
    [
        ("What page is that on?", True),
        ("Why?", True),
        ("Which page?", True),
        ("Who is she?", True),
        ("And Tommy?", True),
        ("What about Ruth?", True),
        ("Why does she say it?", True),
        ("What is Hailsham?", False),  # short, but it names what it asks about
        ("What does Ruth fear?", False),
        ("How old is Kathy H.?", False),
        ("When does Ishiguro first use the word clone?", False),
    ],
)
def test_a_question_leans_on_the_conversation_when_it_refers_back_or_says_too_little(question, leans):
    assert looks_like_follow_up(question) is leans


def test_a_follow_up_is_searched_with_the_questions_it_leans_on_back_to_one_that_stood_alone():
    history = [
        Turn("What does Ruth fear?", "..."),
        Turn(WHO, "..."),
        Turn("What page is that on?", "..."),
    ]
    assert with_history("Why does she say it?", history) == (
        f"{WHO} What page is that on? Why does she say it?"
    )
    assert with_history("What is Hailsham?", history) == "What is Hailsham?"
    assert with_history("Why?", []) == "Why?"
