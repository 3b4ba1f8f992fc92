"""A library on one server (`assistant serve --library DIR` in a subprocess): each document's API,
chat and widget at its own address, the library page, lazy loading, and names that are not
documents (unknown, odd, or climbing out of the library) answered 404 without touching a file."""

import re
import shutil

import httpx
import pytest
from libraries import KEEPER, SECRET, build_library, library_server
from servers import raw_get

from assistant.config import Settings
from assistant.web.ui import API_NAME

WHO = 'Who says "Poor creatures. What did we do to you?"'


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory, essay_index_dir, embedder):
    return build_library(tmp_path_factory.mktemp("library-root"), essay_index_dir, embedder)


@pytest.fixture(scope="module")
def server(library_dir, tmp_path_factory):
    with library_server(library_dir, tmp_path_factory.mktemp("library-server")) as url:
        yield url


def loaded(server: str) -> dict[str, bool]:
    return {d["name"]: d["loaded"] for d in httpx.get(server + "/api/library").json()["documents"]}


def test_documents_load_on_first_use(server):
    assert httpx.get(server + "/api/health").json() == {
        "status": "ok", "library": ["broken", "essay", "lighthouse"]}
    assert loaded(server) == {"broken": False, "essay": False, "lighthouse": False}
    assert httpx.post(server + "/api/d/essay/ask", json={"question": WHO}, timeout=60).status_code == 200
    assert loaded(server) == {"broken": False, "essay": True, "lighthouse": False}


def test_each_document_answers_its_own_questions(server):
    essay = httpx.post(server + "/api/d/essay/ask", json={"question": WHO}, timeout=60).json()
    assert "Marie-Claude" in essay["answer"] and essay["citations"]
    assert {c["source"] for c in essay["citations"]} == {"never-let-me-go-essay.txt"}

    keeper = httpx.post(server + "/api/d/lighthouse/ask", json={"question": KEEPER}, timeout=60)
    assert keeper.status_code == 200, keeper.text
    keeper = keeper.json()
    assert "Agnes Moreau" in keeper["answer"] and not keeper["refused"]
    assert {c["source"] for c in keeper["citations"]} == {"lighthouse.md"}
    assert {p["source"] for p in keeper["retrieved"]} == {"lighthouse.md"}

    # the essay's question, asked of the lighthouse, never reaches the essay's passages
    crossed = httpx.post(server + "/api/d/lighthouse/ask", json={"question": WHO}, timeout=60).json()
    assert {p["source"] for p in crossed["retrieved"]} == {"lighthouse.md"}
    assert "Marie-Claude" not in crossed["answer"]

    health = httpx.get(server + "/api/d/lighthouse/health").json()
    assert health["documents"] == ["lighthouse.md"] and health["status"] == "ok"
    # the single-index API's errors, under the document's name
    empty = httpx.post(server + "/api/d/lighthouse/ask", json={"question": " "})
    assert empty.status_code == 422 and "empty" in empty.json()["error"]


def test_each_document_has_its_chat_and_widget(server):
    for path in ("/d/lighthouse/", "/d/lighthouse/embed/"):
        page = httpx.get(server + path, timeout=60)
        assert page.status_code == 200 and "<gradio-app" in page.text, path
        assert page.headers["content-security-policy"].startswith("frame-ancestors 'self' ")
    assert httpx.get(server + "/d/lighthouse").headers["location"] == "/d/lighthouse/"
    assert httpx.get(server + "/d/lighthouse/embed").headers["location"] == "/d/lighthouse/embed/"

    from gradio_client import Client

    for path in ("/d/lighthouse/", "/d/lighthouse/embed/"):
        client = Client(server + path, verbose=False)
        chat = client.predict(KEEPER, [], "extractive", api_name=f"/{API_NAME}")[0]
        assert "Agnes Moreau" in chat[-1]["content"][0]["text"], path


