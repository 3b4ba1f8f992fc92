"""The chat handlers without a server: streaming into the chat, sources, highlights, history,
bad input, escaping and Stop. The real model and a real index under tmp_path; a scripted facade
only where a slow or failing generation is needed (the real one is tested in the LLM tests)."""

import copy
import re
import threading
from collections.abc import Iterator

import pytest

from assistant import Answer, Citation, Settings, Turn, UnusableIndexError
from assistant.web.ui import API_NAME, EXAMPLES, StopFlag, build_ui, respond, stop, suggestions
from assistant.web.view import CHECKING

SKIP = object()  # stands in for gr.skip()
WHO = 'Who says "Poor creatures. What did we do to you?"'
XSS = "<img src=x onerror=alert(1)>"


def _index(directory, documents, embedder) -> Settings:
    from assistant.assistant import build_documents

    settings = Settings(index_dir=directory, llm_backend="none")
    build_documents(documents, directory, settings, embedder)
    return settings


@pytest.fixture(scope="module")
def embedder():
    from assistant.embeddings import load_embedder

    return load_embedder()


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, embedder):
    from assistant import Assistant

    settings = _index(tmp_path_factory.mktemp("index"), [Settings().default_document], embedder)
    return Assistant.from_settings(settings, embedder=embedder)


def run(assistant, question, chat=(), turns=(), mode="extractive", flag=None) -> list[tuple]:
    return list(respond(assistant, question, list(chat), list(turns), mode, flag, skip=SKIP))


def text_of(html: str) -> str:
    """What a reader sees: tags dropped, entities left as they are."""
    return re.sub(r"<[^>]+>", "", html)


def test_answer_streams_into_the_chat_with_sources_and_highlights(assistant):
    updates = run(assistant, WHO)
    first_chat, first_turns, first_essay, first_box = updates[0]
    assert [m["role"] for m in first_chat] == ["user", "assistant"]
    assert "pending" in first_chat[-1]["content"]
    assert first_box == "" and first_essay is SKIP and first_turns == []

    chat, turns, essay, box = updates[-1]
    assert box is SKIP
    answer = chat[-1]["content"]
    assert "Marie-Claude" in text_of(answer)
    assert '<details class="sources">' in answer
    markers = set(re.findall(r'class="marker">\[(\d+)\]', answer.split("<details")[0]))
    listed = set(re.findall(r'data-marker="(\d+)"', answer))
    assert markers and markers == listed
    assert "page 254" in answer and "paragraph 1" in answer
    # the turn keeps what the answer cited, for "What page is that on?"
    assert turns == [Turn(question=WHO, answer=turns[0].answer,
                          cited=("never-let-me-go-essay.txt#0-761",))]
    assert "Marie-Claude" in turns[0].answer
    marked = re.findall(r"<mark[^>]*>(.*?)</mark>", essay, flags=re.S)
    assert marked and "Poor creatures" in marked[0]


def test_streamed_deltas_show_before_the_final_answer(assistant):
    updates = run(assistant, "What does Ruth fear?")
    streamed = [u[0][-1]["content"] for u in updates[1:-1]]
    assert streamed and "clone model" in text_of(streamed[-1])
    assert "<details" not in streamed[-1]  # sources come with the final answer only


def test_history_is_passed_to_the_facade_as_turns(assistant):
    chat, turns, *_ = run(assistant, WHO)[-1]
    chat, turns, *_ = run(assistant, "What page is that on?", chat, turns)[-1]
    assert [m["role"] for m in chat] == ["user", "assistant"] * 2
    assert [t.question for t in turns] == [WHO, "What page is that on?"]
    assert "page 254" in chat[-1]["content"]  # the follow-up borrowed the first question


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "empty"), ("   \n\t ", "empty"), ("why? " * 4000, "19,999 characters")],
    ids=["empty", "whitespace", "20000-chars"],
)
def test_bad_input_is_a_visible_message_not_a_traceback(assistant, question, message):
    before = [{"role": "user", "content": "earlier"}]
    updates = run(assistant, question, before, [Turn("q", "a")])
    assert len(updates) == 1
    chat, turns, essay, box = updates[0]
    assert chat[:-1] == before and turns == [Turn("q", "a")]
    assert chat[-1]["role"] == "assistant" and message in chat[-1]["content"]
    assert 'class="notice"' in chat[-1]["content"] and "Traceback" not in chat[-1]["content"]
    assert box is SKIP and essay is SKIP  # the question stays in the box to be fixed


def test_explain_without_a_model_falls_back_with_a_notice(assistant):
    chat, *_ = run(assistant, WHO, mode="generative")[-1]
    assert "Explain mode is unavailable" in chat[-1]["content"]
    assert "Marie-Claude" in chat[-1]["content"]


def test_html_in_a_question_is_shown_as_text(assistant):
    chat, *_ = run(assistant, f"{XSS} who is ${{Ruth}}?")[-1]
    question = chat[0]["content"]
    assert "<img" not in question and "&lt;img src=x onerror=alert(1)&gt;" in question
    assert "${" not in question  # Gradio's HTML templates would read ${...}


