"""The answer-span model as it ships: its answers, its refusals, and its files checked."""

from __future__ import annotations

import json
import shutil

import pytest

from assistant import ModelError
from assistant.runtime.span_model import MODEL_DIR, SpanModel, agree_f1

CONTEXT = ("Frankenstein was written by Mary Shelley and first published in London in 1818. "
           "Its creature learns to read from three books he finds in a satchel.")


@pytest.fixture(scope="module")
def spans() -> SpanModel:
    return SpanModel.load()


def test_it_reads_the_answer_from_the_context(spans):
    who, when = spans.answers([("Who wrote Frankenstein?", CONTEXT),
                               ("In what year did the novel first come out?", CONTEXT)])
    assert agree_f1(who.text, "Mary Shelley") == 1.0 and who.margin >= spans.threshold
    assert who.text == CONTEXT[who.start : who.end]
    assert when.text == "1818" and when.margin >= spans.threshold


def test_a_question_the_context_does_not_answer_falls_below_the_threshold(spans):
    found = spans.answer("Who painted the Mona Lisa?", CONTEXT)
    assert found.margin < spans.threshold, found


def test_the_manifest_records_its_data_threshold_and_figures():
    manifest = json.loads((MODEL_DIR / "manifest.json").read_text())
    assert set(manifest["data"]) == {"squad-1.1-train.json.gz", "squad-2.0-train-first10.json.gz"}
    assert manifest["hyperparameters"]["seed"] == 13
    calibration = manifest["figures"]["calibration"]
    kept = calibration["kept_at_threshold"]
    assert kept["right"] > kept["wrong"] and kept["right"] > kept["absent"]
    assert manifest["threshold"] == calibration["threshold"]


def test_a_damaged_or_foreign_model_is_refused_with_the_rebuild_command(tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(MODEL_DIR, damaged)
    model = damaged / "answer-span.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="make answer-span"):
        SpanModel.load(damaged)
    foreign = tmp_path / "foreign"
    shutil.copytree(MODEL_DIR, foreign)
    manifest = json.loads((foreign / "manifest.json").read_text())
    (foreign / "manifest.json").write_text(json.dumps({**manifest, "format": 99}))
    with pytest.raises(ModelError, match="format 99"):
        SpanModel.load(foreign)
    with pytest.raises(ModelError, match="unreadable"):
        SpanModel.load(tmp_path / "missing")


def test_answers_agree_by_their_words_not_their_case_or_articles():
    assert agree_f1("the Orkneys", "Orkneys") == 1.0
    assert agree_f1("Shelley’s", "Shelley") == 1.0
    assert agree_f1("Mary Shelley", "Shelley") == pytest.approx(2 / 3)
    assert agree_f1("Geneva", "Orkneys") == 0.0
