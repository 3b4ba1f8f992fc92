"""Question/sentence examples from the SQuAD training files in ../shared/data.

Sentences are split by the product's own splitter, so a model sees sentences as they are at
question time. Articles are divided once, by title, into disjoint splits: the cross-encoder learns
on one, the combiner on another, and the refusal threshold is calibrated on a third, so no part is
fitted on scores it was trained to produce. Nothing here reads a dev set or a benchmark file.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from assistant.text import sentence_spans

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
SQUAD1 = SHARED / "squad-1.1-train.json.gz"
SQUAD2 = SHARED / "squad-2.0-train-first10.json.gz"
_WORD = re.compile(r"[A-Za-z0-9]+")
_KEEP = frozenset("""what which who whom whose when where why how does did do is was are were
    the a an of in on to for by with from and or not""".split())


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    answer: str | None  # None: SQuAD 2.0's unanswerable
    answer_start: int | None  # offset into its paragraph


@dataclass(frozen=True)
class Paragraph:
    text: str
    sentences: tuple[tuple[int, int], ...]
    questions: tuple[Question, ...]

    def sentence(self, i: int) -> str:
        start, end = self.sentences[i]
        return self.text[start:end]

    def answer_sentence(self, q: Question) -> int | None:
        """The sentence that holds the answer's start, if the question has one."""
        if q.answer_start is None:
            return None
        for i, (start, end) in enumerate(self.sentences):
            if start <= q.answer_start < end:
                return i
        return None


@dataclass(frozen=True)
class Article:
    title: str
    paragraphs: tuple[Paragraph, ...]


def load(path: Path) -> list[Article]:
    """The articles of a SQuAD JSON (.gz) file, sentences split as the product splits them."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        data = json.load(f)["data"]
    articles = []
    for a in data:
        paragraphs = []
        for p in a["paragraphs"]:
            text = p["context"]
            questions = []
            for qa in p["qas"]:
                impossible = qa.get("is_impossible", False) or not qa["answers"]
                first = None if impossible else qa["answers"][0]
                questions.append(Question(str(qa["id"]), qa["question"].strip(),
                                          first and first["text"],
                                          first and int(first["answer_start"])))
            paragraphs.append(Paragraph(text, tuple(sentence_spans(text)), tuple(questions)))
        articles.append(Article(a["title"], tuple(paragraphs)))
    return articles


@dataclass(frozen=True)
class Splits:
    cross_encoder: list[Article]  # SQuAD 1.1 articles the cross-encoder learns from
    combiner: list[Article]  # 1.1 and 2.0 articles the combiner is fitted on
    calibration: list[Article]  # 1.1 and 2.0 articles the refusal threshold is chosen on


def splits(seed: int, combiner_articles: int = 24, calibration_articles: int = 24) -> Splits:
    """Disjoint article splits. SQuAD 2.0's ten articles (its unanswerable questions) go half to
    the combiner, half to calibration; 1.1's copies of them are left out of every split."""
    squad1, squad2 = load(SQUAD1), load(SQUAD2)
    titles2 = {a.title for a in squad2}
    rest = [a for a in squad1 if a.title not in titles2]
    random.Random(seed).shuffle(rest)
    half = len(squad2) // 2
    return Splits(
        cross_encoder=rest[combiner_articles + calibration_articles :],
        combiner=rest[:combiner_articles] + squad2[:half],
        calibration=rest[combiner_articles : combiner_articles + calibration_articles] + squad2[half:],
    )


def drop_shared_words(question: str, sentence: str, rng: random.Random) -> str:
    """The question without most of the content words it shares with its answer's sentence, so
    a model cannot rely on them: SQuAD's questions reuse the text's words, students' do not."""
    shared = {w.lower() for w in _WORD.findall(sentence)}
    words = question.split()
    kept = [w for w in words
            if w.strip("?,.\"'").lower() in _KEEP
            or w.strip("?,.\"'").lower() not in shared
            or rng.random() < 0.3]
    return " ".join(kept) if len(kept) >= 2 else question


@dataclass(frozen=True)
class Pair:
    question: str
    sentence: str
    label: float


def cross_encoder_pairs(articles: list[Article], questions: int, seed: int,
                        negatives: int = 3, drop_share: float = 0.5) -> list[Pair]:
    """Up to `questions` answerable questions, each with its answer's sentence and `negatives`
    other sentences (two from its paragraph when it has them, the rest from its article), a share
    of them with their shared words dropped."""
    rng = random.Random(seed)
    pool = [(a, p, q) for a in articles for p in a.paragraphs for q in p.questions
            if p.answer_sentence(q) is not None and len(p.sentences) > 1]
    rng.shuffle(pool)
    pairs: list[Pair] = []
    for article, paragraph, q in pool[:questions]:
        gold = paragraph.answer_sentence(q)
        positive = paragraph.sentence(gold)
        text = drop_shared_words(q.text, positive, rng) if rng.random() < drop_share else q.text
        pairs.append(Pair(text, positive, 1.0))
        near = [i for i in range(len(paragraph.sentences)) if i != gold]
        rng.shuffle(near)
        chosen = [paragraph.sentence(i) for i in near[:2]]
        others = [p for p in article.paragraphs if p is not paragraph and p.sentences]
        while len(chosen) < negatives and others:
            other = rng.choice(others)
            chosen.append(other.sentence(rng.randrange(len(other.sentences))))
        pairs += [Pair(text, s, 0.0) for s in chosen[:negatives]]
    return pairs


@dataclass(frozen=True)
class Window:
    """A question with a few consecutive sentences of its paragraph; `answer` and `start` (an
    offset into `context`) are None when the window does not hold the answer."""

    question: str
    context: str
    answer: str | None
    start: int | None


def span_windows(articles: list[Article], questions: int, seed: int, *,
                 without_answer: float = 0.25, drop_share: float = 0.2) -> list[Window]:
    """Up to `questions` answerable questions, each with a window of its answer's sentence and
    zero to two neighbours; a share of them instead with a window of the paragraph's other
    sentences (no answer there), and a share with their shared words dropped."""
    rng = random.Random(seed)
    pool = [(p, q) for a in articles for p in a.paragraphs for q in p.questions
            if p.answer_sentence(q) is not None]
    rng.shuffle(pool)
    out: list[Window] = []
    for paragraph, q in pool[:questions]:
        gold = paragraph.answer_sentence(q)
        count = len(paragraph.sentences)
        text = (drop_shared_words(q.text, paragraph.sentence(gold), rng)
                if rng.random() < drop_share else q.text)
        if rng.random() < without_answer and count >= 2:
            others = [i for i in range(count) if i != gold]
            first = rng.choice(others)
            rows = [i for i in (first, first + 1) if i < count and i != gold][: rng.randint(1, 2)]
            if rows != sorted(rows) or any(b != a + 1 for a, b in zip(rows, rows[1:])):
                rows = rows[:1]
            start, end = paragraph.sentences[rows[0]][0], paragraph.sentences[rows[-1]][1]
            out.append(Window(text, paragraph.text[start:end], None, None))
            continue
        first = max(0, gold - rng.randint(0, 1))
        last = min(count - 1, gold + rng.randint(0, 1))
        start, end = paragraph.sentences[first][0], paragraph.sentences[last][1]
        offset = q.answer_start - start
        if paragraph.text[q.answer_start : q.answer_start + len(q.answer)] != q.answer or \
                q.answer_start + len(q.answer) > end:
            continue  # an answer that runs past its sentence: not a span of the window
        out.append(Window(text, paragraph.text[start:end], q.answer, offset))
    return out