def test_html_in_a_document_is_shown_as_text(tmp_path, embedder):
    from assistant import Assistant

    doc = tmp_path / "villain.txt"
    doc.write_text(
        "The villain signs every letter with the tag <script>alert('pwned')</script> and "
        f"an image {XSS} in the corner.\n\nThe detective reads the letters at night.\n"
    )
    settings = _index(tmp_path / "index", [doc], embedder)
    villain = Assistant.from_settings(settings, embedder=embedder)
    chat, _, essay, _ = run(villain, "How does the villain sign every letter?")[-1]
    shown = chat[-1]["content"] + essay
    assert "<script" not in shown and "<img" not in shown
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in chat[-1]["content"]
    assert "&lt;script&gt;" in essay and "&lt;img src=x onerror=alert(1)&gt;" in essay


class ScriptedAssistant:
    """The facade's interface with a slow, stoppable generation (or a failure)."""

    def __init__(self, real, fail: Exception | None = None) -> None:
        self.real, self.fail = real, fail
        self.documents, self.settings = real.documents, real.settings
        self.started = threading.Event()

    def check_question(self, question: str) -> str:
        return self.real.check_question(question)

    def stream(self, question, *, mode=None, history=(), stop=None, k=None) -> Iterator:
        words = []
        for word in ["Madame ", "Marie-Claude ", "asks ", "it ", "[1]. "] * 50:
            if self.fail and words:
                raise self.fail
            if stop is not None and stop.is_set():
                break
            words.append(word)
            yield word
            self.started.set()
            stop.wait(0.01)
        citation = Citation(1, self.real.chunks[0])
        yield Answer(question, "".join(words), False, "generative", (citation,), notice="Stopped.")


def test_stop_sets_the_event_and_the_answer_keeps_what_was_produced(assistant):
    scripted, flag = ScriptedAssistant(assistant), StopFlag()
    updates = respond(scripted, WHO, [], [], "generative", flag, skip=SKIP)
    next(updates)  # the question and a pending answer
    chat, *_ = next(updates)  # the first words
    assert flag.running and not flag.event.is_set()
    # the model's words are shown as a draft until the final, checked answer replaces them
    assert 'class="answer pending checking"' in chat[-1]["content"] and CHECKING in chat[-1]["content"]
    stopped = stop(chat, flag)
    assert flag.event.is_set() and stopped[-1]["content"].endswith("Stopped.</div>")
    chat, turns, essay, _ = list(updates)[-1]
    assert not flag.running and CHECKING not in chat[-1]["content"]
    produced = turns[-1].answer
    assert produced.startswith("Madame") and len(produced) < 40  # stopped well before the end
    assert "<mark" in essay


def test_clearing_the_chat_while_an_answer_streams_stops_it_and_keeps_the_chat_empty(assistant):
    scripted, flag = ScriptedAssistant(assistant), StopFlag()
    earlier = [Turn("Who is Kathy?", "Kathy H. is the narrator. [1]")]
    updates = respond(scripted, WHO, [], earlier, "generative", flag, skip=SKIP)
    next(updates)
    next(updates)  # the first words
    flag.clear()
    assert flag.event.is_set()
    rest = list(updates)
    chat, turns, essay, _ = rest[-1]
    assert chat == [] and turns == [] and "<mark" not in essay
    assert all(update[0] == [] for update in rest)  # nothing of the old answer came back


def test_asking_again_does_not_undo_a_stop(assistant):
    # The stopped generation may not have noticed yet; the next answer must not clear its Stop.
    scripted, flag = ScriptedAssistant(assistant), StopFlag()
    first = respond(scripted, WHO, [], [], "generative", flag, skip=SKIP)
    next(first)
    chat, *_ = next(first)
    stopped = flag.event
    stop(chat, flag)
    second = respond(scripted, WHO, [], [], "generative", flag, skip=SKIP)
    next(second)
    assert stopped.is_set() and not flag.event.is_set() and flag.running
    first.close()  # the old answer ending late leaves the running one marked as running
    assert flag.running


def test_an_error_from_the_facade_replaces_the_pending_answer(assistant):
    failing = ScriptedAssistant(assistant, fail=UnusableIndexError("the index is gone; rebuild"))
    chat, turns, essay, _ = list(respond(failing, WHO, [], [], None, StopFlag(), skip=SKIP))[-1]
    assert [m["role"] for m in chat] == ["user", "assistant"]
    assert "The index is gone; rebuild" in chat[-1]["content"] and turns == []


def test_stop_with_nothing_running_changes_nothing():
    flag, chat = StopFlag(), [{"role": "assistant", "content": "done"}]
    assert stop(chat, flag) == chat and not flag.event.is_set()


def test_each_session_gets_its_own_stop_flag():
    shared = StopFlag()
    copied = copy.deepcopy(shared)  # what gr.State does for each new session
    shared.event.set()
    assert copied is not shared and not copied.event.is_set()


@pytest.mark.parametrize("compact", [False, True], ids=["full", "compact"])
def test_blocks_expose_one_documented_api(assistant, compact):
    demo = build_ui(assistant, compact=compact)
    public = [f.api_name for f in demo.fns.values() if f.api_visibility == "public"]
    assert public == [API_NAME]
    config = str(demo.get_config_file())
    assert ("Study Assistant</h1>" in config) is not compact
    suggested = suggestions(assistant)
    assert "What is on page 166?" in suggested and set(EXAMPLES) <= set(suggested)
    assert all(q.replace('"', '\\"') in config or q in config for q in suggested)
