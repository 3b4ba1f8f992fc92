"""Benchmark results: rows with their targets, one JSON file per section, and BENCHMARKS.md.

Each section's latest result is kept in bench/results/<section>.json (committed), so rerunning one
section rewrites only its file and BENCHMARKS.md is rendered again from all of them. Both are
written atomically. Leaves out measuring; see the section modules.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BENCHMARKS = ROOT / "BENCHMARKS.md"


@dataclass
class Row:
    """One measured number, the baseline's number beside it, and the target it is held to."""

    measure: str
    product: str  # formatted, with its unit
    value: float | None = None  # the raw number the target is checked on
    baseline: str = ""
    target: str = ""  # e.g. "<= 15 ms"; empty when the number is reported without a target
    result: str = ""  # PASS, MISS, or "" (no target)


def row(
    measure: str,
    value: float | None,
    fmt: str = "{:.1f}",
    *,
    baseline: float | str | None = None,
    target: tuple[str, float] | None = None,
    scale: float = 1.0,
) -> Row:
    """A Row; `target` is (">=" or "<=", limit) in the displayed unit, `scale` converts to it."""
    shown = None if value is None else value * scale
    text = "n/a" if shown is None else fmt.format(shown)
    if isinstance(baseline, (int, float)):
        baseline = fmt.format(baseline * scale)
    target_text, result = "", ""
    if target is not None:
        op, limit = target
        target_text = f"{op} {fmt.format(limit)}"
        if shown is None:
            result = "MISS"
        else:
            result = "PASS" if (shown >= limit if op == ">=" else shown <= limit) else "MISS"
            if result == "MISS" and text == fmt.format(limit):
                text = _finer(fmt, shown, limit)  # "95.0%" would hide a miss by 0.02
    return Row(measure, text, shown, baseline or "", target_text, result)


def percent(measure: str, value: float | None, **kwargs: Any) -> Row:
    """A Row for a share, shown as a percentage (targets given in percent)."""
    return row(measure, value, "{:.1f}%", scale=100.0, **kwargs)


@dataclass
class Section:
    """What one section measured, how to rerun it, and under which conditions."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)  # extra markdown (breakdowns)
    command: str = ""
    skipped: str = ""  # why nothing was measured (e.g. no local model)
    conditions: dict[str, Any] = field(default_factory=dict)


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model, Python, date and commit of the measuring machine and tree."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
    }


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def _commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "assistant", "prompts")
    return f"{head} + uncommitted changes" if dirty else head


def atomic_write(path: Path, text: str) -> None:
    """Write a file so that a reader sees either the old or the new content, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save(section: Section) -> Path:
    path = RESULTS / f"{section.name}.json"
    atomic_write(path, json.dumps(asdict(section), indent=1) + "\n")
    return path


def load_all(order: list[str]) -> list[Section]:
    """The stored sections, in `order` first, then any others by name."""
    found = {}
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        data["rows"] = [Row(**r) for r in data.get("rows", [])]
        found[data["name"]] = Section(**data)
    names = [n for n in order if n in found] + sorted(set(found) - set(order))
    return [found[n] for n in names]


def _shown(r: Row) -> str:
    """The product's number, with two decimals where rounding would hide why it missed."""
    if not r.product.strip():  # a row that only heads the rows under it
        return r.product
    number = r.product.split()[0].rstrip("%")
    if r.result == "MISS" and r.value is not None and number == r.target.split()[1].rstrip("%"):
        return r.product.replace(number, f"{r.value:.2f}", 1)
    return r.product


def render(sections: list[Section], intro: str) -> str:
    """BENCHMARKS.md: the intro, a summary of every target, then each section."""
    out = [intro.rstrip(), ""]
    targets = [(s, r) for s in sections for r in s.rows if r.result]
    if targets:
        missed = sum(r.result == "MISS" for _, r in targets)
        out += [
            "## Summary",
            "",
            f"{len(targets) - missed} of {len(targets)} targets met; misses in **bold**.",
            "",
            "| section | measure | product | target | result | load average |",
            "|---|---|---|---|---|---|",
        ]
        for s, r in targets:
            mark = "**MISS**" if r.result == "MISS" else "PASS"
            load = f"{s.conditions.get('load_before')} -> {s.conditions.get('load_after')}"
            out.append(
                f"| {s.title} | {r.measure} | {_shown(r)} | {r.target} | {mark} | {load} |"
            )
        out.append("")
    for s in sections:
        out += [f"## {s.title}", ""]
        c = s.conditions
        if c:
            out.append(
                f"Measured {c.get('date')} at commit {c.get('commit')}, {c.get('nproc')} CPUs "
                f"({c.get('cpu')}), {c.get('memory_gb')} GB; 1-min load average "
                f"{c.get('load_before')} before, {c.get('load_after')} after; took "
                f"{c.get('seconds')} s. Rerun: `{s.command}`"
            )
            out.append("")
        if s.skipped:
            out += [f"Not measured: {s.skipped}", ""]
        if s.rows:
            out += [
                "| measure | product | LangChain baseline | target | result |",
                "|---|---|---|---|---|",
            ]
            for r in s.rows:
                mark = "**MISS**" if r.result == "MISS" else r.result or "info"
                out.append(
                    f"| {r.measure} | {_shown(r)} | {r.baseline or '—'} | {r.target or '—'} "
                    f"| {mark} |"
                )
            out.append("")
        for table in s.tables:
            out += [table.rstrip(), ""]
        for note in s.notes:
            out += [f"- {note}"]
        if s.notes:
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _finer(fmt: str, shown: float, limit: float) -> str:
    """`shown` with as many more decimals as it takes to differ from `limit` (at most 3 more)."""
    for extra in (1, 2, 3):
        finer = re.sub(r"\{:\.(\d)f\}", lambda m, more=extra: f"{{:.{int(m[1]) + more}f}}", fmt)
        if finer.format(shown) != finer.format(limit):
            return finer.format(shown)
    return fmt.format(shown)
