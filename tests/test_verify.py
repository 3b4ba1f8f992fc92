"""Verification of generated sentences against the essay's real passages (no model needed)."""

from __future__ import annotations

import pytest

from assistant.config import DEFAULT_DOCUMENT
from assistant.generation.verify import VERDICT, check_sentence, split_sentences, verify_answer
from assistant.ingest import chunk_document, document_from_text, read_document


@pytest.fixture(scope="module")
def passages():
    """The essay's chunks, numbered 1..n as the prompt numbers them."""
    return chunk_document(read_document(DEFAULT_DOCUMENT), 480, 1)


def number_of(passages, words: str) -> int:
    return next(n for n, c in enumerate(passages, start=1) if words in c.text)


def test_wrong_speaker_and_misquotation_are_flagged(passages):
    ruth = number_of(passages, "modeled from trash")
    madame = number_of(passages, "Poor creatures")
    answer = (
        f"Madame Marie-Claude says “We’re modeled from trash” [{ruth}]. "
        f'Madame Marie-Claude asks, "Poor creatures, what have we done to you?" [{madame}] '
        f"Ruth reveals her fears: “We’re modeled from trash” [{ruth}]."
    )
    result = verify_answer(answer, passages)

    wrong_speaker, misquote, right = result.checks
    assert not wrong_speaker.verified
    assert any("Marie-Claude" in p for p in wrong_speaker.problems)
    assert not misquote.verified
    assert any("quotation not found" in p for p in misquote.problems)
    assert right.verified and right.problems == ()
    assert result.removed == 2
    assert result.text == "Ruth reveals her fears: “We’re modeled from trash”. [1]"
    assert [c.chunk for c in result.citations] == [passages[ruth - 1]]


def test_wrong_speaker_is_flagged_even_when_both_passages_are_cited(passages):
    ruth = number_of(passages, "modeled from trash")
    madame = number_of(passages, "Poor creatures")
    check = check_sentence(
        f'Madame Marie-Claude says "We\'re modeled from trash" [{madame}][{ruth}].', passages
    )
    assert not check.verified
    assert check.problems == (
        'the passage with "We\'re modeled from trash" does not mention Marie-Claude',
    )


def test_quotation_matching_forgives_quote_styles_whitespace_and_edge_punctuation(passages):
    n = number_of(passages, "modeled from trash")
    check = check_sentence(f'Ruth says, "We\'re   modeled from\ntrash." [{n}]', passages)
    assert check.verified, check.problems
    check = check_sentence(f"Ruth says “We’re Modeled from trash” [{n}].", passages)
    assert not check.verified  # case is not forgiven: that is no longer the essay's wording


def test_names_and_numbers_must_be_in_the_cited_passages(passages):
    ruth = number_of(passages, "modeled from trash")
    kathy = number_of(passages, "thirty-one")
    assert check_sentence(f"The word appears on page 166 [{ruth}].", passages).verified
    assert check_sentence(f"Kathy H. is thirty-one years old [{kathy}].", passages).verified
    wrong_page = check_sentence(f"The word appears on page 254 [{ruth}].", passages)
    assert wrong_page.problems == ("number not in the cited passages: 254",)
    wrong_age = check_sentence(f"Kathy H. is thirty years old [{kathy}].", passages)
    assert wrong_age.problems == ("number not in the cited passages: 30",)
    assert check_sentence(f"Kathy H. is 31 years old [{kathy}].", passages).verified
    invented = check_sentence(f"Miss Emily runs Hailsham [{kathy}].", passages)
    assert invented.problems[:2] == (
        "name not in the cited passages: Miss",
        "name not in the cited passages: Emily",
    )


def test_a_page_number_is_only_verified_as_a_page(passages):
    ruth = number_of(passages, "modeled from trash")  # "... (Ishiguro 166)"
    for as_page in ("Ruth talks about her possible on page 166",
                    "Ruth talks about her possible (Ishiguro 166)",
                    "Ruth talks about her possible, p. 166"):
        assert check_sentence(f"{as_page} [{ruth}].", passages).verified, as_page
    counted = check_sentence(f"The novel has 166 pages [{ruth}].", passages)
    assert counted.problems == ("166 is only a page number in the cited passages",)


