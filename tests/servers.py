"""Real servers for tests: a free 127.0.0.1 port, a process started and awaited until it answers,
and stopped by its PID."""

from __future__ import annotations

import http.client
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], env: dict, log: Path, ready_url: str, ready_s: float,
          *, cwd: Path = ROOT) -> subprocess.Popen:
    """Start `command` with its output in `log`; return once `ready_url` answers 200 (the test
    fails, with the log's tail, if the process exits or is not ready in `ready_s`)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + ready_s
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{command[1:]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(ready_url, timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop(proc)
            pytest.fail(f"{ready_url} not ready after {ready_s:g} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def stop(proc: subprocess.Popen) -> None:
    """Terminate by PID; kill if it does not end within 20 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def raw_get(url: str, path: str, timeout: float = 10) -> tuple[int, bytes]:
    """GET a path exactly as written (httpx would normalize `..` away)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
