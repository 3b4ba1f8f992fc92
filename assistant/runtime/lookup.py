"""Prompt lookup decoding for the embedded model: guess the next tokens from the prompt itself.

Answers copy the passages' own words (the prompt asks them to), so after the last few tokens written
the next ones are often the tokens that followed the same few tokens earlier in the prompt. Each
step hands llama.cpp the next token and up to `draft_tokens` such guesses in one batch; greedy
decoding keeps the guesses it would have chosen anyway and drops the rest, so the text is the one
the model writes alone (up to float rounding between batch sizes), in fewer model calls. On a
2-core machine one token took 103 ms and a batch of 4 took 158 ms (3 took 178: 4 suits the
kernels), so 3 guesses a step; BENCHMARKS.md has the decode rate with and without.

llama-cpp-python (pinned in pyproject.toml) has the loop (`Llama(draft_model=...)`) but keeps the
logits of every token it ever evaluated once a draft model is set (context x vocabulary floats,
2.5 GB here), and hands logits processors the unchecked guesses as if written. `LookupLlama`
keeps only the logits sampling reads and shows processors the text up to the token being chosen.
Imported by llm.py only when the model loads, so llama_cpp is imported here at the top.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from llama_cpp import Llama
from llama_cpp.llama_speculative import LlamaDraftModel

LONGEST_MATCH = 3  # tokens of the text so far looked up in the prompt, the longest first
SHORTEST_MATCH = 2  # a single token recurs too often to say what follows


def draft(tokens: np.ndarray, count: int, longest: int = LONGEST_MATCH,
          shortest: int = SHORTEST_MATCH) -> np.ndarray:
    """Up to `count` tokens that followed the first earlier occurrence of the last n tokens, for
    the largest n from `longest` down to `shortest` that occurs; empty when none does."""
    for n in range(longest, shortest - 1, -1):
        if len(tokens) <= n:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(tokens[:-1], n)
        found = np.flatnonzero(np.all(windows == tokens[-n:], axis=1))
        if len(found):  # the first: the document, not the answer being written
            start = int(found[0]) + n
            return np.asarray(tokens[start:start + count], dtype=np.intc)
    return np.zeros(0, dtype=np.intc)


class PromptLookup(LlamaDraftModel):
    """llama-cpp-python's draft-model interface over `draft`."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __call__(self, input_ids: np.ndarray, /, **kwargs: Any) -> np.ndarray:
        return draft(input_ids, self.count)


class LookupLlama(Llama):
    """A llama_cpp.Llama that decodes with PromptLookup guesses; counts its calls and tokens."""

    def __init__(self, *args: Any, draft_tokens: int = 3, **kwargs: Any) -> None:
        self._batch_limit = draft_tokens + 1  # a step: the chosen token and its guesses
        self._sampling_at: int | None = None
        self.steps = 0  # model calls while generating (batches no longer than a step)
        self.sampled = 0  # tokens chosen, guessed or not
        super().__init__(*args, draft_model=PromptLookup(draft_tokens), **kwargs)

    def eval(self, tokens: Sequence[int]) -> None:
        """Llama.eval without its copy of every token's logits: a prompt keeps only its last
        token's logits (as without a draft model); a step keeps all of its own, for sampling."""
        step = len(tokens) <= self._batch_limit
        self._ctx.kv_cache_seq_rm(-1, self.n_tokens, -1)
        for i in range(0, len(tokens), self.n_batch):
            batch = list(tokens[i:i + self.n_batch])
            self._batch.set_batch(batch=batch, n_past=self.n_tokens, logits_all=step)
            self._ctx.decode(self._batch)
            self.input_ids[self.n_tokens:self.n_tokens + len(batch)] = batch
            self.n_tokens += len(batch)
            self._requires_eval = False
        self.steps += step

    def sample(self, *args: Any, idx: int | None = None, **kwargs: Any) -> int:
        self._sampling_at = idx
        self.sampled += 1
        return super().sample(*args, idx=idx, **kwargs)

    def _init_sampler(self, *args: Any, logits_processor: Any = None, **kwargs: Any) -> Any:
        if logits_processor is not None:
            logits_processor = [self._before_guesses(p) for p in logits_processor]
        return super()._init_sampler(*args, logits_processor=logits_processor, **kwargs)

    def _before_guesses(self, processor: Any) -> Any:
        """`processor` shown the tokens up to the one being chosen, not the guesses after it."""

        def process(_input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
            end = self.n_tokens if self._sampling_at is None else self._sampling_at + 1
            return processor(self.input_ids[:end], scores)

        return process