def test_an_author_must_be_named_as_one_in_the_cited_passage(passages):
    first = number_of(passages, "Poor creatures")  # "... in Kazuo Ishiguro's Never Let Me Go"
    wrong = check_sentence(f"Madame Marie-Claude wrote Never Let Me Go [{first}].", passages)
    assert wrong.problems == ("no cited passage names Madame Marie-Claude as an author",)
    for claim in ("Kazuo Ishiguro wrote Never Let Me Go",  # "Kazuo Ishiguro's Never Let Me Go"
                  "Never Let Me Go was written by Ishiguro",
                  "The author of Never Let Me Go is Kazuo Ishiguro"):
        assert check_sentence(f"{claim} [{first}].", passages).verified, claim
    ruth = number_of(passages, "modeled from trash")  # cites (Ishiguro 166): he is its author
    assert check_sentence(f"Ishiguro is the author of Ruth's words [{ruth}].", passages).verified
    assert not check_sentence(f"Kathy is the author of Ruth's words [{ruth}].", passages).verified


def test_a_sentence_its_passages_barely_support_is_unverified(passages):
    kathy = number_of(passages, "thirty-one")
    supported = check_sentence(
        f"Kathy H. is a thirty-one-year-old carer from Hailsham [{kathy}].", passages
    )
    assert supported.verified, supported.problems
    unsupported = check_sentence(f"The clones rebel against their teachers [{kathy}].", passages)
    assert not unsupported.verified
    assert unsupported.problems == ("only 0% of its words are in the cited passages",)


def test_a_sentence_saying_who_someone_is_needs_one_cited_sentence_that_says_it(passages):
    madame = number_of(passages, "Poor creatures")
    kathy = number_of(passages, "our protagonist")
    # the essay has "narration" somewhere, never "narrator"; the names and most words are in [1]
    narrator = check_sentence(f"Madame Marie-Claude is the narrator of the novel [{madame}].",
                              passages)
    assert narrator.problems == ('no cited sentence says Madame Marie-Claude is "narrator"',)
    # each word is in a cited passage, but no sentence of them calls Madame the protagonist
    swapped = check_sentence(
        f"In the novel, Madame Marie-Claude is the protagonist [{madame}][{kathy}].", passages
    )
    assert swapped.problems == ('no cited sentence says Madame Marie-Claude is "protagonist"',)
    assert check_sentence(f"Kathy is the protagonist of the novel [{kathy}].", passages).verified
    # one passage, two sentences: "Never Let Me Go is a memoir ..." and "... Kathy H., a ..."
    memoir = number_of(passages, "memoir of the Other")
    assert check_sentence(f"Kathy is a memoir [{memoir}].", passages).problems == (
        'no cited sentence says Kathy is "memoir"',
    )
    assert check_sentence(f"Hailsham is a fictional school [{kathy}].", passages).problems == (
        'no cited sentence says Hailsham is "fictional school"',
    )
    # without a name before the verb, the phrase's words must still meet in one cited sentence
    unnamed = check_sentence(f"It is a fictional school [{kathy}].", passages)
    assert unnamed.problems == ('no cited sentence says it is "fictional school"',)


def test_a_yes_or_no_is_never_verified_though_its_words_are_in_the_passage(passages):
    grey = number_of(passages, "grey area")
    # the essay asks "whether there is any grey area"; it never answers yes
    verdict = check_sentence(f"Yes, there is a grey area in the definition of a human [{grey}].",
                             passages)
    assert verdict.problems == ("opens with a yes or no, which the passages' words cannot confirm",)
    assert not check_sentence(f"No. The text asks whether there is any grey area [{grey}].",
                              passages).verified
    assert check_sentence(f"The text urges us to consider whether there is any grey area [{grey}].",
                          passages).verified
    # a small model drops the comma: "No Kathy is not in love with Tommy" is still a verdict
    kathy = number_of(passages, "Kathy H.")
    assert VERDICT in check_sentence(f"No Kathy is not a donor [{kathy}].", passages).problems
    assert VERDICT in check_sentence(f"Yes Kathy is a Carer [{kathy}].", passages).problems
    for determiner in ("No one holds the power in labeling others", "No clone holds the power"):
        assert VERDICT not in check_sentence(f"{determiner} [{grey}].", passages).problems


