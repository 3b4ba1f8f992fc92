"""The trained reader as shipped: its files are checked before use, and it reads the essay's
sentences the way a student asks about them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from assistant import ModelError
from assistant.reader import FEATURES, MODEL_DIR, Reader, read_manifest


@pytest.fixture
def reader_copy(tmp_path):
    target = tmp_path / "reader"
    shutil.copytree(MODEL_DIR, target)
    return target


def test_the_shipped_reader_matches_its_manifest():
    manifest = read_manifest(MODEL_DIR)
    combiner = json.loads((MODEL_DIR / manifest["files"]["combiner"]["name"]).read_text())
    assert combiner["features"] == list(FEATURES)
    assert 0 < combiner["near_threshold"] <= combiner["answer_threshold"] < 1
    assert set(manifest["data"]) == {"squad-1.1-train.json.gz", "squad-2.0-train-first10.json.gz"}
    assert manifest["hyperparameters"]["seed"] and manifest["figures"]["calibration"]
    size = sum((MODEL_DIR / f["name"]).stat().st_size for f in manifest["files"].values())
    assert size < 40 * 2**20  # shipped in the repository: tens of MB at most


@pytest.mark.parametrize("damage", ["truncate", "remove", "format"])
def test_a_damaged_reader_is_refused_with_the_rebuild_command(reader_copy, damage):
    onnx = reader_copy / "cross-encoder.onnx"
    if damage == "truncate":
        onnx.write_bytes(onnx.read_bytes()[:1000])
    elif damage == "remove":
        onnx.unlink()
    else:
        manifest = json.loads((reader_copy / "manifest.json").read_text())
        (reader_copy / "manifest.json").write_text(json.dumps({**manifest, "format": 99}))
    with pytest.raises(ModelError, match="make reader") as caught:
        Reader.load(reader_copy)
    assert str(reader_copy) in str(caught.value) and "\n" not in str(caught.value)


def test_the_cross_encoder_prefers_the_sentence_that_answers():
    reader = Reader.load()
    logits = reader.cross.scores("Who narrates the novel?", [
        "The weather in the valley was cold that winter.",
        "The story is told by Kathy H., a carer looking back on her years at Hailsham.",
    ])
    assert logits.shape == (2,) and logits[1] > logits[0]


def test_a_question_in_other_words_gets_the_answering_sentence_first(essay_assistant):
    answer = essay_assistant.ask("Where is the novel set?")
    assert not answer.refused and "England" in answer.answer.split("[")[0]


def test_an_off_topic_question_is_refused(essay_assistant):
    for question in ("How do I bake sourdough bread?", "Who won the 2018 World Cup?"):
        assert essay_assistant.ask(question).refused


def test_both_scorings_answer_through_the_same_facade(essay_settings, embedder):
    from assistant import Assistant

    learned = Assistant.from_settings(essay_settings, embedder=embedder)
    rules = Assistant.from_settings(essay_settings.with_(scoring="rules"), embedder=embedder)
    assert learned.reader is not None and rules.reader is None
    question = "Who says \"Poor creatures\"?"
    for assistant in (learned, rules):
        answer = assistant.ask(question)
        assert not answer.refused and "Madame" in answer.answer
    reading = learned.reader.read(hits := learned.retriever.search(question, 5),
                                  learned.candidates(hits))
    assert reading.answerable and np.all((reading.probabilities >= 0) & (reading.probabilities <= 1))


def test_a_question_the_reader_finds_close_but_not_answered_quotes_the_nearest_sentence(
        essay_settings, embedder):
    from assistant import Assistant

    assistant = Assistant.from_settings(essay_settings, embedder=embedder)
    shipped = assistant.reader
    assistant.reader = Reader(shipped.cross, shipped.combiner, 1.01, 0.0)  # nothing is answerable
    near = assistant.ask("Where is the novel set?")
    assert near.refused and near.citations == () and "England" in near.nearest
    assert f"\u201c{near.nearest}\u201d" in near.answer
    assistant.reader = Reader(shipped.cross, shipped.combiner, 1.01, 1.0)  # nothing is near either
    assert assistant.ask("Where is the novel set?").nearest is None
