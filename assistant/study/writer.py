"""Practice questions written by the language model: for a key sentence and the answer chosen from
it (blanks.py), the model phrases a question, as a teacher would, that the sentence answers.

The prompts are files in prompts/ (study_question_system.md, study_question_user.md), read and
checked the way Explain's are. The model is any LangChain chat model (the facade hands over the
one Explain uses); each call has a time limit, read by a worker so that a slow model cannot hold
the build (runtime/pump.py). Nothing written here is trusted: practice.py checks every question
against the document. Leaves out choosing sentences and answers, and the check.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.prompts import PromptTemplate

from assistant.errors import ModelError
from assistant.generation.generate import backend_errors
from assistant.generation.prompting import read_template
from assistant.runtime.pump import pump
from assistant.study.blanks import Draft

# file -> (required placeholders, optional placeholders)
PROMPT_FILES = {
    "study_question_system": (set(), set()),
    "study_question_user": ({"sentence", "answer"}, {"context"}),
    "study_question_retry": ({"answer"}, set()),
    "study_answer_system": (set(), set()),
    "study_answer_user": ({"sentence", "question"}, {"context"}),
}
MAX_TOKENS = 60  # a question is one line; a longer reply is cut here and refused below
MAX_WORDS = 40


@dataclass(frozen=True)
class Writer:
    """Writes one question per draft with a chat model and the study prompts, and answers a
    question from its sentence (the round trip practice.py's check makes)."""

    model: BaseChatModel
    templates: dict[str, PromptTemplate]  # by prompt file name, as read_prompts reads them
    name: str  # the model, as the study aids record it

    @classmethod
    def load(cls, model: BaseChatModel, prompts_dir: Path, name: str) -> Writer:
        """ConfigError when a study prompt file is missing or broken."""
        return cls(model, read_prompts(prompts_dir), name)

    def digests(self) -> dict[str, str]:
        """sha256 of each prompt template: study aids made with other prompts are made again."""
        return {f"{n}.md": hashlib.sha256(t.template.encode("utf-8")).hexdigest()
                for n, t in sorted(self.templates.items())}

    def write(self, draft: Draft, timeout_s: float, previous: str | None = None) -> str | None:
        """The model's question for a draft, or None when its reply is not a usable question;
        ModelError when the model fails or takes longer than `timeout_s`. `previous`: its last
        question, which gave the answer away, to be written again without it."""
        user = self.templates["study_question_user"].format(
            sentence=draft.sentence.text, answer=draft.span.text, context=_context(draft))
        again = [] if previous is None else [
            AIMessage(previous),
            HumanMessage(self.templates["study_question_retry"].format(answer=draft.span.text))]
        return parse_question(self._line("study_question_system", user, timeout_s, again))

    def answer(self, draft: Draft, question: str, timeout_s: float) -> str | None:
        """The model's own answer to a question from the draft's sentence (None: it says the
        sentence does not answer it); ModelError as for `write`."""
        user = self.templates["study_answer_user"].format(
            sentence=draft.sentence.text, question=question, context=_context(draft))
        return parse_answer(self._line("study_answer_system", user, timeout_s))

    def _line(self, system: str, user: str, timeout_s: float,
              more: list[BaseMessage] | None = None) -> str:
        """The first line of the model's reply to the system prompt `system`, `user` and any
        `more` messages of the conversation."""
        messages = [SystemMessage(self.templates[system].format()), HumanMessage(user),
                    *(more or [])]
        text = ""
        pieces = pump(lambda: self.model.stream(messages, max_tokens=MAX_TOKENS), None, timeout_s,
                      name="study-question", run=getattr(self.model, "submit", None))
        try:
            for piece in pieces:
                text += piece.content if isinstance(piece.content, str) else ""
                if "\n" in text.strip():  # one line is all that is used: stop the model there
                    break
        except TimeoutError as exc:
            raise ModelError(f"the language model took longer than {timeout_s:.0f} s") from exc
        except Exception as exc:
            if isinstance(exc, backend_errors()):
                raise ModelError(f"the language model failed: {type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0][:200] if str(exc) else ''}") from exc
            raise
        finally:
            pieces.close()
        return text


def _context(draft: Draft) -> str:
    return f"Before it: {draft.context}\n" if draft.context else ""


def read_prompts(prompts_dir: Path) -> dict[str, PromptTemplate]:
    """The study prompt templates by file name; ConfigError when one is missing or broken."""
    return {n: read_template(Path(prompts_dir) / f"{n}.md", required, optional)
            for n, (required, optional) in PROMPT_FILES.items()}


def parse_question(reply: str) -> str | None:
    """The question in a model's reply: its first line, without a "Question:" label or quotes
    around it; None unless it is one question of a sensible length."""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return None
    text = re.sub(r"^(?:\*\*)?(?:practice\s+)?question\s*\d*\s*[:.)-]\s*(?:\*\*)?", "", lines[0],
                  flags=re.IGNORECASE).strip()
    if len(text) > 1 and text[0] in "\"“" and text[-1] in "\"”":
        text = text[1:-1].strip()
    words = len(text.split())
    if not text.rstrip("\"”'’").endswith("?") or not 3 <= words <= MAX_WORDS:
        return None
    return text


def parse_answer(reply: str) -> str | None:
    """The answer in a model's reply: its first line without an "Answer:" label, quotes or a
    final stop; None for an empty reply or "none"."""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return None
    text = re.sub(r"^(?:\*\*)?answer\s*[:.)-]\s*(?:\*\*)?", "", lines[0], flags=re.IGNORECASE)
    text = text.strip().rstrip(".").strip().strip("\"“”'‘’").rstrip(".").strip()
    return None if not text or text.lower().strip(".") == "none" else text
