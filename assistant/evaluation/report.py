"""The human report of an evaluation run: report.html (or report.md) with PNG plots beside it.

Shows the headline numbers, a hit@k curve, a latency histogram, the refusal confusion table, the
breakdown by article or tag, the worst questions with their retrieved passages, and the definition
of every metric. Reads answer records and the metrics from `metrics.compute_metrics`; computes
nothing new. The PNG plots come from `plots`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.evaluation.metrics import strip_markers, worst
from assistant.evaluation.plots import draw_plots
from assistant.evaluation.runs import read_config

HEADLINE = (
    ("hit@1", "hit@1"),
    ("mrr", "MRR"),
    ("contains", "answer contains gold"),
    ("has_ans_f1", "F1 (answerable)"),
    ("citation_precision", "citation precision"),
    ("citation_recall", "citation recall"),
    ("refusal_recall", "refusal recall"),
    ("answerable_refused_rate", "answerable refused"),
    ("accuracy", "accuracy"),
)
_LOOSE = {q: "['‘’]" for q in "'‘’"} | {q: '["“”]' for q in '"“”'} | {"-": "[-‐–—]"}
WORST = 10  # questions shown in full, with their retrieved passages


def write_report(run_dir: Path, records: Sequence[dict], metrics: dict, fmt: str = "html") -> Path:
    """Write the plots and report.<fmt> into run_dir; returns the report's path."""
    run_dir = Path(run_dir)
    plots = draw_plots(run_dir, records, metrics)
    worst_pairs = worst(records, WORST)
    text = (_html if fmt == "html" else _markdown)(run_dir, metrics, plots, worst_pairs)
    path = run_dir / f"report.{fmt}"
    path.write_text(text, encoding="utf-8")
    return path


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _headline(overall: dict) -> list[tuple[str, str]]:
    rows = [(label, _percent(overall.get(key))) for key, label in HEADLINE]
    k = max((int(key[4:]) for key in overall if key.startswith("hit@")), default=0)
    if k > 1:
        rows.insert(1, (f"hit@{k}", _percent(overall.get(f"hit@{k}"))))
    p50, p95 = overall.get("latency_p50_ms"), overall.get("latency_p95_ms")
    chars, qps = overall.get("answer_chars_mean"), overall.get("throughput_qps")
    rows += [
        ("latency p50 / p95", "–" if p50 is None else f"{p50:.1f} / {p95:.1f} ms"),
        ("answer length (mean)", "–" if chars is None else f"{chars:.0f} chars"),
        ("throughput", "–" if not qps else f"{qps:.0f} questions/s"),
    ]
    return rows


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _group_table(metrics: dict) -> tuple[list[str], list[list[str]]]:
    cols = [
        "n",
        "hit@1",
        "mrr",
        "contains",
        "has_ans_f1",
        "refusal_recall",
        "answerable_refused_rate",
        "accuracy",
    ]
    rows = [[name, *(_fmt(g.get(c)) for c in cols)] for name, g in sorted(metrics["breakdown"].items())]
    return [metrics["breakdown_by"] or "group", *cols], rows


def _mark(text: str, needles: Sequence[str]) -> str:
    """HTML-escaped text with the gold strings it contains highlighted."""
    spans = []
    for needle in needles:
        words = needle.split()
        if not words:
            continue
        pattern = r"\s+".join("".join(_LOOSE.get(ch, re.escape(ch)) for ch in w) for w in words)
        spans += [m.span() for m in re.finditer(pattern, text, re.IGNORECASE)]
    out, pos = [], 0
    for start, end in sorted(spans, key=lambda s: (s[0], -s[1])):  # longest match first
        if start < pos:
            continue
        out += [html.escape(text[pos:start]), f"<mark>{html.escape(text[start:end])}</mark>"]
        pos = end
    return "".join(out) + html.escape(text[pos:])


def _intro(run_dir: Path, metrics: dict) -> str:
    o = metrics["overall"]
    text = (
        f"{o['n']} questions ({o['n_answerable']} answerable, {o['n_unanswerable']} unanswerable), "
        f"{o['refused']} refused, k = {metrics['k']}."
    )
    config = read_config(run_dir)
    if config:
        shown = ", ".join(f"{k} {v}" for k, v in config.items() if v not in (None, False))
        text += f" Settings: {shown}."
    return text


def _expected(gold: dict) -> str:
    if gold.get("answerable") is False:
        return "(unanswerable)"
    return "; ".join(gold.get("answers") or gold.get("evidence") or []) or "–"


