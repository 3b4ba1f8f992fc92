"""One document of an index read as an essay: its paragraphs, their sentences, and what each
sentence carries (page citations, quotations), with the passage that holds it.

The study builders (map.py, practice.py, blanks.py) read documents through this view instead of
the index's parallel lists. Leaves out deciding what is a thesis or a key sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.answering.parts import paragraph_rows
from assistant.index import LoadedIndex
from assistant.schema import Chunk
from assistant.study.aids import Ref
from assistant.text import quotations

_ENDS_SENTENCE = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*\s*$")


@dataclass(frozen=True)
class Sentence:
    """A sentence of the document, where it is and what it cites."""

    row: int  # its row in the index's sentence list
    paragraph: int  # 1-based
    start: int
    end: int
    text: str
    chunk: Chunk  # the first passage that holds it
    pages: tuple[str, ...]  # pages its parenthetical citations name
    citations: tuple[tuple[int, int], ...]  # (start, end) of each citation, sentence offsets

    @property
    def words(self) -> int:
        return len(self.text.split())

    def is_question(self) -> bool:
        return self.text.rstrip("\"'\u201d\u2019)] ").endswith("?")

    def quoted_share(self) -> float:
        """How much of the sentence is inside double quotes (0 to 1)."""
        quoted = sum(end - start for _, start, end in quotations(self.text))
        return quoted / max(1, len(self.text))

    def ref(self) -> Ref:
        return Ref(self.chunk.source, self.chunk.chunk_id, self.paragraph, self.start, self.end,
                   self.text, self.pages)

    def plain(self) -> str:
        """The sentence with its parenthetical citations blanked out (offsets kept)."""
        text = self.text
        for start, end in self.citations:
            text = text[:start] + " " * (end - start) + text[end:]
        return text


@dataclass(frozen=True)
class Essay:
    """A document's sentences, paragraph by paragraph, in reading order."""

    source: str
    text: str
    paragraphs: tuple[tuple[Sentence, ...], ...]  # every paragraph, empty ones included

    @classmethod
    def from_index(cls, index: LoadedIndex, source: str) -> Essay:
        doc = index.documents[source]
        owner: dict[int, Chunk] = {}
        for chunk, rows in zip(index.chunks, index.chunk_sentences):
            if chunk.source == source:
                for row in rows:
                    owner.setdefault(row, chunk)
        cited = [(c.start, c.end, c.page) for chunk in index.chunks if chunk.source == source
                 for c in chunk.citations]
        paragraphs = []
        for number, rows in enumerate(paragraph_rows(index, source), start=1):
            sentences = []
            for row in rows:
                if row not in owner:
                    continue
                _src, start, end = index.sentences[row]
                inside = sorted({(s, e, p) for s, e, p in cited if start <= s < end})
                sentences.append(Sentence(
                    row, number, start, end, doc.text[start:end], owner[row],
                    tuple(dict.fromkeys(p for _, _, p in inside)),
                    tuple((s - start, min(e, end) - start) for s, e, _ in inside)))
            paragraphs.append(tuple(sentences))
        return cls(source, doc.text, tuple(paragraphs))

    @property
    def sentences(self) -> list[Sentence]:
        return [s for paragraph in self.paragraphs for s in paragraph]

    def prose(self) -> list[tuple[Sentence, ...]]:
        """The paragraphs that end as sentences do: not titles, headings or empty lines."""
        return [p for p in self.paragraphs if p and _ENDS_SENTENCE.search(p[-1].text)]

    def words(self) -> int:
        return sum(s.words for s in self.sentences)
