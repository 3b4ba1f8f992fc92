"""What the ONNX models trained here share: a one-thread ONNX Runtime session, a tokenizer for
(question, text) pairs, and the sha256 their manifests record.

Used by cross_encoder.py (the reader's cross-encoder) and span_model.py (the answer-span model).
Leaves out running the models and reading their outputs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def session(model: Path):  # noqa: ANN201 - onnxruntime.InferenceSession
    """An ONNX Runtime session on one thread: a server's concurrent questions and the local LLM
    get the other cores."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def pair_tokenizer(path: Path, max_length: int, strategy: str = "longest_first"):  # noqa: ANN201
    """The tokenizer of `path` for (question, text) pairs: cut to `max_length` tokens together
    (`strategy` "only_second" cuts the text alone), padded to the longest of a batch."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=max_length, strategy=strategy)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
