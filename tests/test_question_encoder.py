"""The ONNX export that embeds questions: the same vectors as sentence-transformers, cached once,
exported again when the cached file is damaged, and a question path that never imports PyTorch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from assistant.embeddings import Embedder, _model_dir
from assistant.runtime.question_encoder import BATCH, QuestionEncoder, supported

TEXTS = [
    "Who says “Poor creatures. What did we do to you?”",
    "thirty-one-year-old Kathy—our narrator",
    "What page is that on?",
    "Ruth: “We’re modeled from trash.” Ça va, naïve café?",
    " ".join(["Hailsham"] * 400),  # past the model's 256 tokens: truncated the same way
]


@pytest.fixture(scope="module")
def encoder(embedder, tmp_path_factory) -> QuestionEncoder:
    """A question encoder exporting into a cache of its own, from the session's loaded model."""
    cache = tmp_path_factory.mktemp("model-cache")
    return QuestionEncoder(_model_dir(None), cache, export_from=lambda: embedder.model)


def test_the_packaged_model_is_supported():
    assert supported(_model_dir(None))


def test_questions_get_the_sentence_transformers_vectors(embedder, encoder, essay_chunks):
    texts = TEXTS + [c.text for c in essay_chunks] * 8  # more than one run of BATCH, mixed lengths
    assert len(texts) > BATCH
    ours = encoder.encode(texts)
    theirs = embedder.encode(texts)
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(ours * theirs, axis=1)) > 0.99999  # row i is text i's vector
    assert np.allclose(encoder.encode(TEXTS[:1]), theirs[:1], atol=1e-5)


def test_it_tokenizes_as_sentence_transformers_does(embedder, encoder):
    encoder.encode(TEXTS[:1])
    theirs = embedder.model.tokenize(TEXTS)["input_ids"].numpy()
    ours = np.array([e.ids for e in encoder._tokenizer.encode_batch(TEXTS)])
    assert ours.shape == theirs.shape and (ours == theirs).all()


def test_nothing_to_embed_gives_an_empty_array(encoder):
    assert encoder.encode([]).shape == (0, 384)


def test_the_export_is_reused_and_a_damaged_one_is_made_again(embedder, encoder, tmp_path):
    encoder.encode(TEXTS[:1])
    assert encoder.path.is_file() and oct(encoder.path.stat().st_mode)[-3:] == "644"
    assert [p.name for p in encoder.path.parent.iterdir()] == [encoder.path.name]  # no temp left
    exported = encoder.path.stat().st_mtime_ns
    again = QuestionEncoder(_model_dir(None), encoder.path.parent.parent,
                            export_from=lambda: pytest.fail("exported again"))
    assert np.allclose(again.encode(TEXTS[:2]), encoder.encode(TEXTS[:2]), atol=1e-6)
    assert encoder.path.stat().st_mtime_ns == exported

    damaged = tmp_path / "damaged"
    shutil.copytree(encoder.path.parent, damaged / "embedder")
    (damaged / "embedder" / encoder.path.name).write_bytes(b"not an onnx file")
    repaired = QuestionEncoder(_model_dir(None), damaged, export_from=lambda: embedder.model)
    assert np.allclose(repaired.encode(TEXTS[:2]), embedder.encode(TEXTS[:2]), atol=1e-5)
    assert repaired.path.stat().st_size > 10_000_000


def test_changed_model_files_get_a_new_export_and_a_copy_shares_it(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(_model_dir(None), model, copy_function=shutil.copy)  # new modification times
    before = QuestionEncoder(model, tmp_path).path
    assert before == QuestionEncoder(_model_dir(None), tmp_path).path  # another virtualenv's copy
    config = model / "config.json"
    config.write_text(config.read_text() + "\n")
    assert QuestionEncoder(model, tmp_path).path != before


def test_a_model_it_cannot_reproduce_stays_with_sentence_transformers(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(_model_dir(None), model)
    pooling = model / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    pooling.write_text(json.dumps(config))
    assert not supported(model)
    assert Embedder(model, cache_dir=tmp_path)._question_encoder() is False


def test_install_exports_the_question_encoder_and_says_so_once(tmp_path, run_cli):
    from assistant import Settings
    from assistant.runtime.modelfile import model_path

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / model_path(Settings()).name).symlink_to(model_path(Settings()))  # the GGUF as is
    first = run_cli("model", "install", "--cache", str(cache), "--quiet")
    assert first.returncode == 0, first.stderr
    assert "exporting the embedding model to ONNX" in first.stderr
    assert len(list((cache / "embedder").glob("question-encoder-*.onnx"))) == 1
    again = run_cli("model", "install", "--cache", str(cache), "--quiet")
    assert again.returncode == 0 and "exporting" not in again.stderr


def test_questions_fall_back_to_sentence_transformers_when_onnx_fails(embedder, monkeypatch,
                                                                      caplog):
    fresh = Embedder(cache_dir=embedder._cache_dir)
    fresh._model = embedder.model
    encoder = fresh._question_encoder()
    monkeypatch.setattr(encoder, "encode", lambda texts: (_ for _ in ()).throw(
        RuntimeError("onnxruntime broke")))
    vectors = fresh.encode_queries(TEXTS[:2])
    assert np.allclose(vectors, embedder.encode(TEXTS[:2]), atol=1e-6)
    assert "onnxruntime broke" in caplog.text and fresh._questions is False


def test_answering_a_question_never_imports_pytorch(embedder, essay_index_dir):
    embedder.encode_queries(TEXTS[:1])  # the export exists in the default cache from here on
    script = (
        "import sys\n"
        "from assistant.assistant import Assistant\n"
        "from assistant.config import Settings\n"
        f"a = Assistant.from_settings(Settings(index_dir={str(essay_index_dir)!r}))\n"
        "answer = a.ask('Who says Poor creatures?')\n"
        "assert 'Marie-Claude' in answer.answer, answer.answer\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)  # the environment isolated_env left
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
