"""Generative answers: prompt the chat model with numbered passages, stream its words, verify them.

The whole document goes into a system prompt that is the same for every question, so llama.cpp (or
an OpenAI-compatible server with prefix caching) evaluates it once and each question only pays for
its own few tokens; the follow-up rewrite shares that prefix too. A document too long for the
context falls back to the retrieved passages alone. With the embedded model, decoding is steered
so that every sentence ends in a [n] marker. Retrieval, refusal and the extractive fallback are
the facade's business (assistant.py); the prompt files are prompting.py's; checking sentences is
verify.py's.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from assistant.answering.followup import QUESTION_WORDS, REFERRING, looks_like_follow_up
from assistant.config import Settings
from assistant.errors import ModelError
from assistant.generation.prompting import LeakGuard, Prompts, format_passages, load_prompts, number_passages
from assistant.generation.verify import NAMES_NO_ONE, names_no_one, verify_answer, withdrawn
from assistant.runtime.pump import pump
from assistant.schema import Chunk, Citation, Passage, SentenceCheck, Turn
from assistant.text import strip_markers

log = logging.getLogger(__name__)

RESERVED_TOKENS = 512  # question, hint, rewrite history and chat markup beside the passages
HINT_PASSAGES = 3
REWRITE_MAX_TOKENS = 64
HISTORY_ANSWER_CHARS = 300
MAX_SENTENCES = 3  # the embedded model is stopped after this many cited sentences


@dataclass(frozen=True)
class Generated:
    """A verified generated answer: what to display, what its markers cite, how each sentence fared."""

    text: str  # verified sentences with [n] markers numbered 1..m, matching citations
    citations: tuple[Citation, ...]
    checks: tuple[SentenceCheck, ...]
    notice: str | None


def cite_every_sentence(
    text: str, piece: str, citable: Sequence[int], max_sentences: int = MAX_SENTENCES
) -> str | list[str] | None:
    """Steer decoding so that no sentence ends without a [n] marker, and stop after a few.

    `text` is the answer so far and `piece` the model's next choice ("" for the end). Returns
    None to accept it, a string to write instead (" [" opens a marker, "" ends the answer), or a
    list of pieces to choose the likeliest from: inside a marker, the digits of the `citable`
    passage numbers. Which of those to cite stays the model's choice; verification checks it.
    """
    marker = re.search(r"\[(\d*)$", text)
    if marker:
        digits = marker.group(1)
        numbers = [str(n) for n in citable]
        allowed = sorted({n[len(digits)] for n in numbers if n.startswith(digits) and n != digits})
        if digits in numbers:
            allowed.append("]")
            if piece.startswith("]"):  # "]." and "]," are single tokens too
                return None
        return None if piece in allowed else allowed
    tail = text[text.rfind("]") + 1 :]
    if piece.lstrip().startswith("["):
        return None if re.search(r"[A-Za-z0-9]", tail) else []  # a marker needs a sentence first
    cited = len(re.findall(r"\](?!\s*\[)", text))  # [1][2] counts once
    if cited >= max_sentences and not re.search(r"[A-Za-z0-9]", tail):
        return "" if piece == "" or piece[:1].isspace() else None
    if not re.search(r"[A-Za-z0-9]", tail) or _inside_quotation(tail):
        return None
    stripped = tail.rstrip()
    if piece == "" or "\n" in piece:
        return " ["
    # the sentence has ended (the model's habit is "... old. [3]"): its marker comes next; a stop
    # the model continues without a space is a decimal point or part of a name: 2.5, U.S, .com
    if (stripped[-1:] in ".!?" and not _is_abbreviation(stripped[:-1])
            and not (tail == stripped and piece[:1].isalnum())):
        return " ["
    # a quotation that ended the sentence with its own full stop: ... trash.” She
    if stripped[-1:] in "\"”" and stripped[-2:-1] in ".!?…" and re.match(r"\s+[A-Z]", piece):
        return " ["
    return None


def _inside_quotation(text: str) -> bool:
    return text.count("“") > text.count("”") or text.count('"') % 2 == 1


def _is_abbreviation(text: str) -> bool:
    last = re.search(r"(\w+)$", text)
    return bool(last) and (len(last.group(1)) == 1 and last.group(1).isupper()
                           or last.group(1) in ("Mr", "Mrs", "Ms", "Dr", "St"))


class Generator:
    """Answers from numbered passages with a LangChain chat model; streams, then verifies."""

    def __init__(self, model: BaseChatModel, prompts: Prompts, chunks: Sequence[Chunk],
                 settings: Settings, state_path: Path | None = None, *,
                 keep_state: bool = True) -> None:
        self.model = model
        self.prompts = prompts
        self.settings = settings
        numbered = number_passages(chunks)
        system = prompts.answer_system.format(passages=format_passages(numbered))
        budget = min(settings.llm_context - settings.llm_max_tokens - RESERVED_TOKENS,
                     settings.llm_whole_document_tokens)
        self.whole_document = _count_tokens(model, system) <= budget
        # with the whole document in the prompt, its numbering is fixed and the prefix is cached
        self._numbered = [chunk for chunk, _ in numbered] if self.whole_document else []
        self._system = system if self.whole_document else None
        self._number_of = _numbers(self._numbered)
        self._guard = LeakGuard(prompts.literal_text(), " ".join(c.text for c in chunks))
        self._refusals = prompts.refusals()
        # steering only where the backend supports it (llama.cpp in-process, not OpenAI's API)
        self._guided = _supports_guide(model)
        # the in-process model keeps the document's evaluated prefix, saved beside the index
        # (keep_state=False: only what the model still holds from its last call is reused)
        self._prefix = None
        if keep_state and self.whole_document and hasattr(model, "keep_prefix"):
            from assistant.runtime.llm import Prefix

            samples = tuple((SystemMessage(system), HumanMessage(
                prompts.answer_user.format(question=question, hint=hint)))
                for question, hint in (("A?", "A\n"), ("B?", "B\n")))
            self._prefix = Prefix(samples=samples, path=state_path, prompts=prompts.digests())

    def warm_up(self) -> None:
        """Evaluate (or restore) the fixed prompt prefix now, so the first question only pays for
        its own words."""
        if self._prefix is not None:
            self.prepare()
            return
        messages = self._answer_messages("What is the text about?", ())[2]
        self._invoke(messages, max_tokens=1)

    def prepare(self, progress: Callable[[int, int], None] | None = None) -> str | None:
        """Have the model hold the document's prompt prefix: restored from its saved state, or
        evaluated (calling `progress(done, total)` in tokens) and saved. How, or None when this
        backend keeps no state (another server caches prefixes its own way)."""
        if self._prefix is None:
            return None
        try:
            return self.model.keep_prefix(self._prefix, progress)
        except backend_errors() as exc:
            raise ModelError(f"the language model failed: {_describe(exc)}") from exc

    def rewrite(self, question: str, history: Sequence[Turn]) -> str | None:
        """The follow-up as a standalone question; the question itself when it needs no rewrite;
        None when the model's rewrite is unusable (the caller then reads the question its own way)."""
        if not history or not looks_like_follow_up(question):
            return question
        lines = []
        for turn in history:
            asked = " ".join(turn.question.split())[:HISTORY_ANSWER_CHARS]
            answer = strip_markers(turn.answer)[:HISTORY_ANSWER_CHARS]
            lines += [f"Student: {asked}", f"Assistant: {answer}"]
        user = self.prompts.rewrite_user.format(history="\n".join(lines), question=question)
        system = self._system or self.prompts.rewrite_system.format()
        reply = self._invoke([SystemMessage(system), HumanMessage(user)],
                             max_tokens=REWRITE_MAX_TOKENS, **self._keeping())
        rewritten = _clean_rewrite(reply)
        if not rewritten or self._guard.scan(rewritten)[1] or not _keeps_topic(question, rewritten):
            log.info("the rewrite %r of the follow-up %r did not fit", rewritten, question)
            return None
        return rewritten

    def stream(self, question: str, passages: Sequence[Passage],
               stop: threading.Event | None = None,
               key: Sequence[tuple[Chunk, int, int]] = ()) -> Iterator[str | Generated]:
        """Yield text deltas as the model writes, then one verified Generated; ModelError on failure.

        `key`: the sentences the extractive answer would quote, (chunk, start, end), shown to the
        model as the most relevant ones (the prompt's `{hint}`).
        """
        numbered, citable, messages = self._answer_messages(question, passages, key)
        ranked = self._ranked(passages, numbered, key)
        text, shown, leaked = "", 0, False
        kwargs = self._keeping()
        if self._guided:
            kwargs["guide"] = functools.partial(cite_every_sentence, citable=citable)
        # A worker reads the model, so a Stop frees it even if our reader is abandoned (pump.py);
        # with the embedded model, that worker is the model's own thread (llm.ModelThread).
        chunks = pump(lambda: self.model.stream(messages, **kwargs), stop,
                      self.settings.llm_timeout_s, run=getattr(self.model, "submit", None))
        try:
            for chunk in chunks:
                text += chunk.content if isinstance(chunk.content, str) else ""
                safe, leaked = self._guard.scan(text)
                if leaked:
                    break
                if safe > shown:
                    yield text[shown:safe]
                    shown = safe
        except TimeoutError as exc:
            raise ModelError(
                f"the language model took longer than {self.settings.llm_timeout_s:g} s") from exc
        except Exception as exc:  # not `except backend_errors()`: a closing generator imports nothing
            if isinstance(exc, backend_errors()):
                raise ModelError(f"the language model failed: {_describe(exc)}") from exc
            raise
        finally:
            chunks.close()
        stopped = stop is not None and stop.is_set()
        if leaked:
            log.warning("stopped a generation that recited the prompt")
            yield Generated(text="", citations=(), checks=(),
                            notice="That question is not about the essay, so it was not answered.")
            return
        if len(text) > shown:
            yield text[shown:]
        verified = verify_answer(text, numbered, self._refusals, alternatives=ranked)
        if names_no_one(question, verified):
            verified = withdrawn(verified, NAMES_NO_ONE)
        notices = []
        if stopped:
            notices.append("Stopped before the answer was finished.")
        if verified.removed:
            were = "was" if verified.removed == 1 else "were"
            notices.append(f"{verified.removed} generated sentence{'s' * (verified.removed > 1)} "
                           f"could not be checked against the essay and {were} left out.")
        yield Generated(text=verified.text, citations=verified.citations, checks=verified.checks,
                        notice=" ".join(notices) or None)

    def _answer_messages(self, question: str, passages: Sequence[Passage],
                         key: Sequence[tuple[Chunk, int, int]] = ()
                         ) -> tuple[list[Chunk], list[int], list[BaseMessage]]:
        """The numbered chunks, the numbers retrieval found citable, and the messages."""
        # The key sentences' passages are citable even when retrieval ranks them low: a question
        # about the essay's structure ("Summarize the essay") quotes them by position.
        if self._system is not None:
            related = _with_key([self._number_of[p.chunk.chunk_id] for p in passages
                                 if p.chunk.chunk_id in self._number_of][:HINT_PASSAGES],
                                key, self._number_of)
            numbered, system = self._numbered, self._system
            citable = sorted(related) or list(range(1, len(numbered) + 1))
        else:
            chunks = [p.chunk for p in passages]
            ids = {c.chunk_id for c in chunks}
            chunks += [c for c in {c.chunk_id: c for c, _, _ in key}.values() if c.chunk_id not in ids]
            pairs = [(c, c.text) for c in chunks]
            numbered, related = [c for c, _ in pairs], []  # all of them are retrieval's best
            citable = list(range(1, len(numbered) + 1))
            system = self.prompts.answer_system.format(passages=format_passages(pairs))
        user = self.prompts.answer_user.format(question=question,
                                               hint=_hint(key, numbered, related))
        return numbered, citable, [SystemMessage(system), HumanMessage(user)]

    def _keeping(self) -> dict[str, object]:
        """The model call's argument that has it restore the document's prefix first, if needed
        (another document's questions may have replaced it since)."""
        return {"prefix": self._prefix} if self._prefix is not None else {}

    def _ranked(self, passages: Sequence[Passage], numbered: Sequence[Chunk],
                key: Sequence[tuple[Chunk, int, int]] = ()) -> list[int]:
        """Numbers of the best retrieved passages, best first, then the key sentences' others:
        where a misplaced citation may go."""
        number_of = _numbers(numbered)
        ranked = sorted(passages, key=lambda p: p.rank)
        best = [number_of[p.chunk.chunk_id] for p in ranked if p.chunk.chunk_id in number_of
                ][:HINT_PASSAGES]
        return _with_key(best, key, number_of)

    def _invoke(self, messages: list[BaseMessage], **kwargs: object) -> str:
        try:
            reply = self.model.invoke(messages, **kwargs)
        except backend_errors() as exc:
            raise ModelError(f"the language model failed: {_describe(exc)}") from exc
        return reply.content if isinstance(reply.content, str) else ""