def _html(run_dir: Path, metrics: dict, plots: dict, worst_pairs: list) -> str:
    e = html.escape
    title = f"Evaluation report: {e(run_dir.name)}"
    cards = "".join(
        f"<div class='card'><b>{e(v)}</b><span>{e(label)}</span></div>"
        for label, v in _headline(metrics["overall"])
    )
    images = "".join(
        f"<img src='{e(name)}' alt='{e(key)}'{' class=wide' if key == 'groups' else ''}>"
        for key, name in plots.items()
    )
    c = metrics["overall"]["refusal_confusion"]
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>",
        f"<style>{_CSS}</style></head><body><h1>{title}</h1><p>{e(_intro(run_dir, metrics))}</p>",
        f"<div class='cards'>{cards}</div><div class='plots'>{images}</div>",
        "<h2>Refusals</h2><table><tr><th></th><th>answered</th><th>refused</th></tr>",
        f"<tr><th>answerable</th><td class=ok>{c['tn']}</td><td class=bad>{c['fp']}</td></tr>",
        f"<tr><th>unanswerable</th><td class=bad>{c['fn']}</td><td class=ok>{c['tp']}</td></tr>",
        "</table>",
    ]
    if metrics["breakdown"]:
        head, rows = _group_table(metrics)
        parts.append(f"<h2>By {e(head[0])}</h2><table>")
        parts.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in rows]
        parts.append("</table>")
    parts.append(f"<h2>The {len(worst_pairs)} questions that went worst</h2>")
    parts += [_html_question(record, score) for record, score in worst_pairs]
    parts.append("<h2>Definitions</h2><dl>")
    parts += [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in metrics["definitions"].items()]
    parts.append("</dl></body></html>\n")
    return "\n".join(parts)


def _html_question(record: dict, score: dict) -> str:
    e = html.escape
    gold = record.get("gold") or {}
    needles = [*(gold.get("answers") or []), *(gold.get("evidence") or [])]
    verdict = "wrong" if score["correct"] is False else "right"
    opened = " open" if verdict == "wrong" else ""
    refused = " (refused)" if record.get("refused") else ""
    answer = _mark(strip_markers(record.get("answer", "")), needles)
    out = [
        f"<details class='q'{opened}><summary><b>{e(str(record.get('id')))}</b> "
        f"{e(record.get('question', ''))} <span class='{verdict}'>{verdict}</span></summary>",
        f"<p><b>Gold:</b> {e(_expected(gold))}</p><p><b>Answer{refused}:</b> {answer}</p><ol>",
    ]
    for p in record.get("retrieved") or []:
        where = f"{p.get('source')} ¶{p.get('paragraph')} score {_fmt(p.get('score'))}"
        hit = " class='hit'" if score["hit_rank"] and p is _nth(record, score["hit_rank"]) else ""
        out.append(f"<li{hit}><small>{e(where)}</small><br>{_mark(p.get('text', ''), needles)}</li>")
    out.append("</ol></details>")
    return "".join(out)


def _nth(record: dict, rank: int) -> dict:
    return (record.get("retrieved") or [])[rank - 1]


def _markdown(run_dir: Path, metrics: dict, plots: dict, worst_pairs: list) -> str:
    c = metrics["overall"]["refusal_confusion"]
    lines = [f"# Evaluation report: {run_dir.name}", "", _intro(run_dir, metrics), ""]
    lines += ["| metric | value |", "|---|---|"]
    lines += [f"| {label} | {v} |" for label, v in _headline(metrics["overall"])] + [""]
    lines += [f"![{key}]({name})" for key, name in plots.items()] + [""]
    lines += ["## Refusals", "", "| | answered | refused |", "|---|---|---|"]
    lines += [
        f"| answerable | {c['tn']} | {c['fp']} |",
        f"| unanswerable | {c['fn']} | {c['tp']} |",
    ]
    if metrics["breakdown"]:
        head, rows = _group_table(metrics)
        lines += ["", f"## By {head[0]}", "", "| " + " | ".join(head) + " |"]
        lines += ["|" + "---|" * len(head)] + ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", f"## The {len(worst_pairs)} questions that went worst", ""]
    for record, _ in worst_pairs:
        refused = " (refused)" if record.get("refused") else ""
        lines += [f"### {record.get('id')}: {record.get('question', '')}", ""]
        lines += [f"- gold: {_expected(record.get('gold') or {})}"]
        lines += [f"- answer{refused}: {strip_markers(record.get('answer', ''))}", "- retrieved:"]
        for i, p in enumerate(record.get("retrieved") or [], start=1):
            lines.append(f"  {i}. ({p.get('source')} ¶{p.get('paragraph')}) {p.get('text', '')}")
        lines.append("")
    lines += ["## Definitions", ""] + [f"- **{k}**: {v}" for k, v in metrics["definitions"].items()]
    return "\n".join(lines) + "\n"


_CSS = """
body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}
.cards{display:flex;flex-wrap:wrap;gap:.6em}
.card{border:1px solid #d0d7de;border-radius:8px;padding:.5em .9em;min-width:8em}
.card b{display:block;font-size:1.4em}.card span{color:#59636e;font-size:.85em}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:1em;margin:1.2em 0}
.plots img{max-width:100%}.plots img.wide{grid-column:1/-1}
table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:right}
td.ok{background:#d8f3dc}td.bad{background:#ffd8d8}
.q{margin:.4em 0;border-left:3px solid #d0d7de;padding-left:.6em}
.wrong{color:#d1242f}.right{color:#1a7f37}li.hit{background:#f0fff4}mark{background:#fff3b0}
dt{font-weight:600;margin-top:.5em}
"""
