"""Prompt lookup decoding: the guesses it drafts, and the embedded model decoding with them."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from assistant.runtime.lookup import LookupLlama, draft


def tokens(*ids: int) -> np.ndarray:
    return np.array(ids, dtype=np.intc)


def test_a_draft_continues_the_first_earlier_occurrence_of_the_longest_match():
    #               0  1  2  3  4  5  6  7  8  9 10 11
    text = tokens(5, 1, 2, 3, 9, 9, 7, 2, 3, 8, 1, 2, 3)
    # the last three (1 2 3) occurred at 1..3: what followed there comes next
    assert draft(text, 3).tolist() == [9, 9, 7]
    assert draft(text, 1).tolist() == [9]
    # only two match (2 3, first at 2..3): still a guess; one token alone is not
    assert draft(tokens(1, 2, 3, 4, 0, 2, 3), 2).tolist() == [4, 0]
    assert draft(tokens(1, 2, 3, 4, 0, 3), 2).tolist() == []
    assert draft(tokens(4, 4), 3).tolist() == []
    # a match at the very end has no continuation to offer beyond the text itself
    assert draft(tokens(6, 6, 6), 3).tolist() == [6]


@pytest.mark.slow
def test_the_model_accepts_guesses_copied_from_the_prompt_and_keeps_its_memory(local_chat_model):
    llama = local_chat_model._llama
    assert isinstance(llama, LookupLlama)
    # no logits kept for every token of the context (4096 x 151,936 floats would be 2.5 GB)
    assert llama.scores.shape[0] == local_chat_model.n_batch
    sentence = ("Kathy remembers the pond at Hailsham, the sports pavilion and the long corridor "
                "where the students waited for Madame to arrive.")
    messages = [SystemMessage("Repeat the student's sentence exactly, and nothing else."),
                HumanMessage(sentence)]
    steps, sampled = llama.steps, llama.sampled
    shown: list[tuple[str, str]] = []

    def watch(text: str, piece: str) -> None:
        shown.append((text, piece))

    reply = "".join(c.content for c in local_chat_model.stream(messages, max_tokens=60,
                                                               guide=watch))
    assert "pond at Hailsham, the sports pavilion" in reply
    steps, sampled = llama.steps - steps, llama.sampled - sampled
    assert sampled >= 1.5 * steps  # most model calls chose more than one token
    # a steering guide sees the text up to each token chosen, never the guesses after it
    assert shown[0][0] == ""
    for (text, piece), (next_text, _) in zip(shown, shown[1:]):
        assert next_text == text + piece
