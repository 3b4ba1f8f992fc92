"""Run the benchmarks and write BENCHMARKS.md: `python -m bench.run` (what `make bench` runs).

    python -m bench.run                              # every section but the generative ones
    python -m bench.run --only latency,quality       # some sections; the others keep their results
    python -m bench.run --generative                 # also the local LLM (slow: an hour and more)
    python -m bench.run --only pdf                   # a 300-page PDF and two real ones (minutes)
    python -m bench.run --only students              # memory: 20 documents, 10 students' uploads
    python -m bench.run --only generative            # the local LLM's speed alone (a minute)
    python -m bench.run --only generative_docs       # its answers on short documents (minutes)
    python -m bench.run --only essay_quality         # both modes on questions written about the essay
    python -m bench.run --only second_essay          # both modes on an essay the product does not ship
    python -m bench.run --only generative_squad      # its SQuAD sample alone (slow, resumable)
    python -m bench.run --only study                 # study aids: map, checked questions (15 min)
    python -m bench.run --render                     # rewrite BENCHMARKS.md from stored results

Every section stores its latest result in bench/results/<section>.json; BENCHMARKS.md is rendered
from all of them, so rerunning one section keeps the others. Speed targets live here, never in
tests. The machine may be shared: each section records the load average before and after.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from bench import results
from bench.context import DEFAULT_SQUAD, Bench

# name -> (module, function); default order is the order here
SECTIONS: dict[str, tuple[str, str]] = {
    "build": ("bench.speed", "build"),
    "pdf": ("bench.documents", "pdf_ingest"),
    "latency": ("bench.speed", "latency"),
    "quality": ("bench.quality", "quality"),
    "rrf": ("bench.quality", "rrf"),
    "throughput": ("bench.quality", "throughput"),
    "heldout": ("bench.heldout", "heldout"),
    "reader": ("bench.heldout", "reader_card"),
    "serve": ("bench.serving", "serve"),
    "load": ("bench.serving", "load_test"),
    "students": ("bench.students", "students"),
    "generative": ("bench.generative", "generative"),
    "generative_docs": ("bench.generative", "generative_docs"),
    "essay_quality": ("bench.essay", "essay_quality"),
    "second_essay": ("bench.essay", "second_essay"),
    "generative_squad": ("bench.generative", "generative_squad"),
    "explain_cache": ("bench.explain_cache", "explain_cache"),
    "explain_length": ("bench.explain_length", "explain_length"),
    "study": ("bench.study", "study"),
    "study_audit": ("bench.study", "study_audit"),
}
GENERATIVE = ["generative", "generative_docs", "essay_quality", "second_essay", "generative_squad",
              "explain_cache", "explain_length", "study"]
DEFAULT = [name for name in SECTIONS if name not in GENERATIVE]

INTRO = """# Benchmarks

Speed, memory and quality of the Study Assistant, measured side by side in one run against a plain
LangChain pipeline (`bench/baseline.py`: RecursiveCharacterTextSplitter 1000/200 ->
HuggingFaceEmbeddings with the same all-MiniLM-L6-v2 -> FAISS `similarity_search`, k=4). Written by
`bench/run.py`; do not edit by hand.

Reproduce (from the repository root, after `make install` or `make test`):

    make bench                        # = .venv/bin/python -m bench.run (all but generative)
    .venv/bin/python -m bench.run --only quality,rrf   # rerun some sections, keep the others
    .venv/bin/python -m bench.run --only pdf           # ingesting a 300-page PDF and real ones
    .venv/bin/python -m bench.run --only generative    # the local LLM's speed (a minute)
    .venv/bin/python -m bench.run --only generative_docs    # its answers on short documents
    .venv/bin/python -m bench.run --only essay_quality      # both modes, questions about the essay
    .venv/bin/python -m bench.run --only second_essay       # both modes, an essay it does not ship
    .venv/bin/python -m bench.run --only generative_squad   # its SQuAD quality (slow, resumable)
    .venv/bin/python -m bench.run --only explain_cache      # saved prompts, real-length essays (15 min)
    .venv/bin/python -m bench.run --only study              # study aids with the local LLM (15 min)

Targets come from the issues; every number with a target is marked PASS or MISS. Numbers without
a target are there to explain the others. The machine is shared with other work, so timings carry
the 1-min load average under which they were taken (2 CPUs: a load above 2 means waiting for a CPU).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--only", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--generative", action="store_true", help="also run the generative sections")
    parser.add_argument("--render", action="store_true", help="only rewrite BENCHMARKS.md")
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD, help="SQuAD v2 JSON file")
    parser.add_argument("--reps", type=int, default=10, help="latency: rounds of the questions")
    parser.add_argument("--sample", type=int, default=200, help="generative: SQuAD questions")
    parser.add_argument("--restart-generative", action="store_true",
                        help="generative: discard the earlier (resumable) SQuAD run")
    parser.add_argument("--load-seconds", type=float, default=60.0, help="load: duration")
    parser.add_argument("--load-clients", type=int, default=50, help="load: concurrent clients")
    args = parser.parse_args(argv)

    names = [] if args.render else _selected(parser, args)
    if names:
        from assistant.config import apply_offline_env

        apply_offline_env()
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            bench = Bench(Path(tmp), args.squad, args.reps)
            for name in names:
                _run(name, _section(name, args), bench)
    text = results.render(results.load_all(list(SECTIONS)), INTRO)
    results.atomic_write(results.BENCHMARKS, text)
    print(f"wrote {results.BENCHMARKS}")
    return 0


def _selected(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in SECTIONS]
        if unknown:
            parser.error(f"unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
        return [n for n in SECTIONS if n in names]
    return DEFAULT + (GENERATIVE if args.generative else [])


def _section(name: str, args: argparse.Namespace) -> Callable[[Bench], results.Section]:
    import importlib

    module, function = SECTIONS[name]
    fn = getattr(importlib.import_module(module), function)
    if name == "load":
        return lambda b: fn(b, clients=args.load_clients, seconds=args.load_seconds)
    if name == "generative_squad":
        return lambda b: fn(b, sample=args.sample, restart=args.restart_generative)
    return fn


def _run(name: str, fn: Callable[[Bench], results.Section], bench: Bench) -> None:
    print(f"== {name} (load average {results.load_average()})", flush=True)
    conditions = {**results.machine(), "load_before": results.load_average()}
    t0 = time.perf_counter()
    section = fn(bench)
    conditions.update(load_after=results.load_average(), seconds=round(time.perf_counter() - t0))
    section.conditions = conditions
    section.command = f".venv/bin/python -m bench.run --only {name}"
    path = results.save(section)
    for r in section.rows:
        mark = f"  [{r.target}: {r.result}]" if r.result else ""
        base = f"  (baseline {r.baseline})" if r.baseline else ""
        print(f"  {r.measure}: {r.product}{base}{mark}", flush=True)
    if section.skipped:
        print(f"  skipped: {section.skipped}")
    print(f"  -> {path.relative_to(results.ROOT)}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