def test_the_library_page_lists_each_document_with_its_snippets(server):
    for path in ("/", "/library"):
        page = httpx.get(server + path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        for name in ("essay", "lighthouse"):
            assert f'href="/d/{name}/"' in page.text
            iframe = (f"&lt;iframe title=&quot;Study Assistant: {name}&quot; "
                      f"src=&quot;{server}/d/{name}/embed&quot;")
            assert iframe in page.text
            assert f"&lt;gradio-app src=&quot;{server}/d/{name}/embed/&quot;" in page.text
        assert f"{server}/widget/gradio.js" in page.text
        assert "bad.name" not in page.text and "empty" not in page.text
        assert "never-let-me-go-essay.txt" in page.text and "lighthouse.md" in page.text
    docs = httpx.get(server + "/openapi.json").json()["paths"]
    assert {"/api/library", "/api/health"} <= set(docs)
    assert httpx.get(server + "/docs").status_code == 200
    documents = httpx.get(server + "/api/library").json()["documents"]
    assert [d["name"] for d in documents] == ["broken", "essay", "lighthouse"]
    assert documents[2] | {"loaded": None} == {
        "name": "lighthouse", "sources": ["lighthouse.md"], "loaded": None,
        "chat": "/d/lighthouse/", "embed": "/d/lighthouse/embed", "ask": "/api/d/lighthouse/ask"}


def test_the_web_component_is_served(server):
    script = httpx.get(server + "/widget/gradio.js")
    assert script.status_code == 200 and "../assets/" in script.text
    bundle = re.search(r"""\.\./assets/([^"']+)""", script.text).group(1)
    assert httpx.get(f"{server}/assets/{bundle}").status_code == 200


def test_unknown_names_are_404_with_a_message(server):
    page = httpx.get(server + "/d/nope/")
    assert page.status_code == 404 and "no document named 'nope'" in page.text
    assert httpx.get(server + "/d/nope").status_code == 404
    answer = httpx.post(server + "/api/d/nope/ask", json={"question": WHO})
    assert answer.status_code == 404 and "no document named 'nope'" in answer.json()["error"]
    assert httpx.get(server + "/api/nope").status_code == 404


def test_a_broken_index_says_how_to_rebuild_it(server):
    answer = httpx.post(server + "/api/d/broken/ask", json={"question": KEEPER})
    assert answer.status_code == 503 and "corrupt manifest.json" in answer.json()["error"]
    page = httpx.get(server + "/d/broken/")
    assert page.status_code == 503 and "corrupt manifest.json" in page.text
    assert "could not be read" in httpx.get(server + "/library").text
    # the others are unaffected
    keeper = httpx.post(server + "/api/d/lighthouse/ask", json={"question": KEEPER}).json()
    assert "Agnes Moreau" in keeper["answer"]


def test_the_chat_serves_no_file_outside_its_own(server, library_dir):
    secret = library_dir.parent / "secret.txt"
    for path in (f"/d/lighthouse/gradio_api/file={secret}",
                 f"/d/lighthouse/embed/gradio_api/file={secret}",
                 f"/d/lighthouse/gradio_api/file={library_dir}/lighthouse/manifest.json"):
        status, body = raw_get(server, path, timeout=30)
        assert status in (403, 404), (path, status)
        assert SECRET.encode() not in body and b"sha256" not in body


@pytest.mark.parametrize("path", [
    "/d/../secret.txt", "/d/%2e%2e/secret.txt", "/d/..%2fsecret.txt/", "/d/bad.name/",
    "/d/bad.name/embed/", "/d/empty/", "/d/.hidden/", "/d/essay%00/", "/d/%C3%A9/",
    "/api/d/../../secret.txt/ask", "/api/d/%2e%2e/ask", "/api/d/bad.name/ask", "/d/essay/../../secret.txt",
    "/d/" + "a" * 65 + "/",
])
def test_odd_names_never_reach_a_file(server, path):
    status, body = raw_get(server, path, timeout=30)
    assert status in (400, 404), (path, status)
    assert SECRET.encode() not in body


def test_the_rate_limit_is_one_budget_for_the_whole_library(library_dir, tmp_path):
    with library_server(library_dir, tmp_path, ASSISTANT_RATE_LIMIT_PER_MINUTE="2") as url:
        asked = [httpx.post(f"{url}/api/d/{name}/ask", json={"question": KEEPER}, timeout=60)
                 for name in ("lighthouse", "essay", "lighthouse", "essay")]
    assert [r.status_code for r in asked] == [200, 200, 429, 429]
    assert asked[3].headers["retry-after"]


def test_an_index_added_to_the_library_is_served_without_a_restart(library_dir, tmp_path):
    library = shutil.copytree(library_dir, tmp_path / "library")
    with library_server(library, tmp_path) as url:
        assert httpx.get(f"{url}/d/week3/").status_code == 404
        shutil.copytree(library / "lighthouse", library / "week3")
        assert "week3" in [d["name"] for d in httpx.get(f"{url}/api/library").json()["documents"]]
        keeper = httpx.post(f"{url}/api/d/week3/ask", json={"question": KEEPER}, timeout=60).json()
        assert "Agnes Moreau" in keeper["answer"]
        assert httpx.get(f"{url}/d/week3/", timeout=60).status_code == 200


def test_serve_takes_one_index_or_one_library(run_cli, library_dir):
    done = run_cli("serve", "--index", str(library_dir / "essay"), "--library", str(library_dir))
    assert done.returncode == 2 and "not both" in done.stderr
    done = run_cli("serve", "--library", str(library_dir / "missing"))
    assert done.returncode == 3 and "no library at" in done.stderr


def test_the_library_directory_is_a_setting():
    assert Settings().library_dir is None
    assert str(Settings.from_env({"ASSISTANT_LIBRARY_DIR": "/srv/library"}).library_dir) == "/srv/library"
    assert Settings.from_env({"ASSISTANT_LIBRARY_DIR": ""}).library_dir is None
