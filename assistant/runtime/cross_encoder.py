"""Run the trained cross-encoder with ONNX Runtime: (question, sentence) pairs in, logits out.

The model (a fine-tuned all-MiniLM-L6-v2 with one output) reads a question and a sentence
together, which a bi-encoder's cosine cannot: how the sentence answers what is asked. Its file and
tokenizer ship in assistant/reader/model/ (reader.py checks them); `make reader` retrains it.
Leaves out training (training/cross_encoder.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from assistant.runtime.onnx_model import pair_tokenizer, session

MAX_LENGTH = 128  # tokens of question and sentence together, as in training
BATCH = 64


class CrossEncoder:
    """Logits for (question, sentence) pairs; the ONNX session starts on first use."""

    def __init__(self, model: Path, tokenizer: Path, threads: int | None = None) -> None:
        self.model_path, self.tokenizer_path = Path(model), Path(tokenizer)
        self._threads = threads or len(os.sched_getaffinity(0))  # for many pairs at once
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def scores(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """One logit per sentence: higher is a better answer to `question`."""
        return self.score_pairs([(question, s) for s in sentences])

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        session, tokenizer = self._load()
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        groups = [order[start : start + BATCH] for start in range(0, len(order), BATCH)]

        def run(rows: list[int]) -> np.ndarray:
            encoded = tokenizer.encode_batch([pairs[i] for i in rows])
            feed = {
                "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
            }
            return session.run(None, feed)[0][:, 0]

        if len(groups) == 1 or self._threads == 1:
            results = [run(rows) for rows in groups]
        else:  # a batch (an evaluation): its runs side by side on every core, in threads that end
            with ThreadPoolExecutor(self._threads, thread_name_prefix="cross-encoder") as pool:
                results = list(pool.map(run, groups))
        out = np.empty(len(pairs), dtype=np.float32)
        for rows, logits in zip(groups, results):
            out[rows] = logits
        return out

    def _load(self):  # noqa: ANN202
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._tokenizer = pair_tokenizer(self.tokenizer_path, MAX_LENGTH)
                    self._session = session(self.model_path)
        return self._session, self._tokenizer
