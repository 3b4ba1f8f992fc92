"""The embedder: normalized vectors from the packaged model, and its size known before it loads."""

from __future__ import annotations

import json
import shutil

import numpy as np

from assistant.embeddings import Embedder, _declared_dimension, _model_dir


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
