"""Follow-up questions: whether a question leans on the conversation, and the question retrieval
searches for it when no language model rewrites it.

"What page is that on?" or "Why?" means nothing alone. In Explain mode generate.py has the model
rewrite such a question from the history; otherwise its words are searched together with the
earlier questions it leans on, back to the last one that stood alone. A question that names what
it asks about ("What is Hailsham?") stands alone even when it is short. Leaves out resolving
pronouns by grammar.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.schema import Turn
from assistant.text import find_names

REFERRING = frozenset(
    "it its that this these those they them their she her hers he him his there then one ones "
    "such".split()
)
QUESTION_WORDS = frozenset(
    "what who whom whose which why how when where is are was were do does did can could would "
    "should the a an of on in to about and or for with say says mean means else more again so "
    "tell me".split()
)
_LEAD_IN = re.compile(r"\s*(and|but|also|plus|what about|how about)\b")
_WORDS = re.compile(r"[a-z']+")


def looks_like_follow_up(question: str) -> bool:
    """Whether a question leans on the conversation: a pronoun or "there", a lead-in such as
    "and" or "what about", or hardly any words that are not a name."""
    lowered = question.lower()
    words = _WORDS.findall(lowered)
    if set(words) & REFERRING or _LEAD_IN.match(lowered):
        return True
    content = [w for w in words if w not in QUESTION_WORDS]
    return len(content) <= 1 and not find_names(question)


_PAGE_OF_THAT = re.compile(
    r"\b(what|which) page\b|\bon what page\b|\bpage (number )?(is|was) (that|this|it)\b")


def asks_page_of_that(question: str) -> bool:
    """Whether a follow-up asks for the page of what was just quoted ("What page is that on?"),
    not for a page by its number."""
    lowered = question.lower()
    return bool(_PAGE_OF_THAT.search(lowered)) and not re.search(r"\d", lowered) and (
        looks_like_follow_up(question))


def with_history(question: str, history: Sequence[Turn]) -> str:
    """The follow-up joined to the earlier questions it leans on (the question alone otherwise)."""
    if not history or not looks_like_follow_up(question):
        return question
    asked = [question]
    for turn in reversed(history):
        asked.insert(0, turn.question)
        if not looks_like_follow_up(turn.question):
            break
    return " ".join(asked)
