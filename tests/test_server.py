"""The real server (`python -m assistant serve` in a subprocess): the chat at / and /embed, the
widget script, the HTTP API, gradio_client under the documented api_name, the bounded chat queue,
and Gradio's file routes serving nothing outside the app's own files."""

import os
import re
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urljoin

import httpx
import pytest
from servers import free_port, raw_get, start, stop

from assistant.config import ROOT, Settings
from assistant.web.ui import API_NAME

WHO = 'Who says "Poor creatures. What did we do to you?"'
READY_S = 120
QUEUE_SIZE = 2  # small, so a burst of chat requests overflows it


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    from assistant.assistant import build_documents
    from assistant.embeddings import load_embedder

    directory = tmp_path_factory.mktemp("index")
    settings = Settings(index_dir=directory)
    build_documents([settings.default_document], directory, settings, load_embedder())
    return directory


@pytest.fixture(scope="module")
def server(index_dir, tmp_path_factory):
    """Base URL (no trailing slash) of `assistant serve` on a free port; stopped by its PID."""
    port = free_port()
    work = tmp_path_factory.mktemp("server")
    env = {
        **os.environ,
        "ASSISTANT_INDEX_DIR": str(index_dir),
        "ASSISTANT_HOST": "127.0.0.1",
        "ASSISTANT_PORT": str(port),
        "ASSISTANT_LLM_BACKEND": "none",
        "ASSISTANT_QUEUE_SIZE": str(QUEUE_SIZE),
        "GRADIO_TEMP_DIR": str(work / "gradio"),
    }
    url = f"http://127.0.0.1:{port}"
    proc = start([sys.executable, "-m", "assistant", "serve"], env, work / "server.log",
                 f"{url}/api/health", READY_S)
    try:
        yield url
    finally:
        stop(proc)


def test_one_server_serves_the_chat_the_widget_and_the_api(server):
    for path in ("/", "/embed/"):
        page = httpx.get(server + path)
        assert page.status_code == 200 and "<gradio-app" in page.text, path
        assert page.headers["content-security-policy"].startswith("frame-ancestors 'self' ")
    assert httpx.get(server + "/embed").headers["location"].endswith("/embed/")
    assert httpx.get(server + "/api/health").json()["status"] == "ok"
    answer = httpx.post(server + "/api/ask", json={"question": WHO}).json()
    assert "Marie-Claude" in answer["answer"] and answer["citations"]
    assert httpx.get(server + "/docs").status_code == 200
    # link checkers and health probes send HEAD: the same status and headers, no body
    for path in ("/", "/embed/", "/widget/gradio.js", "/api/health"):
        head, get = httpx.head(server + path), httpx.get(server + path)
        assert (head.status_code, head.content) == (200, b""), path
        assert head.headers["content-type"] == get.headers["content-type"], path
    missing = httpx.get(server + "/api/nothing")
    assert missing.status_code == 404 and "error" in missing.json()  # the API's shape, not Gradio's


def test_the_full_chat_has_a_header_and_the_widget_none(server):
    full = httpx.get(server + "/config").json()
    compact = httpx.get(server + "/embed/config").json()
    assert "study-header" in str(full["components"]) and full["footer_links"]
    assert "study-header" not in str(compact["components"]) and compact["footer_links"] == []


def test_widget_script_loads_the_installed_web_component(server):
    script = httpx.get(server + "/widget/gradio.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    [target] = re.findall(r"""import\(["']([^"']+)["']\)""", script.text)
    bundle = httpx.get(urljoin(server + "/widget/gradio.js", target))
    assert bundle.status_code == 200
    assert "customElements.define(`gradio-app`" in bundle.text


def test_only_allowed_origins_may_load_the_widget(server):
    """A cross-origin module script needs CORS: the allowed page gets it, other origins not."""
    course = "http://127.0.0.1:9"
    allowed = httpx.get(server + "/widget/gradio.js", headers={"origin": course})
    assert allowed.headers["access-control-allow-origin"] == course
    other = httpx.get(server + "/widget/gradio.js", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("path", ["/", "/embed/"])
def test_gradio_client_calls_the_documented_api_name(server, path):
    from gradio_client import Client

    client = Client(server + path, verbose=False)
    assert (
        f"/{API_NAME}" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    )
    chat = client.predict(WHO, [], "extractive", api_name=f"/{API_NAME}")[0]
    assert "Marie-Claude" in chat[-1]["content"][0]["text"]


def test_a_full_chat_queue_says_busy_try_again(server):
    from gradio_client import Client

    client = Client(server + "/", verbose=False)
    jobs = [client.submit("What does Ruth fear?", [], "extractive", api_name=f"/{API_NAME}")
            for _ in range(12 * QUEUE_SIZE)]  # fmt: skip

    def outcome(job) -> str:
        try:
            job.result(timeout=60)
            return "answered"
        except Exception as exc:  # noqa: BLE001 - the kind of failure is what is counted
            return str(exc)

    with ThreadPoolExecutor(8) as pool:
        outcomes = Counter(pool.map(outcome, jobs))
    assert outcomes["answered"] >= 1
    refused = {o for o in outcomes if o != "answered"}
    assert refused and all("Queue is full" in o and "try again" in o for o in refused), outcomes


def test_request_bodies_are_capped_on_the_api_and_the_chat(server):
    from assistant.web.access import CHAT_BODY_BYTES

    api = httpx.post(server + "/api/ask", content=b"x" * (Settings().max_body_bytes + 1))
    chat = httpx.post(server + "/gradio_api/queue/join", content=b"x" * (CHAT_BODY_BYTES + 1))
    assert api.status_code == chat.status_code == 413
    assert "too large" in api.json()["error"]


OUTSIDE = [
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "../../../../../../etc/passwd",
    "..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/proc/self/environ",
    "pyproject.toml",  # the server's working directory
    str(ROOT / "assistant" / "config.py"),
    "file:///etc/passwd",
    "http://127.0.0.1:{port}/api/health",
    "https://example.com/",
]


@pytest.mark.parametrize("prefix", ["", "/embed"])
@pytest.mark.parametrize("target", OUTSIDE)
def test_file_routes_serve_nothing_outside_the_app(server, index_dir, prefix, target):
    target = target.format(port=server.rsplit(":", 1)[1])
    for route in ("/gradio_api/file=", "/file=", "/gradio_api/file/"):
        status, body = raw_get(server, prefix + route + target)
        assert 400 <= status < 500, (route, target, status)
        assert b"root:" not in body and b"ASSISTANT_" not in body and b"class Settings" not in body
    manifest = quote(str(index_dir / "manifest.json"))
    assert 400 <= raw_get(server, f"{prefix}/gradio_api/file={manifest}")[0] < 500


@pytest.mark.parametrize(
    "path",
    [
        "/static/../../../../../../etc/passwd",
        "/static/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/assets/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/embed/assets/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/widget/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/static-offline-docs/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    ],
)
def test_static_routes_resist_path_traversal(server, path):
    status, body = raw_get(server, path)
    assert 400 <= status < 500 and b"root:" not in body, (path, status)


def test_the_apps_own_static_files_are_still_served(server):
    """The refusals above are not a server that serves nothing."""
    page = httpx.get(server + "/").text
    assets = re.findall(r'src="\./(assets/[^"]+\.js)"', page)
    assert assets and all(httpx.get(f"{server}/{a}").status_code == 200 for a in assets)
    assert httpx.get(server + "/static/js/iframeResizer.contentWindow.min.js").status_code == 200
