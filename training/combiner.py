"""Fit the reader's combiner and calibrate its thresholds on the product's own candidates.

Each article of a split gets its own index, built and searched by the product exactly as at
question time, so the features the combiner learns from are the ones it will see. Questions are
asked as SQuAD wrote them and, for half of them, with the words they share with their answer's
sentence dropped (data.drop_shared_words), which is closer to how students ask. Three kinds of
question: answerable (a candidate holding the answer text is a positive), SQuAD 2.0's unanswerable
ones, and another article's questions (nothing in the index answers them).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.data import Article


@dataclass
class Asked:
    """One question asked of one article's index, and what the reader saw of it."""

    kind: str  # "answerable", "unanswerable" or "off-article"
    features: np.ndarray  # (candidates, FEATURES)
    labels: np.ndarray  # 1 where a candidate holds the answer text


def ask_split(articles: list[Article], workdir: Path, cross, settings, embedder, *, seed: int,
              per_article: int, drop_share: float = 0.5) -> list[Asked]:  # noqa: ANN001
    """Questions of each article (and as many from another article) asked of its own index."""
    from tqdm import tqdm

    from assistant.assistant import Assistant, build_texts
    from assistant.reader import features
    from training.data import drop_shared_words

    rng = random.Random(seed)
    asked: list[Asked] = []
    for n, article in enumerate(tqdm(articles, desc="asking", unit="article")):
        index_dir = workdir / f"article-{n}"
        build_texts([(article.title, "\n\n".join(p.text for p in article.paragraphs))], index_dir,
                    settings, embedder)
        assistant = Assistant.from_settings(settings.with_(index_dir=index_dir), embedder=embedder)
        own = [(p, q) for p in article.paragraphs for q in p.questions]
        rng.shuffle(own)
        other = articles[(n + 1) % len(articles)]
        foreign = [q for p in other.paragraphs for q in p.questions if q.answer is not None]
        rng.shuffle(foreign)
        questions: list[tuple[str, str, str | None]] = []
        for paragraph, q in own[:per_article]:
            text = q.text
            gold = paragraph.answer_sentence(q)
            if gold is not None and rng.random() < drop_share:
                text = drop_shared_words(q.text, paragraph.sentence(gold), rng)
            questions.append(("answerable" if q.answer else "unanswerable", text, q.answer))
        questions += [("off-article", q.text, None) for q in foreign[: per_article // 4]]
        for (kind, text, answer), hits in zip(
                questions, assistant.retriever.search_many([t for _, t, _ in questions], settings.k)):
            candidates = assistant.candidates(hits)
            if not candidates:
                continue
            scores = cross.scores(text, [c.text for c in candidates])
            labels = np.array([float(answer is not None and answer.lower() in c.text.lower())
                               for c in candidates])
            if kind == "answerable" and not labels.any():
                kind = "missed"  # retrieval lost it: nothing to learn about ranking here
            asked.append(Asked(kind, features(hits, candidates, scores), labels))
    return asked


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50):  # noqa: ANN201
    """Logistic regression by Newton's method on standardized features; a reader.Combiner."""
    from assistant.reader import Combiner

    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.column_stack([(x - mean) / scale, np.ones(len(x))])
    w = np.zeros(z.shape[1])
    penalty = np.eye(z.shape[1]) * l2
    penalty[-1, -1] = 0.0  # no penalty on the bias
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        gradient = z.T @ (p - y) + penalty @ w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return Combiner(w[:-1], float(w[-1]), mean, scale)


def best_probabilities(combiner, asked: list[Asked]) -> dict[str, np.ndarray]:  # noqa: ANN001
    """Each question's best candidate probability, by kind."""
    out: dict[str, list[float]] = {}
    for a in asked:
        p = 1.0 / (1.0 + np.exp(-combiner.logits(a.features)))
        out.setdefault(a.kind, []).append(float(p.max()))
    return {kind: np.array(values) for kind, values in out.items()}


def top1(combiner, asked: list[Asked], column: int | None = None) -> float:  # noqa: ANN001
    """Share of answerable questions (answer among the candidates) whose best-scored candidate
    holds the answer: by the combiner, or by one feature column alone."""
    right = []
    for a in asked:
        if a.kind != "answerable":
            continue
        scores = combiner.logits(a.features) if column is None else a.features[:, column]
        right.append(bool(a.labels[int(np.argmax(scores))]))
    return float(np.mean(right)) if right else 0.0