def _numbers(numbered: Sequence[Chunk]) -> dict[str, int]:
    """Chunk id -> the number the prompt shows for it ([1], [2], ...)."""
    return {c.chunk_id: n for n, c in enumerate(numbered, start=1)}


def _with_key(numbers: list[int], key: Sequence[tuple[Chunk, int, int]],
              number_of: dict[str, int]) -> list[int]:
    """The passage numbers, then those of the key sentences' passages that are not among them."""
    keyed = dict.fromkeys(number_of.get(chunk.chunk_id) for chunk, _, _ in key)
    return numbers + [n for n in keyed if n is not None and n not in numbers]


def _hint(key: Sequence[tuple[Chunk, int, int]], numbered: Sequence[Chunk],
          related: Sequence[int]) -> str:
    """The prompt's `{hint}`: the key sentences with their passage numbers, else the passages."""
    number_of = _numbers(numbered)
    lines = [f"\u201c{chunk.text[start - chunk.start:end - chunk.start].strip()}\u201d "
             f"[{number_of[chunk.chunk_id]}]"
             for chunk, start, end in key if chunk.chunk_id in number_of]
    if lines:
        return "Most relevant sentences:\n" + "\n".join(lines) + "\n"
    if related:
        return "Most related passages: " + ", ".join(f"[{n}]" for n in related) + "\n"
    return ""


