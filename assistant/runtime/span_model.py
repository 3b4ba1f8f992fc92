"""Run the trained answer-span model with ONNX Runtime: a question and a short context in, the
words of the context that answer it out, with how sure it is that the context answers it at all.

The model (all-MiniLM-L6-v2 fine-tuned for extractive question answering on SQuAD training
articles, with "no answer here" as a choice) ships in assistant/data/answer-span/ with a manifest
of its sha256s and the threshold chosen on training data; `make answer-span` retrains it
(training/answer_span.py). Leaves out what a caller does with the answer.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.errors import ModelError
from assistant.runtime.onnx_model import file_sha256, pair_tokenizer, session

MODEL_DIR = Path(__file__).resolve().parent.parent / "data" / "answer-span"
FORMAT = 1
REBUILD = "make answer-span"
MAX_LENGTH = 192  # tokens of question and context together, as in training
MAX_ANSWER_TOKENS = 24
AGREE = 0.5  # token F1 at which the model's answer and another are the same answer
BATCH = 32


@dataclass(frozen=True)
class Span:
    """The model's answer: `text` is context[start:end]; `margin` is the best span's score minus
    the score of "the context does not answer it" (negative: it thinks there is no answer)."""

    text: str
    start: int
    end: int
    margin: float


class SpanModel:
    """Answers for (question, context) pairs; the ONNX session starts on first use."""

    def __init__(self, model: Path, tokenizer: Path, threshold: float = 0.0, digest: str = "") -> None:
        self.model_path, self.tokenizer_path = Path(model), Path(tokenizer)
        self.threshold = threshold  # the margin at or above which an answer is trusted
        self.digest = digest  # the model file's sha256, as its manifest records it
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, directory: Path = MODEL_DIR) -> SpanModel:
        """The shipped model, its files checked against the manifest; ModelError when one is
        missing, damaged or of another format (with the command that rebuilds them)."""
        manifest_path = directory / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"answer-span model manifest {manifest_path} unreadable ({exc}); "
                             f"rebuild it with `{REBUILD}`") from exc
        if manifest.get("format") != FORMAT:
            raise ModelError(f"answer-span model in {directory} has format "
                             f"{manifest.get('format')!r}, expected {FORMAT}; rebuild it with `{REBUILD}`")
        paths = {}
        for key in ("model", "tokenizer"):
            entry = manifest["files"][key]
            path = directory / entry["name"]
            if not path.is_file() or file_sha256(path) != entry["sha256"]:
                raise ModelError(f"answer-span {key} file {path} is missing or does not match its "
                                 f"manifest; rebuild it with `{REBUILD}`")
            paths[key] = path
        return cls(paths["model"], paths["tokenizer"], float(manifest["threshold"]),
                   manifest["files"]["model"]["sha256"])

    def answer(self, question: str, context: str) -> Span:
        return self.answers([(question, context)])[0]

    def answers(self, pairs: Sequence[tuple[str, str]]) -> list[Span]:
        session, tokenizer = self._load()
        out: list[Span] = []
        for first in range(0, len(pairs), BATCH):
            batch = pairs[first : first + BATCH]
            encoded = tokenizer.encode_batch(list(batch))
            feed = {
                "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
            }
            starts, ends = session.run(None, feed)
            for (_, context), e, s, t in zip(batch, encoded, starts, ends):
                out.append(_best(context, e, s, t))
        return out

    def _load(self):  # noqa: ANN202
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._tokenizer = pair_tokenizer(self.tokenizer_path, MAX_LENGTH,
                                                     "only_second")
                    self._session = session(self.model_path)
        return self._session, self._tokenizer


def _best(context: str, encoding, start_logits: np.ndarray, end_logits: np.ndarray) -> Span:  # noqa: ANN001
    """The highest-scoring span of context tokens no longer than MAX_ANSWER_TOKENS."""
    inside = np.array([sid == 1 for sid in encoding.sequence_ids])
    rows = np.flatnonzero(inside)
    null = float(start_logits[0] + end_logits[0])
    if rows.size == 0:
        return Span("", 0, 0, float("-inf"))
    s, e = start_logits[rows], end_logits[rows]
    grid = s[:, None] + e[None, :]
    i, j = np.indices(grid.shape)
    grid = np.where((j >= i) & (j - i < MAX_ANSWER_TOKENS), grid, -np.inf)
    a, b = np.unravel_index(int(np.argmax(grid)), grid.shape)
    start, end = encoding.offsets[rows[a]][0], encoding.offsets[rows[b]][1]
    return Span(context[start:end], start, end, float(grid[a, b]) - null)


def agree_f1(found: str, stated: str) -> float:
    """Token F1 of two answers, SQuAD's way (lower case, no punctuation or articles)."""
    a, b = _tokens(found), _tokens(stated)
    common = sum(min(a.count(w), b.count(w)) for w in set(a))
    if not common:
        return 0.0
    precision, recall = common / len(a), common / len(b)
    return 2 * precision * recall / (precision + recall)


def _tokens(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", re.sub(r"'s\b", "", text.lower().replace("’", "'")))
    return [w for w in words if w not in ("a", "an", "the")]

