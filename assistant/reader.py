"""Learned scoring: which candidate sentences answer a question, and whether any of them does.

Candidates are the sentences of the top passages retrieval found. Each gets features (its cosine
with the question, its share of the question's words, the cross-encoder's logit, each of those
against the best candidate's, and its passage's cosine, BM25 and rank); a logistic combiner
turns them into the probability that the sentence holds the answer. The question is answered when
the best probability reaches the threshold calibrated at training time, on training data only.
All weights ship in assistant/data/reader/ with a manifest of their sha256s; `make reader`
retrains them (training/). Leaves out choosing how many sentences to quote (answering/).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from assistant.errors import ModelError
from assistant.retrieval import Hits
from assistant.runtime.cross_encoder import CrossEncoder
from assistant.runtime.onnx_model import file_sha256
from assistant.schema import Passage

MODEL_DIR = Path(__file__).resolve().parent / "data" / "reader"
FORMAT = 1
REBUILD = "make reader"
FEATURES = (
    "cosine", "overlap", "cross", "cosine_gap", "overlap_gap", "cross_gap",
    "passage_cosine", "passage_bm25", "passage_rank", "log_chars", "cosine_rank", "cross_rank",
)  # fmt: skip


@dataclass(frozen=True)
class Combiner:
    """A logistic regression over standardized features."""

    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray

    def logits(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.weights + self.bias

    def to_dict(self) -> dict:
        return {"weights": self.weights.tolist(), "bias": self.bias, "mean": self.mean.tolist(),
                "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Combiner:
        return cls(np.asarray(data["weights"], dtype=np.float64), float(data["bias"]),
                   np.asarray(data["mean"], dtype=np.float64),
                   np.asarray(data["scale"], dtype=np.float64))


@dataclass(frozen=True)
class Candidate:
    """A sentence that may answer: its row in the index's sentence list and its passage."""

    row: int
    passage: Passage
    text: str


def features(hits: Hits, candidates: Sequence[Candidate], cross: np.ndarray) -> np.ndarray:
    """The (candidates, FEATURES) matrix the combiner reads."""
    rows = np.array([c.row for c in candidates])
    cosine = hits.sentence_cosine[rows].astype(np.float64)
    overlap = hits.sentence_overlap[rows].astype(np.float64)
    cross = np.asarray(cross, dtype=np.float64)
    top_bm25 = max((p.lexical for p in hits.passages), default=0.0) or 1.0
    return np.column_stack([
        cosine, overlap, cross,
        cosine - cosine.max(), overlap - overlap.max(), cross - cross.max(),
        [c.passage.dense for c in candidates],
        [c.passage.lexical / top_bm25 for c in candidates],
        [1.0 / c.passage.rank for c in candidates],
        [np.log1p(len(c.text)) for c in candidates],
        1.0 / (1 + _ranks(cosine)), 1.0 / (1 + _ranks(cross)),
    ])


def _ranks(values: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(values))
    ranks[np.argsort(-values, kind="stable")] = np.arange(len(values))
    return ranks


@dataclass(frozen=True)
class Reading:
    """One question's candidates, scored."""

    candidates: tuple[Candidate, ...]
    probabilities: np.ndarray  # that each candidate holds the answer
    answerable: bool  # the best probability reaches the answer threshold
    near: bool  # not answerable, but close enough to offer the best sentence

    @property
    def best(self) -> float:
        return float(self.probabilities.max()) if len(self.probabilities) else 0.0


class Reader:
    """The cross-encoder and the combiner, with the thresholds calibrated for them."""

    def __init__(self, cross: CrossEncoder, combiner: Combiner, answer_threshold: float,
                 near_threshold: float) -> None:
        self.cross = cross
        self.combiner = combiner
        self.answer_threshold = answer_threshold
        self.near_threshold = near_threshold

    @classmethod
    def load(cls, directory: Path = MODEL_DIR) -> Reader:
        """The reader shipped in `directory`; ModelError naming the rebuild command when a file is
        missing, altered or of another format."""
        manifest = read_manifest(directory)
        combiner = json.loads((directory / manifest["files"]["combiner"]["name"]).read_text())
        return cls(
            CrossEncoder(directory / manifest["files"]["cross_encoder"]["name"],
                         directory / manifest["files"]["tokenizer"]["name"]),
            Combiner.from_dict(combiner["combiner"]),
            float(combiner["answer_threshold"]),
            float(combiner["near_threshold"]),
        )

    def read(self, hits: Hits, candidates: Sequence[Candidate]) -> Reading:
        return self.read_many([(hits, candidates)])[0]

    def read_many(self, searches: Sequence[tuple[Hits, Sequence[Candidate]]]) -> list[Reading]:
        """Readings of several searches, their pairs scored by the cross-encoder in one call."""
        pairs = [(hits.question, c.text) for hits, candidates in searches for c in candidates]
        cross, at, readings = self.cross.score_pairs(pairs), 0, []
        for hits, candidates in searches:
            if not candidates:
                readings.append(Reading((), np.zeros(0), False, False))
                continue
            logits = self.combiner.logits(features(hits, candidates, cross[at : at + len(candidates)]))
            at += len(candidates)
            probabilities = 1.0 / (1.0 + np.exp(-logits))
            best = float(probabilities.max())
            readings.append(Reading(tuple(candidates), probabilities, best >= self.answer_threshold,
                                    self.near_threshold <= best < self.answer_threshold))
        return readings


@lru_cache(maxsize=1)
def shared_reader(directory: Path = MODEL_DIR) -> Reader:
    """The process-wide reader: its files are checked once and its session starts once."""
    return Reader.load(directory)


def read_manifest(directory: Path) -> dict:
    """The reader's manifest, every file it names checked against its sha256."""
    def refuse(why: str) -> ModelError:
        return ModelError(f"the trained reader in {directory} {why}; rebuild it with `{REBUILD}` "
                          "or restore the files from the repository")

    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        files = manifest["files"]
        if manifest.get("format") != FORMAT:
            raise refuse(f"is of format {manifest.get('format')!r}, not {FORMAT}")
        for entry in files.values():
            if file_sha256(directory / entry["name"]) != entry["sha256"]:
                raise refuse(f"has a changed or damaged {entry['name']}")
    except FileNotFoundError as exc:
        raise refuse(f"is missing {Path(exc.filename).name}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise refuse(f"cannot be read ({type(exc).__name__}: {exc})") from None
    return manifest

