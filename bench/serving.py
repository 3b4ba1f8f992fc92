"""Serving sections: the app's ready time and memory, and the load benchmark (bench/load.py).

`assistant serve` is started as a subprocess on a free 127.0.0.1 port (with bench/load.py's
helpers), polled on GET /api/health until it answers 200, asked the essay questions through
POST /api/ask, and its peak resident memory read from /proc/<pid>/status (VmHWM). Once without a
language model (the extractive figures), once with the local model when it is installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench import load
from bench.context import Bench
from bench.results import ROOT, Row, Section, row

GENERATIVE_QUESTIONS = 3  # each takes seconds; enough to load the model and fill its caches


def serve(b: Bench) -> Section:
    """Ready time and resident memory of the served app, without and with the language model."""
    section = Section("serve", "Served app: ready time and memory")
    extractive = _serve_once("none", generative=0)
    section.rows += [
        row("ready after `assistant serve` (no LLM)", extractive["ready_s"], "{:.1f} s",
            target=("<=", 8.0)),
        row("peak resident memory after answering (VmHWM, no LLM)", extractive["hwm_mb"],
            "{:.0f} MB", target=("<=", 700.0)),
        row("resident memory after answering (VmRSS, no LLM)", extractive["rss_mb"], "{:.0f} MB"),
    ]
    reason = _llm_unavailable(b)
    if reason:
        section.notes.append(f"With the language model: not measured ({reason}).")
    else:
        llm = _serve_once("llamacpp", generative=GENERATIVE_QUESTIONS)
        section.rows += [
            row("ready after `assistant serve` (LLM backend llamacpp)", llm["ready_s"],
                "{:.1f} s", target=("<=", 8.0)),
            row("first generative answer, after ready (model load + prompt cache + answer)",
                llm["first_generative_s"], "{:.1f} s"),
            row("peak resident memory with the model loaded (VmHWM)", llm["hwm_mb"],
                "{:.0f} MB", target=("<=", 2500.0)),
            row("resident memory with the model loaded (VmRSS)", llm["rss_mb"], "{:.0f} MB"),
            Row("generative answers / asked", f"{llm['generative']} / {GENERATIVE_QUESTIONS}"),
        ]
    section.notes.append(
        f"Ready = from starting the process to the first 200 from /api/health. Then the "
        f"{len(load.QUESTIONS)} essay questions of bench/load.py are asked 3 times each, one by "
        "one, in extractive mode (and, with the LLM, the first few also in generative mode) before "
        "memory is read. VmHWM is the process's peak resident set (the GGUF is memory-mapped, so "
        "its pages count once they are read)."
    )
    return section


def _serve_once(backend: str, generative: int) -> dict:
    port = load.free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = load.start_server(port, backend)
    try:
        load.wait_ready(url, proc)
        ready_s = time.perf_counter() - t0
        out = {"ready_s": ready_s, "generative": 0, "first_generative_s": None}
        with httpx.Client(timeout=300) as http:
            for _ in range(3):
                for q in load.QUESTIONS:
                    r = http.post(f"{url}/api/ask", json={"question": q, "mode": "extractive"})
                    r.raise_for_status()
            for i, q in enumerate(load.QUESTIONS[:generative]):
                t1 = time.perf_counter()
                r = http.post(f"{url}/api/ask", json={"question": q, "mode": "generative"})
                r.raise_for_status()
                if i == 0:
                    out["first_generative_s"] = time.perf_counter() - t1
                out["generative"] += r.json().get("mode") == "generative"
        out["hwm_mb"] = _status_mb(proc.pid, "VmHWM")
        out["rss_mb"] = _status_mb(proc.pid, "VmRSS")
        return out
    finally:
        _stop(proc)


def _status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _llm_unavailable(b: Bench) -> str:
    """Why the local model cannot be served here ('' when it can)."""
    from assistant import ModelError
    from assistant.runtime.llm import verified_model_path

    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return "llama-cpp-python is not installed"
    try:
        verified_model_path(b.settings)
    except ModelError as exc:
        return str(exc)
    return ""


def load_test(b: Bench, clients: int = 50, seconds: float = 60.0) -> Section:
    """bench/load.py as it is: 50 concurrent clients on POST /api/ask for 60 s."""
    section = Section("load", "Load: many students at once (POST /api/ask, extractive)")
    out = b.workdir / "load.json"
    command = [sys.executable, "-m", "bench.load", "--clients", str(clients),
               "--seconds", str(seconds), "--json", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if not out.exists():
        section.skipped = f"bench/load.py failed (exit {done.returncode}): {done.stderr[-500:]}"
        return section
    n = json.loads(out.read_text())
    section.rows += [
        row("answers/second", n["answers_per_s"], "{:.0f}/s", target=(">=", 100.0)),
        row("latency p50", n["p50_ms"], "{:.0f} ms"),
        row("latency p95", n["p95_ms"], "{:.0f} ms", target=("<=", 250.0)),
        row("latency p99", n["p99_ms"], "{:.0f} ms"),
        row("errors (other than deliberate 429s)", n["errors"], "{:.0f}", target=("<=", 0.0)),
        row("429s (rate limit off in this server)", n["rate_limited_429"], "{:.0f}"),
        row("server RSS before", n["server_rss_mb_before"], "{:.0f} MB"),
        row("server RSS after", n["server_rss_mb_after"], "{:.0f} MB"),
        row("server CPU per answer", n["server_cpu_ms_per_answer"], "{:.2f} ms"),
    ]
    section.notes.append(
        f"{n['clients']} clients for {n['seconds']} s, {n['questions']} ({n['distinct_questions']} "
        f"distinct); the load generator runs on the same {n['machine']}, using "
        f"{n['client_cpu_ms_per_answer']} ms CPU per answer. The server reuses recent answers "
        "to repeated questions (api.py's Batcher); `python -m bench.load --unique` measures the "
        "case where none can be reused."
    )
    return section
