"""The report: HTML and Markdown with PNG plots beside them, from hand-made answer records."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from assistant.evaluation.metrics import compute_metrics
from assistant.evaluation.report import write_report

FIXTURES = Path(__file__).parent / "fixtures"
PNGS = ("hit-at-k.png", "latency.png", "refusals.png", "breakdown.png")


@pytest.fixture
def records() -> list[dict]:
    lines = (FIXTURES / "records.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    records[3]["question"] = "What is <b>Paris</b> & why?"  # must come out escaped
    return records


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_html_report_with_plots(records, tmp_path):
    path = write_report(tmp_path, records, compute_metrics(records))
    assert path == tmp_path / "report.html"
    html = path.read_text(encoding="utf-8")
    for name in PNGS:
        assert f"src='{name}'" in html
        width, height = png_size(tmp_path / name)
        assert width >= 400 and height >= 200
    # the wrong answers are listed (open) with the gold text highlighted in their passages
    assert "<details class='q' open><summary><b>r2</b>" in html
    assert "<mark>thirty-one-year-old Kathy H.</mark>" in html
    assert "<mark>We’re modeled from trash</mark>" not in html  # r5's gold is "trash" alone
    assert "<mark>trash</mark>" in html
    assert "What is &lt;b&gt;Paris&lt;/b&gt; &amp; why?" in html and "<b>Paris</b>" not in html
    # headline numbers and the refusal table come from the metrics (hit@1 = 2/3, tp fp fn tn)
    assert "<b>66.7%</b><span>hit@1</span>" in html
    assert "<td class=ok>2</td><td class=bad>1</td>" in html  # answerable: 2 answered, 1 refused
    assert "<dt>citation_recall</dt>" in html and "<dt>hit@k</dt>" in html


def test_markdown_report(records, tmp_path):
    path = write_report(tmp_path, records, compute_metrics(records), fmt="md")
    text = path.read_text(encoding="utf-8")
    assert path.name == "report.md"
    assert "| hit@1 | 66.7% |" in text and "| answerable | 2 | 1 |" in text
    assert all(f"]({name})" in text for name in PNGS)
    assert "### r2: How old is Kathy?" in text and "- **mrr**:" in text


def test_plots_without_data_are_left_out(tmp_path):
    bare = [
        {"id": str(i), "question": "q?", "answer": "a", "refused": False, "latency_ms": 5.0 + i}
        for i in range(3)
    ]
    write_report(tmp_path, bare, compute_metrics(bare))
    html = (tmp_path / "report.html").read_text()
    assert (tmp_path / "latency.png").exists() and "latency.png" in html
    for name in ("hit-at-k.png", "refusals.png", "breakdown.png"):
        assert not (tmp_path / name).exists() and name not in html


def test_eval_report_rescores_a_run_directory(tmp_path, capsys):
    from assistant.cli import main

    (tmp_path / "answers.jsonl").write_text((FIXTURES / "records.jsonl").read_text())
    assert main(["eval", "report", str(tmp_path), "--format", "md"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "report.md")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["overall"]["hit@1"] == pytest.approx(2 / 3)
    assert (tmp_path / "hit-at-k.png").exists()
    assert main(["eval", "report", str(tmp_path / "nothing-here")]) == 2
