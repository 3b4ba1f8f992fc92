"""The embedder: normalized vectors from the packaged model, its size known before it loads, and
no OpenMP worker threads left behind."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time

import numpy as np
import pytest

from assistant.embeddings import SMALL_BATCH, Embedder, _declared_dimension, _model_dir


def test_vectors_are_unit_length_and_of_the_declared_size(embedder):
    vectors = embedder.encode(["Who says “Poor creatures”?", "Ruth fears her model."])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert _declared_dimension(_model_dir(None)) == embedder.model.get_embedding_dimension()


def test_the_size_is_read_without_loading_the_model():
    fresh = Embedder()
    assert fresh.dimension == 384
    assert fresh._model is None  # an index can be refused before seconds of model loading


def test_a_layer_that_changes_the_size_makes_the_declared_size_unknown(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(_model_dir(None), folder, ignore=shutil.ignore_patterns("*.safetensors"))
    modules = json.loads((folder / "modules.json").read_text())
    dense = {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"}
    (folder / "modules.json").write_text(json.dumps([*modules, dense]))
    assert _declared_dimension(folder) is None
    (folder / "modules.json").write_text("not json")
    assert _declared_dimension(folder) is None


def _os_threads() -> set[int]:
    return {int(tid) for tid in os.listdir("/proc/self/task")}


def _threads_started_by(work) -> int:
    """OS threads that `work` starts and leaves running, when run in a thread that stays alive
    (as a web server's do). Threads are told apart by id, so one that other code starts or ends
    meanwhile (a previous test's pool winding down) counts neither way."""
    done, hold = threading.Event(), threading.Event()

    def run():
        work()
        done.set()
        hold.wait()

    before = _os_threads()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert done.wait(60)
        deadline = time.monotonic() + 30  # a finished pool's threads exit shortly after their master
        while (started := _os_threads() - before - {thread.native_id}) and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(started)
    finally:
        hold.set()
        thread.join()


def test_a_question_starts_no_worker_threads(embedder):
    # OpenMP worker pools left on long-lived threads slow the local LLM (see llm.ModelThread)
    assert _threads_started_by(lambda: embedder.encode(["Who says “Poor creatures”?"])) == 0


def test_a_batch_runs_on_all_cores_and_leaves_no_worker_threads(embedder, essay_chunks):
    texts = [c.text for c in essay_chunks] * 2
    assert len(texts) > SMALL_BATCH and embedder._threads == len(os.sched_getaffinity(0))
    vectors = []
    assert _threads_started_by(lambda: vectors.append(embedder.encode(texts))) == 0
    one_by_one = np.concatenate([embedder.encode([t]) for t in texts[:3]])
    assert np.allclose(vectors[0][:3], one_by_one, atol=1e-5)  # the same vectors either way


def test_a_failing_batch_raises_in_the_callers_thread(embedder, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(embedder.model, "encode", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        embedder.encode(["text"] * (SMALL_BATCH + 1))


def test_passages_through_the_question_export_are_the_same_vectors(embedder, essay_chunks):
    from assistant.embeddings import OnnxPassages

    texts = [c.text for c in essay_chunks[:12]]
    light = OnnxPassages(embedder)
    assert light.name == embedder.name and light.dimension == embedder.dimension
    cosines = np.sum(light.encode(texts) * embedder.encode(texts), axis=1)
    assert cosines.min() > 0.9999
    assert light.encode([]).shape == (0, embedder.dimension)