def test_the_prompts_refusal_is_never_shown_as_an_answer(passages):
    result = verify_answer("The essay does not say [3].", passages, ["The essay does not say."])
    assert result.text == "" and result.removed == 1
    assert result.checks[0].problems == ("the model found no answer in the passages",)


def test_markers_invalid_ones_dropped_and_uncited_sentences_unverified(passages):
    n = number_of(passages, "memoir of the Other")
    result = verify_answer(
        f"The essay calls the novel a memoir of the Other [{n}, 99]. This is a claim.", passages
    )
    kept, uncited = result.checks
    assert kept.verified and kept.markers == (1,)
    assert kept.problems == ("dropped invalid marker [99]",)
    assert not uncited.verified and uncited.problems == ("cites no passage",)
    assert result.text == "The essay calls the novel a memoir of the Other. [1]"


def test_markers_are_renumbered_in_order_of_use(passages):
    ruth = number_of(passages, "modeled from trash")
    madame = number_of(passages, "Poor creatures")
    result = verify_answer(
        f"Ruth fears they are “modeled from trash” [{ruth}]. "
        f"Madame Marie-Claude calls them “Poor creatures” [{madame}][{ruth}].",
        passages,
    )
    assert result.removed == 0
    assert result.text == (
        "Ruth fears they are “modeled from trash”. [1] "
        "Madame Marie-Claude calls them “Poor creatures”. [2][1]"
    )
    assert [(c.marker, c.chunk) for c in result.citations] == [
        (1, passages[ruth - 1]),
        (2, passages[madame - 1]),
    ]


def test_sentences_split_outside_quotations_and_keep_trailing_markers():
    text = (
        'Ruth says "We all know it. We\'re modeled from trash." [2] Then Kathy H. listens [3]. '
        "She says “maybe…” (Ishiguro 166). [4] "
        "Mr. Smith agrees.\nA new line\n[4]"
    )
    assert split_sentences(text) == [
        'Ruth says "We all know it. We\'re modeled from trash." [2]',
        "Then Kathy H. listens [3].",
        "She says “maybe…” (Ishiguro 166). [4]",
        "Mr. Smith agrees.",
        "A new line",
    ]


def test_a_misplaced_citation_moves_to_a_retrieved_passage_that_supports_it(passages):
    kathy = number_of(passages, "thirty-one")
    ruth = number_of(passages, "modeled from trash")
    assert kathy != ruth
    answer = f"Kathy H. is thirty-one years old [{ruth}]. Kathy H. is twenty [{ruth}]."
    result = verify_answer(answer, passages, alternatives=[ruth, kathy])

    moved, wrong = result.checks
    assert moved.verified and moved.markers == (1,)
    assert moved.problems == (f"cited [{ruth}], which does not support it; cites [{kathy}] instead",)
    assert [c.chunk for c in result.citations] == [passages[kathy - 1]]
    assert not wrong.verified  # no retrieved passage says twenty
    assert not verify_answer("Kathy H. is thirty-one years old.", passages,
                             alternatives=[kathy]).checks[0].verified  # uncited stays uncited


@pytest.fixture(scope="module")
def history():
    """Two paragraphs of an encyclopedia-style text: accented names, amounts in digits."""
    text = (
        "In 1749 Pierre-Joseph Céloron led an expedition of about 3,000 miles down the Ohio. "
        "The Huguenots of Florida fled when the Spanish arrived.\n\n"
        "Most of the settlers went to Cuba in 1763, taking the records of St. Augustine with them."
    )
    return chunk_document(document_from_text("history", text), 480, 0)


def test_names_in_any_script_plural_forms_and_amounts_in_words_are_matched(history):
    assert check_sentence("The expedition was led by Céloron in 1749 [1].", history).verified
    assert check_sentence("Céloron went about three thousand miles [1].", history).verified
    assert check_sentence("Many Spanish soldiers arrived in Florida [1].", history).verified
    assert check_sentence("The Huguenot settlers of Florida fled [1].", history).verified
    assert check_sentence("Céloron went about four thousand miles [1].", history).problems == (
        "number not in the cited passages: 4000",)
    assert check_sentence("The expedition was led by Célaron [1].", history).problems == (
        "name not in the cited passages: Célaron",)
    assert check_sentence("Many Dutch settlers went to Cuba [2].", history).problems == (
        "name not in the cited passages: Dutch",)