def build_generator(settings: Settings, chunks: Sequence[Chunk],
                    state_path: Path | None = None) -> Generator | None:
    """The generator for the configured backend (None for "none"); ModelError if unusable.
    `state_path`: where the document's evaluated prompt is saved (the embedded model only)."""
    from assistant.runtime.llm import build_chat_model

    prompts = load_prompts(settings.prompts_dir)
    model = build_chat_model(settings)
    if model is None:
        return None
    return Generator(model, prompts, chunks, settings, state_path)


def _supports_guide(model: BaseChatModel) -> bool:
    return bool(getattr(model, "supports_guide", False))


def _count_tokens(model: BaseChatModel, text: str) -> int:
    counter = getattr(model, "count_tokens", None)
    if callable(counter):
        return counter(text)
    return len(text) // 3  # a cautious estimate for English when the tokenizer is remote


def _keeps_topic(question: str, rewritten: str) -> bool:
    """A rewrite must keep the question's own content words (the referents are what it adds)."""
    own = set(re.findall(r"[a-z]+", question.lower())) - QUESTION_WORDS - REFERRING
    found = set(re.findall(r"[a-z]+", rewritten.lower()))
    return not own or len(own & found) >= max(1, len(own) // 2)


def _clean_rewrite(reply: str) -> str:
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    text = re.sub(r"^(?:rewritten|standalone|complete)?\s*question\s*:\s*", "", lines[0], flags=re.I)
    text = strip_markers(text).strip()
    if len(text) > 1 and text[0] in '"“' and text[-1] in '"”':  # quotes around the whole line only:
        text = text[1:-1].strip()  # ...say "Poor creatures. What did we do to you?" keeps its own
    return text if len(text) <= 300 else ""


def backend_errors() -> tuple[type[BaseException], ...]:
    """What a failing backend raises: llama.cpp's errors, an OpenAI-compatible server's."""
    errors: list[type[BaseException]] = [RuntimeError, ValueError, OSError]
    try:
        import openai

        errors.append(openai.OpenAIError)
    except ImportError:
        pass
    import httpx

    errors.append(httpx.HTTPError)
    return tuple(errors)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
