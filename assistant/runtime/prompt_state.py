"""llama.cpp's evaluated prompt prefix for one document, saved beside its index and restored.

Explain keeps a document whole in its prompt: the system instructions, the numbered passages and
the fixed start of the question turn are the same for every question. Evaluating them costs about
a second per 140 tokens on 2 cores (35 s for a 3,700-word essay); restoring the saved key/value
cache costs a fraction of a second, after which a question pays only for its own tokens.

A state file is our own format, never a pickle: an 8-byte magic, a little-endian u32 header
length, a JSON header (what the state was made for and the sizes and sha256 of the two blobs),
the prefix tokens (int32) and llama.cpp's state bytes. A file made for another model, prompt,
context size or llama.cpp version, or one that is truncated or altered, is refused with the
reason (StateMismatch); the caller rebuilds it. Writing goes through a temporary file and an
atomic rename, so a reader never sees half a file and two writers leave one whole one.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

FORMAT = 1
MAGIC = b"SAPSTATE"
MAX_HEADER_BYTES = 1 << 20
FILE_NAME = "explain-state.bin"  # in the index directory


class StateMismatch(Exception):
    """A state file that cannot be used; the message says why (for the log)."""


@dataclass(frozen=True)
class StateKey:
    """What a saved state was evaluated for; a state restores only into the same."""

    model_sha256: str
    llama_cpp: str  # llama-cpp-python's version: its state layout is llama.cpp's
    n_ctx: int
    prompts: tuple[tuple[str, str], ...]  # (prompt file, its sha256)
    prefix_sha256: str  # of the prefix tokens: the document and the prompts as evaluated

    def describe_difference(self, other: dict) -> str:
        """Why a header's key is not this one, in words."""
        reasons = {
            "model_sha256": "another model",
            "llama_cpp": "another llama.cpp version",
            "n_ctx": "another context size",
            "prompts": "other prompt files",
            "prefix_sha256": "another version of the document",
        }
        mine = json.loads(json.dumps(asdict(self)))
        for name, reason in reasons.items():
            if other.get(name) != mine[name]:
                return f"made for {reason}"
        return "made for something else"


@dataclass(frozen=True)
class SavedState:
    """A prefix's tokens and llama.cpp's state after evaluating them."""

    key: StateKey
    tokens: np.ndarray  # int32
    data: bytearray  # llama_state_get_data's bytes (writable: llama.cpp reads it in place)

    @property
    def nbytes(self) -> int:
        return len(self.data) + self.tokens.nbytes


def write_state(path: Path, state: SavedState) -> int:
    """Write `state` to `path` atomically; the bytes written. OSError (a full disk, say) leaves
    any previous file as it was and no temporary file behind."""
    path = Path(path)
    tokens = np.ascontiguousarray(state.tokens, dtype="<i4").tobytes()
    header = json.dumps({
        "format": FORMAT,
        "key": asdict(state.key),
        "tokens": {"count": len(state.tokens), "sha256": hashlib.sha256(tokens).hexdigest()},
        "state": {"bytes": len(state.data), "sha256": hashlib.sha256(state.data).hexdigest()},
    }, sort_keys=True).encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(MAGIC + struct.pack("<I", len(header)) + header)
            out.write(tokens)
            out.write(state.data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(MAGIC) + 4 + len(header) + len(tokens) + len(state.data)


def read_state(path: Path, key: StateKey) -> SavedState:
    """The state saved at `path` for `key`; FileNotFoundError when there is none, StateMismatch
    when it is unusable (truncated, altered, or made for something else)."""
    with open(path, "rb") as f:
        head = f.read(len(MAGIC) + 4)
        if len(head) < len(MAGIC) + 4 or head[: len(MAGIC)] != MAGIC:
            raise StateMismatch("not a saved prompt state")
        (size,) = struct.unpack("<I", head[len(MAGIC):])
        if size > MAX_HEADER_BYTES:
            raise StateMismatch("its header is damaged")
        try:
            header = json.loads(f.read(size))
            if header.get("format") != FORMAT:
                raise StateMismatch(f"format {header.get('format')!r}, not {FORMAT}")
            if header["key"] != json.loads(json.dumps(asdict(key))):
                raise StateMismatch(key.describe_difference(header["key"]))
            count, state_bytes = int(header["tokens"]["count"]), int(header["state"]["bytes"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise StateMismatch("its header is damaged") from None
        tokens = f.read(count * 4)
        data = bytearray(state_bytes)
        read = f.readinto(data)
        if len(tokens) < count * 4 or read < state_bytes:
            raise StateMismatch("the file is truncated")
        if f.read(1):
            raise StateMismatch("the file has bytes after its end")
    if (hashlib.sha256(tokens).hexdigest() != header["tokens"]["sha256"]
            or hashlib.sha256(data).hexdigest() != header["state"]["sha256"]):
        raise StateMismatch("its contents do not match their checksums")
    return SavedState(key=key, tokens=np.frombuffer(tokens, dtype="<i4").astype(np.intc), data=data)


class StateCache:
    """The most recently used states in memory, by prefix; the rest stay on disk."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._states: OrderedDict[str, SavedState] = OrderedDict()

    def get(self, prefix_sha256: str) -> SavedState | None:
        state = self._states.get(prefix_sha256)
        if state is not None:
            self._states.move_to_end(prefix_sha256)
        return state

    def put(self, state: SavedState) -> None:
        if self.capacity < 1:
            return
        self._states[state.key.prefix_sha256] = state
        self._states.move_to_end(state.key.prefix_sha256)
        while len(self._states) > self.capacity:
            self._states.popitem(last=False)

    def __len__(self) -> int:
        return len(self._states)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._states.values())


def tokens_sha256(tokens: np.ndarray | list[int]) -> str:
    return hashlib.sha256(np.asarray(tokens, dtype="<i4").tobytes()).hexdigest()
