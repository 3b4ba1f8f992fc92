"""Build, save and load an index: FAISS vectors, passages as JSONL, and a manifest that describes them.

Layout of `indexes/<name>/`:
  manifest.json              format version, model, dimension, chunking, sources (sha256), data files
  chunks-<hash>.jsonl        one passage a line (with the labels of the PDF pages it is on)
  documents-<hash>.jsonl     the cleaned documents (for highlighting and sentence lookup; PDF pages)
  vectors-<hash>.faiss       passage vectors (inner product over unit vectors)
  sentences-<hash>.npy       one vector per distinct sentence...
  sentrows-<hash>.jsonl      ...and where each of those sentences is (source, start, end)
The manifest is written last with an atomic rename, so an interrupted build leaves the previous
index usable. Nothing here is a pickle. Leaves out incremental FAISS updates: indexes are small.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.errors import UnusableIndexError
from assistant.ingest import chunk_document
from assistant.schema import Chunk, Document, InTextCitation

FORMAT_VERSION = 2  # 2: PDF page spans in documents and page labels in chunks
READABLE_FORMATS = (1, 2)  # a format-1 index has no pages and reads as it always did
SPLITTER = "sentences-v1"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class LoadedIndex:
    """Everything retrieval and answering need, read back from disk and checked."""

    directory: Path
    manifest: dict
    documents: dict[str, Document]
    chunks: list[Chunk]
    vectors: object  # faiss.Index over chunk vectors
    sentences: list[tuple[str, int, int]]  # (source, start, end) rows of `sentence_vectors`
    sentence_keys: list[str]
    sentence_vectors: np.ndarray
    chunk_sentences: list[list[int]]  # for each chunk, rows into `sentences`


def rebuild_hint(directory: Path) -> str:
    return f"rebuild it with `assistant ingest FILE... --index {directory}`"


def build_index(
    documents: Sequence[Document],
    directory: Path,
    embedder,
    *,
    chunk_chars: int,
    chunk_overlap: int,
    progress: bool = False,
) -> dict:
    """Chunk, embed and write `documents` to `directory`; unchanged sources reuse their vectors."""
    import faiss

    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnusableIndexError(
            f"cannot use {directory} as an index directory ({exc.strerror}); choose another --index"
        ) from None
    chunking = {"chunk_chars": chunk_chars, "chunk_overlap": chunk_overlap, "splitter": SPLITTER}
    model = {"name": embedder.name, "package": embedder.version, "dimension": embedder.dimension}
    previous = _reusable(directory, model, chunking)
    if previous and _same_sources(previous.manifest, documents):
        return previous.manifest

    names = [d.source for d in documents]
    if len(set(names)) != len(names):
        raise UnusableIndexError(f"two documents share a name: {sorted(names)}; rename one")
    chunks = [c for doc in documents for c in chunk_document(doc, chunk_chars, chunk_overlap)]
    sentences = sorted({(c.source, s, e) for c in chunks for s, e in c.sentences})
    texts = {d.source: d.text for d in documents}
    chunk_vecs = _embed(
        [c.text for c in chunks],
        embedder,
        progress,
        previous,
        "chunks",
        lambda i: chunks[i].chunk_id,
    )
    sent_keys = [f"{src}#{s}-{e}#{_sha(texts[src][s:e])}" for src, s, e in sentences]
    sent_vecs = _embed(
        [texts[src][s:e] for src, s, e in sentences],
        embedder,
        progress,
        previous,
        "sentences",
        lambda i: sent_keys[i],
    )
    index = faiss.IndexFlatIP(model["dimension"])
    if len(chunk_vecs):
        index.add(chunk_vecs)

    files = {
        "chunks": _write(directory, "chunks", ".jsonl", _jsonl(_chunk_row(c) for c in chunks)),
        "documents": _write(
            directory, "documents", ".jsonl", _jsonl(_doc_row(d) for d in documents)
        ),
        "vectors": _write(directory, "vectors", ".faiss", faiss.serialize_index(index).tobytes()),
        "sentences": _write(directory, "sentences", ".npy", _npy(sent_vecs)),
        "sentrows": _write(
            directory,
            "sentrows",
            ".jsonl",
            _jsonl([*row, key] for row, key in zip(sentences, sent_keys)),
        ),
    }
    manifest = {
        "format": FORMAT_VERSION,
        "model": model,
        "chunking": chunking,
        "sources": [_source(d) for d in documents],
        "counts": {"documents": len(documents), "chunks": len(chunks), "sentences": len(sentences)},
        "files": files,
    }
    _atomic_write(directory / MANIFEST, json.dumps(manifest, indent=1).encode())
    _collect_garbage(directory, files)
    return manifest


def load_index(directory: Path, embedder=None) -> LoadedIndex:
    """Read and check an index; UnusableIndexError names the command that rebuilds it."""
    import faiss

    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest.get("format") not in READABLE_FORMATS:
        raise UnusableIndexError(
            f"index {directory} has format {manifest.get('format')}, this version reads "
            f"{' and '.join(map(str, READABLE_FORMATS))}; {rebuild_hint(directory)}"
        )
    if embedder is not None:
        want = {"name": embedder.name, "dimension": embedder.dimension}
        got = {k: manifest.get("model", {}).get(k) for k in want}
        if got != want:
            raise UnusableIndexError(
                f"index {directory} was built with {got}, the assistant uses {want}; "
                + rebuild_hint(directory)
            )
    blobs = {}
    for role, meta in manifest.get("files", {}).items():
        path = directory / meta["name"]
        try:
            data = path.read_bytes()
        except OSError:
            raise UnusableIndexError(
                f"index {directory} is missing {meta['name']}; {rebuild_hint(directory)}"
            ) from None
        if _sha(data) != meta["sha256"]:
            raise UnusableIndexError(
                f"index {directory} is corrupt ({meta['name']} changed); {rebuild_hint(directory)}"
            )
        blobs[role] = data
    try:
        documents = {d.source: d for d in map(_doc_from_row, _rows(blobs["documents"]))}
        chunks = [_chunk_from_row(r) for r in _rows(blobs["chunks"])]
        vectors = faiss.deserialize_index(np.frombuffer(blobs["vectors"], dtype=np.uint8))
        sentence_vectors = _from_npy(blobs["sentences"])
        sentrows = [json.loads(line) for line in _lines(blobs["sentrows"])]
        sentences = [(src, int(s), int(e)) for src, s, e, _key in sentrows]
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise UnusableIndexError(
            f"index {directory} is corrupt ({exc}); {rebuild_hint(directory)}"
        ) from None
    if vectors.ntotal != len(chunks) or len(sentence_vectors) != len(sentences):
        raise UnusableIndexError(f"index {directory} is inconsistent; {rebuild_hint(directory)}")
    row = {key: i for i, key in enumerate(sentences)}
    chunk_sentences = [[row[(c.source, s, e)] for s, e in c.sentences] for c in chunks]
    return LoadedIndex(
        directory,
        manifest,
        documents,
        chunks,
        vectors,
        sentences,
        [key for *_row, key in sentrows],
        sentence_vectors,
        chunk_sentences,
    )


def read_manifest(directory: Path) -> dict:
    path = Path(directory) / MANIFEST
    if not Path(directory).is_dir():
        raise UnusableIndexError(
            f"no index at {directory}; build one with `assistant ingest FILE... --index {directory}`"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UnusableIndexError(
            f"{directory} has no {MANIFEST}, so it is not an index; {rebuild_hint(directory)}"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise UnusableIndexError(
            f"index {directory} has a corrupt {MANIFEST}; {rebuild_hint(directory)}"
        ) from None
    if not _well_formed(manifest):
        raise UnusableIndexError(
            f"index {directory} has a corrupt {MANIFEST}; {rebuild_hint(directory)}"
        )
    return manifest


def _well_formed(manifest: object) -> bool:
    # Valid JSON of the wrong shape is as corrupt as invalid JSON; data files must be plain names
    # inside the index, so a damaged manifest cannot make loading read (or hang on) other files.
    if not isinstance(manifest, dict) or not isinstance(manifest.get("model", {}), dict):
        return False
    files = manifest.get("files", {})
    return isinstance(files, dict) and all(
        isinstance(meta, dict)
        and isinstance(meta.get("name"), str)
        and isinstance(meta.get("sha256"), str)
        and meta["name"] not in ("", ".", "..")
        and Path(meta["name"]).name == meta["name"]
        for meta in files.values()
    )


# --- reuse of unchanged work ---------------------------------------------------------------------


class _Previous:
    def __init__(self, loaded: LoadedIndex) -> None:
        self.manifest = loaded.manifest
        # keyed as `_embed` looks chunks up: the id and a hash of the text
        chunk_keys = [f"{c.chunk_id}#{_sha(c.text)}" for c in loaded.chunks]
        self.vectors = {
            "chunks": dict(zip(chunk_keys, _all_vectors(loaded.vectors), strict=True)),
            "sentences": dict(zip(loaded.sentence_keys, loaded.sentence_vectors)),
        }


def _reusable(directory: Path, model: dict, chunking: dict) -> _Previous | None:
    if not (directory / MANIFEST).exists():
        return None
    try:
        loaded = load_index(directory)
    except UnusableIndexError:
        return None  # a broken previous index is simply rebuilt
    if loaded.manifest.get("model") != model or loaded.manifest.get("chunking") != chunking:
        return None
    return _Previous(loaded)


def _same_sources(manifest: dict, documents: Sequence[Document]) -> bool:
    old = [(s["source"], s["sha256"]) for s in manifest.get("sources", [])]
    return manifest.get("format") == FORMAT_VERSION and old == [(d.source, d.sha256) for d in documents]


def _embed(texts, embedder, progress, previous, kind, key_of) -> np.ndarray:
    cache = previous.vectors[kind] if previous else {}
    out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    todo = []
    for i in range(len(texts)):
        # A chunk id encodes its offsets; the text hash guards against the same offsets with new text.
        key = key_of(i) if kind == "sentences" else f"{key_of(i)}#{_sha(texts[i])}"
        if key in cache:
            out[i] = cache[key]
        else:
            todo.append(i)
    if todo:
        out[todo] = embedder.encode([texts[i] for i in todo], progress=progress)
    return out


def _all_vectors(index) -> np.ndarray:
    return index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d))


# --- files ---------------------------------------------------------------------------------------


def _sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _write(directory: Path, role: str, suffix: str, data: bytes) -> dict:
    digest = _sha(data)
    name = f"{role}-{digest[:16]}{suffix}"
    if not (directory / name).exists() or _sha((directory / name).read_bytes()) != digest:
        _atomic_write(directory / name, data)
    return {"name": name, "sha256": digest, "bytes": len(data)}


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the index from the server's own user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _collect_garbage(directory: Path, keep: dict) -> None:
    """Delete the data files of earlier builds and the temporary files of interrupted ones: only
    names `_write` and `_atomic_write` make, never a file of the user's that merely looks alike."""
    names = {meta["name"] for meta in keep.values()}
    for path in directory.iterdir():
        if _OURS.fullmatch(path.name) and path.name not in names:
            path.unlink(missing_ok=True)


