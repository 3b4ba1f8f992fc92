"""Prompt files, the numbered passages the prompt carries, and the guard against reciting it."""

from __future__ import annotations

import shutil

import pytest

from assistant import ConfigError, Settings
from assistant.generation.prompting import LeakGuard, format_passages, load_prompts, number_passages


def test_prompt_files_load_and_a_broken_one_is_refused_by_name(tmp_path, prompts):
    assert "{passages}" in prompts.answer_system.template
    shutil.copytree(Settings().prompts_dir, tmp_path, dirs_exist_ok=True)
    (tmp_path / "answer_user.md").write_text("Tell me about {topic}", encoding="utf-8")
    with pytest.raises(ConfigError, match="answer_user.md uses"):
        load_prompts(tmp_path)
    (tmp_path / "answer_user.md").unlink()
    with pytest.raises(ConfigError, match="answer_user.md"):
        load_prompts(tmp_path)


def test_passages_are_numbered_in_order_without_repeating_the_overlap(chunks):
    numbered = number_passages(chunks)
    assert [chunk for chunk, _ in numbered] == chunks
    shown = " ".join(text for _, text in numbered)
    assert shown.count("We’re modeled from trash") == 1
    assert all(text in chunk.text for chunk, text in numbered)
    block = format_passages(numbered)
    assert block.startswith("[1] “Poor creatures.") and f"\n[{len(chunks)}] " in block


def test_leak_guard_holds_back_instruction_words_and_stops_a_recital(prompts, chunks):
    guard = LeakGuard(prompts.literal_text(), " ".join(c.text for c in chunks))
    answer = "Ruth says they are “modeled from trash” [7]."
    assert guard.scan(answer) == (len(answer), False)
    # an essay quotation is never mistaken for the instructions
    assert guard.scan("“We all know it. We’re modeled from trash.")[1] is False
    recital = "Sure! You are a friendly study assistant. A student asks"
    safe, leaked = guard.scan(recital)
    assert leaked
    partial = "Sure! You are a friendly"
    safe, leaked = guard.scan(partial)
    assert not leaked and partial[:safe] == "Sure! "  # the start of the recital is held back
    # a word still being written is shown unless it could grow into the start of a recital
    assert guard.scan("Madame Mar") == (len("Madame Mar"), False)
    assert guard.scan("The ess") == (len("The ess"), False)
    for unfinished in ("Sure! You are a friendly stu", "Sure! Yo", "Sure! You are a friendly"):
        assert guard.scan(unfinished) == (len("Sure! "), False)
    assert guard.scan("So the student’")[0] == len("So ")  # "the student's message is a ..."
