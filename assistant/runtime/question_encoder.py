"""Embed questions with the same all-MiniLM-L6-v2, exported once to ONNX and run by ONNX Runtime.

Passages are embedded by sentence-transformers (embeddings.py). For a question of a few tokens,
ONNX Runtime computes the same vector (cosine 1.0 to sentence-transformers', tested) in 8-9 ms
where sentence-transformers takes 17-21 ms on this 2-core machine, and a server that only embeds
questions never imports PyTorch at all (5 s of start-up and about 290 MB, BENCHMARKS.md).

The export is made from the sentence-transformers model the first time it is needed (or by
`assistant model install`) and kept in the model cache under a key of the model's files and this
module's format, written atomically. Leaves out: models other than a BERT-style
transformer with mean pooling (those return None here and keep using sentence-transformers).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from assistant.errors import ModelError

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the exported graph or its inputs change
OPSET = 17
BATCH = 32  # texts per run, sorted by length so little is padding
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_MB = 1 << 20


class QuestionEncoder:
    """Texts -> normalized float32 vectors with ONNX Runtime; the session starts on first use."""

    def __init__(self, model_dir: Path, cache_dir: Path, threads: int | None = None,
                 export_from: Callable[[], object] | None = None) -> None:
        """`export_from`: returns the loaded SentenceTransformer to export when the cache has
        none."""
        self.model_dir = Path(model_dir)
        self._export_from = export_from
        self.path = Path(cache_dir).expanduser() / "embedder" / f"{_key(self.model_dir)}.onnx"
        self._threads = threads or len(os.sched_getaffinity(0))  # for batches
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts as a (len(texts), dimension) float32 array of unit vectors."""
        session, tokenizer = self._load()
        if not texts:
            return np.zeros((0, session.get_outputs()[0].shape[-1]), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        groups = [order[start:start + BATCH] for start in range(0, len(order), BATCH)]

        def run(rows: list[int]) -> np.ndarray:
            return self._run(session, tokenizer, [texts[i] for i in rows])

        if len(groups) == 1 or self._threads == 1:
            results = [run(rows) for rows in groups]
        else:  # a batch: its runs side by side on every core, in threads that end with it
            with ThreadPoolExecutor(self._threads, thread_name_prefix="embed-questions") as pool:
                results = list(pool.map(run, groups))
        out = np.empty((len(texts), results[0].shape[1]), dtype=np.float32)
        for rows, vectors in zip(groups, results):
            out[rows] = vectors
        return out

    def _run(self, session, tokenizer, texts: list[str]) -> np.ndarray:  # noqa: ANN001
        encoded = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        names = {i.name for i in session.get_inputs()}
        hidden = session.run(None, {k: v for k, v in feed.items() if k in names})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def _load(self):  # noqa: ANN202
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._tokenizer = _tokenizer(self.model_dir)
                    self._session = self._open()
        return self._session, self._tokenizer

    def _open(self):  # noqa: ANN202
        import onnxruntime

        # One thread a run: a server's concurrent questions (and the local LLM) get the other
        # cores, and a batch runs several of them at once (encode). No pool is left to spin.
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3

        def session():  # noqa: ANN202
            return onnxruntime.InferenceSession(str(self.path), options,
                                                providers=["CPUExecutionProvider"])

        if self.path.is_file():
            try:
                return session()
            except Exception as exc:  # onnxruntime raises its own untyped errors for a bad file
                log.warning("exporting the question encoder again: %s is unusable (%s)",
                            self.path, exc)
        log.info("exporting the embedding model to ONNX for questions (once): %s", self.path)
        if self._export_from is None:
            raise ModelError(f"no question encoder at {self.path} and no model to export it from")
        export(self._export_from(), self.path)
        try:
            return session()
        except Exception as exc:
            raise ModelError(f"the question encoder exported to {self.path} is unusable: {exc}"
                             ) from exc


def pooling_layout(path: Path) -> tuple[list[str], set[str], dict] | None:
    """A sentence-transformers folder's module kinds (Transformer, Pooling, ...), the pooling modes
    that are on and the pooling layer's config; None when they cannot be read."""
    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = next(m for m in modules if m["type"].endswith("Pooling"))
        config = json.loads((path / pooling["path"] / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None
    modes = {key for key, on in config.items() if key.startswith("pooling_mode") and on is True}
    return kinds, modes, config



def supported(model_dir: Path) -> bool:
    """Whether the folder is a transformer with mean pooling, which this module reproduces."""
    layout = pooling_layout(model_dir)
    if layout is None:
        return False
    kinds, modes, _config = layout
    return (kinds in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
            and modes == {"pooling_mode_mean_tokens"}
            and (model_dir / "tokenizer.json").is_file())


def export(model, target: Path) -> None:  # noqa: ANN001 - a SentenceTransformer
    """Export a sentence-transformers model's transformer to `target`, atomically."""
    import torch

    transformer = model[0].auto_model.eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN202
            return self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                    token_type_ids=token_type_ids).last_hidden_state

    example = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in _INPUTS)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
            torch.onnx.export(LastHiddenState(), example, tmp, input_names=list(_INPUTS),
                              output_names=["last_hidden_state"], dynamic_axes=axes,
                              opset_version=OPSET, dynamo=False)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the cache from other users of it
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _tokenizer(model_dir: Path):  # noqa: ANN202
    """The model's fast tokenizer, truncating and padding as sentence-transformers does."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    config = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
    tokenizer.enable_truncation(max_length=int(config["max_seq_length"]))
    padding = tokenizer.padding or {}
    tokenizer.enable_padding(pad_id=padding.get("pad_id", 0),
                             pad_token=padding.get("pad_token", "[PAD]"))  # to the longest
    return tokenizer


def _key(model_dir: Path) -> str:
    """A name for the export that changes whenever the model's files do, and only then (every
    checkout's own virtualenv shares one export): the files' names, sizes and contents, the
    weights read at their first and last MB (a changed weight file changes its header and tail)."""
    digest = hashlib.sha256(f"format {FORMAT} opset {OPSET}".encode())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(model_dir).as_posix()} {size}\n".encode())
        with path.open("rb") as f:
            if size <= 2 * _MB:
                digest.update(f.read())
            else:
                digest.update(f.read(_MB))
                f.seek(-_MB, os.SEEK_END)
                digest.update(f.read(_MB))
    return f"question-encoder-{digest.hexdigest()[:16]}"