_DATA = (r"(?:(?:chunks|documents|sentrows)-[0-9a-f]{16}\.jsonl|vectors-[0-9a-f]{16}\.faiss"
         r"|sentences-[0-9a-f]{16}\.npy)")
_OURS = re.compile(rf"{_DATA}|\.(?:{_DATA}|{MANIFEST.replace('.', '[.]')})\.\w+\.tmp")


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def _rows(data: bytes) -> list[dict]:
    return [json.loads(line) for line in _lines(data)]


def _lines(data: bytes) -> list[str]:
    """JSONL lines: split at "\n" only, since the text in them may hold U+2028 or U+0085, which
    `str.splitlines` would also split at."""
    return [line for line in data.decode("utf-8").split("\n") if line.strip()]


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


def _from_npy(data: bytes) -> np.ndarray:
    import io

    return np.load(io.BytesIO(data), allow_pickle=False)


def _source(d: Document) -> dict:
    row = {"source": d.source, "sha256": d.sha256, "chars": len(d.text)}
    if d.pages:
        row["pages"] = len(d.pages)
    return row


def _chunk_row(c: Chunk) -> dict:
    row = {
        **c.location(),
        "sentences": [list(s) for s in c.sentences],
        "citations": [[x.author, x.page, x.start, x.end] for x in c.citations],
    }
    if c.source_pages:  # a text file's rows stay as format 1 wrote them
        row["source_pages"] = list(c.source_pages)
    return row


def _chunk_from_row(r: dict) -> Chunk:
    return Chunk(
        chunk_id=r["chunk_id"],
        source=r["source"],
        paragraph=int(r["paragraph"]),
        start=int(r["start"]),
        end=int(r["end"]),
        text=r["text"],
        sentences=tuple((int(s), int(e)) for s, e in r["sentences"]),
        citations=tuple(InTextCitation(a, p, int(s), int(e)) for a, p, s, e in r["citations"]),
        source_pages=tuple(str(label) for label in r.get("source_pages", ())),
    )


def _doc_row(d: Document) -> dict:
    row = {"source": d.source, "sha256": d.sha256, "paragraphs": d.paragraphs, "text": d.text}
    if d.pages:
        row["pages"] = d.pages
    return row


def _doc_from_row(r: dict) -> Document:
    return Document(
        source=r["source"],
        text=r["text"],
        paragraphs=tuple((int(s), int(e)) for s, e in r["paragraphs"]),
        sha256=r["sha256"],
        pages=tuple((int(s), int(e), str(label)) for s, e, label in r.get("pages", ())),
    )
