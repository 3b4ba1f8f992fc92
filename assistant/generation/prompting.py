"""The prompts: template files loaded at start-up, the numbered passages they carry, and a guard
against answers that recite them.

Teachers edit prompts/*.md (see prompts/README.md); nothing here calls a model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from langchain_core.prompts import PromptTemplate

from assistant.errors import ConfigError
from assistant.schema import Chunk

# file -> (required placeholders, optional placeholders)
PROMPT_FILES = {
    "answer_system": ({"passages"}, set()),
    "answer_user": ({"question"}, {"hint"}),
    "rewrite_user": ({"history", "question"}, set()),
    "rewrite_system": (set(), set()),
}
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”")


@dataclass(frozen=True)
class Prompts:
    """The prompt templates, read from prompts_dir at start-up."""

    answer_system: PromptTemplate
    answer_user: PromptTemplate
    rewrite_user: PromptTemplate
    rewrite_system: PromptTemplate

    def literal_text(self) -> str:
        """The templates' own words: what must never be echoed back.

        Placeholders and double-quoted phrases (replies the prompt asks for, such as the
        refusal) are left out.
        """
        texts = (re.sub(r"\{[a-z_]+\}", " ", t.template) for t in self.__dict__.values())
        return "\n".join(_QUOTED.sub(" | ", text) for text in texts)

    def digests(self) -> tuple[tuple[str, str], ...]:
        """(file, sha256 of its template) for each prompt file: what a saved prompt state records."""
        return tuple((f"{name}.md", hashlib.sha256(t.template.encode("utf-8")).hexdigest())
                     for name, t in sorted(self.__dict__.items()))

    def refusals(self) -> list[str]:
        """Quoted sentences in the answer instructions: replies meaning "the passages don't say"."""
        quoted = (a or b for a, b in _QUOTED.findall(self.answer_system.template))
        return [q for q in quoted if len(q.split()) >= 3 and q.rstrip()[-1:] in ".!"]


def load_prompts(directory: Path) -> Prompts:
    """Read and check the templates; ConfigError names a missing file or a wrong placeholder."""
    templates = {name: read_template(Path(directory) / f"{name}.md", required, optional)
                 for name, (required, optional) in PROMPT_FILES.items()}
    return Prompts(**templates)


def read_template(path: Path, required: set[str], optional: set[str]) -> PromptTemplate:
    """One prompt file as a template; ConfigError when it is unreadable or its placeholders are
    not the `required` ones (plus any of the `optional` ones)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the prompt {path}: {exc}") from None
    try:
        template = PromptTemplate.from_template(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}; write literal braces as {{{{ and }}}}") from None
    found = set(template.input_variables)
    if not required <= found or not found <= required | optional:
        expected = ", ".join(f"{{{v}}}" for v in sorted(required | optional)) or "none"
        raise ConfigError(f"{path} uses {sorted(found) or 'no'} placeholders; expected {expected}")
    return template


def number_passages(chunks: Sequence[Chunk]) -> list[tuple[Chunk, str]]:
    """Chunks with the text to show for each, minus the sentences the previous chunk already showed.

    Neighbouring chunks overlap by a sentence; repeating it would cost tokens and blur which number
    to cite. Marker n still cites the whole chunk n, which contains the shown text.
    """
    numbered: list[tuple[Chunk, str]] = []
    previous: Chunk | None = None
    for chunk in chunks:
        text = chunk.text
        if previous and previous.source == chunk.source and chunk.start < previous.end:
            text = chunk.text[max(0, previous.end - chunk.start):].strip()
        if text:
            numbered.append((chunk, text))
            previous = chunk
    return numbered


def format_passages(numbered: Sequence[tuple[Chunk, str]]) -> str:
    """The passages block of the prompt: "[n] text" lines, labelled by source when there are several."""
    several = len({chunk.source for chunk, _ in numbered}) > 1
    return "\n".join(
        f"[{n}] " + (f"({chunk.source}) " if several else "") + text
        for n, (chunk, text) in enumerate(numbered, start=1)
    )


class LeakGuard:
    """Stops an answer that starts reciting the instructions, before those words are shown.

    Any run of `n` words from the prompt templates (that is not also in the document) counts as a
    leak. Words that could begin such a run are held back until the run is ruled out; so is a word
    still being written ("Th") that could become one, while any other is shown as it arrives
    ("Mad" of "Madame"), so the first words appear a token or two sooner.
    """

    def __init__(self, secret: str, public: str, n: int = 5) -> None:
        self.n = n
        public_runs = set(self._runs(self._words(public)))
        self.runs = {r for r in self._runs(self._words(secret)) if r not in public_runs}
        self.starts = {r[:i] for r in self.runs for i in range(1, n)}
        # the same starts with their last word cut short anywhere: ("the", "stu") of "the student"
        self.unfinished = {s[:-1] + (s[-1][:j],) for s in self.starts | self.runs
                           for j in range(1, len(s[-1]) + 1)}

    @staticmethod
    def _words(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+", text.lower().replace("’", "'").replace("'", ""))

    def _runs(self, words: list[str]) -> Iterator[tuple[str, ...]]:
        for i in range(len(words) - self.n + 1):
            yield tuple(words[i : i + self.n])

    def scan(self, text: str) -> tuple[int, bool]:
        """(how much of `text` is safe to show, whether it already recites the instructions)."""
        matches = list(re.finditer(r"[A-Za-z0-9'’]+", text))
        words = [m.group(0).lower().replace("’", "").replace("'", "") for m in matches]
        if any(run in self.runs for run in self._runs(words)):
            return 0, True
        if not words:
            return len(text), False
        # the last word may still be growing: it could become any word it is the beginning of
        starts = self.unfinished if text[-1].isalnum() or text[-1] in "'’" else self.starts
        held = len(words)  # index of the first held-back word
        for length in range(min(self.n, len(words)), 0, -1):
            if tuple(words[-length:]) in starts:
                held = len(words) - length
                break
        if held >= len(matches):
            return len(text), False
        return matches[held].start(), False
