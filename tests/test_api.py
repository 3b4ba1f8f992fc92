"""The HTTP API in process: the answer record, bad bodies, size and rate limits, health, origin
headers and the offline docs. Real model, real index under tmp_path; the app is the production
`create_api`, driven through httpx's ASGI transport (the real server is in test_server.py)."""

import asyncio
import json
import re

import httpx
import pytest
from records import CITATION_KEYS, PASSAGE_KEYS, RECORD_KEYS

from assistant import Settings
from assistant.web.api import BUSY, AnswerRecord, create_api

WHO = 'Who says "Poor creatures. What did we do to you?"'


@pytest.fixture(scope="module")
def embedder():
    from assistant.embeddings import load_embedder

    return load_embedder()


@pytest.fixture(scope="module")
def index(tmp_path_factory, embedder):
    from assistant.assistant import build_documents
    from assistant.index import load_index

    directory = tmp_path_factory.mktemp("index")
    settings = Settings(index_dir=directory, llm_backend="none")
    build_documents([settings.default_document], directory, settings, embedder)
    return settings, load_index(directory, embedder)


def make_client(index, embedder, **changes) -> httpx.AsyncClient:
    """A client for a fresh app (fresh rate limits) over the shared index and model."""
    from assistant import Assistant

    settings, loaded = index
    assistant = Assistant(settings.with_(**changes), loaded, embedder)
    transport = httpx.ASGITransport(app=create_api(assistant), client=("203.0.113.9", 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def call(index, embedder, requests, **changes) -> list[httpx.Response]:
    """Send (method, path, kwargs) requests one after another to one app."""

    async def go():
        async with make_client(index, embedder, **changes) as client:
            return [await client.request(m, p, **kw) for m, p, kw in requests]

    return asyncio.run(go())


def ask(index, embedder, body, **changes) -> httpx.Response:
    return call(index, embedder, [("POST", "/api/ask", {"json": body})], **changes)[0]


def test_ask_returns_the_answer_record(index, embedder):
    response = ask(index, embedder, {"question": WHO, "k": 3, "id": "q-1"})
    assert response.status_code == 200, response.text
    record = response.json()
    AnswerRecord.model_validate(record)
    assert RECORD_KEYS <= set(record) and set(record) - RECORD_KEYS <= {"notice"}
    assert record["id"] == "q-1" and record["question"] == WHO and record["mode"] == "extractive"
    assert record["refused"] is False and "Marie-Claude" in record["answer"]
    assert len(record["retrieved"]) == 3
    assert all(set(p) == PASSAGE_KEYS for p in record["retrieved"])
    assert record["citations"] and all(set(c) == CITATION_KEYS for c in record["citations"])
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", record["answer"])}
    assert markers == {c["marker"] for c in record["citations"]}
    assert any("254" in c["pages"] for c in record["citations"])


def test_the_record_is_the_facades_record(index, embedder):
    """The API adds nothing and drops nothing: same record as `assistant ask --json`."""
    from assistant import Assistant

    settings, loaded = index
    expected = Assistant(settings, loaded, embedder).ask(WHO).to_dict()
    got = ask(index, embedder, {"question": WHO}).json()
    for record in (expected, got):
        record.pop("latency_ms")
    assert got == expected


def test_off_topic_question_is_refused_without_citations(index, embedder):
    record = ask(index, embedder, {"question": "What is the capital of France?"}).json()
    assert record["refused"] is True and record["citations"] == []


def test_history_makes_a_short_follow_up_about_the_previous_question(index, embedder):
    history = [{"question": WHO, "answer": "Madame Marie-Claude asks it. [1]"}]
    record = ask(index, embedder, {"question": "Which page?", "history": history}).json()
    assert record["standalone_question"].startswith(WHO)
    assert any("254" in c["pages"] for c in record["citations"])


def test_concurrent_questions_are_batched_but_never_mixed_up(index, embedder):
    questions = [
        (WHO, 2),
        ("What does Ruth fear?", 4),
        ("Who are the clones?", 2),
        ("What is the capital of France?", 3),
    ] * 4

    async def go():
        async with make_client(index, embedder) as client:
            return await asyncio.gather(
                *(
                    client.post("/api/ask", json={"question": q, "k": k, "id": str(n)})
                    for n, (q, k) in enumerate(questions)
                )
            )

    responses = asyncio.run(go())
    alone = {q: ask(index, embedder, {"question": q, "k": k}).json() for q, k in questions[:4]}
    for n, ((question, k), response) in enumerate(zip(questions, responses, strict=True)):
        record = response.json()
        assert response.status_code == 200
        assert (record["id"], record["question"], len(record["retrieved"])) == (str(n), question, k)
        assert record["answer"] == alone[question]["answer"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"question": ""},
        {"question": "   \n "},
        {"question": "why? " * 4000},
        {"question": 5},
        {"question": ["Who is Ruth?"]},
        {"question": None},
        {"question": "Who is Ruth?", "k": "five"},
        {"question": "Who is Ruth?", "k": 0},
        {"question": "Who is Ruth?", "k": True},
        {"question": "Who is Ruth?", "mode": "poetic"},
        {"question": "Who is Ruth?", "history": "we talked"},
        {"question": "Who is Ruth?", "history": [{"question": "Who?"}]},
        {"question": "Who is Ruth?", "unexpected": 1},
        ["Who is Ruth?"],
    ],
    ids=lambda body: json.dumps(body)[:40],
)
def test_bad_bodies_get_a_one_line_422(index, embedder, body):
    response = ask(index, embedder, body)
    assert response.status_code == 422, response.text
    message = response.json()["error"]
    assert message and "\n" not in message and "Traceback" not in message


def test_invalid_json_gets_a_one_line_422(index, embedder):
    [response] = call(
        index,
        embedder,
        [
            (
                "POST",
                "/api/ask",
                {"content": b"{question:", "headers": {"content-type": "application/json"}},
            )
        ],
    )
    assert response.status_code == 422
    assert response.json() == {"error": "the body is not valid JSON"}
    # JSON sent as a form (curl -d without a content-type), or a list instead of an object
    form, listed = call(index, embedder, [
        ("POST", "/api/ask", {"content": b'{"question": "Who is Ruth?"}',
                              "headers": {"content-type": "application/x-www-form-urlencoded"}}),
        ("POST", "/api/ask", {"json": ["Who is Ruth?"]})])
    for response in (form, listed):
        assert response.status_code == 422
        assert "content-type: application/json" in response.json()["error"], response.text


def test_unreadable_bodies_and_unknown_routes_get_the_error_shape_too(index, embedder):
    latin1 = {"content": '{"question": "Qui est Mad\u00e9?"}'.encode("latin-1"),
              "headers": {"content-type": "application/json"}}
    unreadable, unknown, wrong = call(index, embedder, [
        ("POST", "/api/ask", latin1), ("GET", "/api/nothing", {}), ("GET", "/api/ask", {})])
    assert unreadable.status_code in (400, 422) and set(unreadable.json()) == {"error"}
    assert unknown.status_code == 404 and unknown.json() == {
        "error": "no such endpoint: /api/nothing; see /docs"}
    assert wrong.status_code == 405 and wrong.json() == {"error": "GET is not allowed here; see /docs"}


def test_a_history_turn_may_carry_its_citations_for_a_page_follow_up(index, embedder):
    first = ask(index, embedder, {"question": "What does Ruth fear?"}).json()
    turn = {"question": first["question"], "answer": first["answer"],
            "cited": [c["chunk_id"] for c in first["citations"]]}
    page = ask(index, embedder, {"question": "What page is that on?", "history": [turn]})
    assert page.status_code == 200 and page.json()["answer"].startswith("Page 166: ")


def test_a_numeric_id_is_echoed_as_a_string_as_eval_writes_it(index, embedder):
    assert ask(index, embedder, {"question": WHO, "id": 42}).json()["id"] == "42"


def test_an_over_long_question_says_the_limit(index, embedder):
    response = ask(index, embedder, {"question": "x" * 2001})
    assert response.status_code == 422 and "2,000" in response.json()["error"]


async def chunks(data: bytes):
    yield data


def test_a_body_over_the_limit_gets_413_before_it_is_read(index, embedder):
    big = {"question": "Who is Ruth?", "history": [{"question": "q" * 600, "answer": "a"}]}
    [sized, chunked] = call(
        index,
        embedder,
        [
            ("POST", "/api/ask", {"json": big}),
            # No Content-Length: the body arrives chunked and is counted as it comes.
            ("POST", "/api/ask", {"content": chunks(json.dumps(big).encode()),
                                  "headers": {"content-type": "application/json"}}),
        ],
        max_body_bytes=500,
    )  # fmt: skip
    for response in (sized, chunked):
        assert response.status_code == 413, response.text
        assert "500 bytes" in response.json()["error"]
    assert ask(index, embedder, {"question": "Who is Ruth?"}, max_body_bytes=500).status_code == 200


def test_a_burst_gets_429_with_retry_after(index, embedder):
    responses = call(
        index,
        embedder,
        [("POST", "/api/ask", {"json": {"question": "Who is Ruth?"}})] * 5
        + [("GET", "/api/health", {})],
        rate_limit_per_minute=3,
    )
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429, 200]
    limited = responses[3]
    assert int(limited.headers["retry-after"]) >= 1
    assert "try again" in limited.json()["error"]


def test_more_questions_than_the_queue_holds_get_503_busy(index, embedder):
    questions = ["Who is Ruth?", "What is Hailsham?", "Who are the clones?", "Who is Madame?"]

    async def go():
        async with make_client(index, embedder, queue_size=1) as client:
            return await asyncio.gather(
                *(client.post("/api/ask", json={"question": q}) for q in questions)
            )

    responses = asyncio.run(go())
    statuses = [r.status_code for r in responses]
    busy = [r for r in responses if r.status_code == 503]
    assert 200 in statuses and 503 in statuses, statuses
    assert busy and all(r.json()["error"] == BUSY and r.headers["retry-after"] == "1" for r in busy)


def test_health(index, embedder):
    settings, loaded = index
    [response] = call(index, embedder, [("GET", "/api/health", {})])
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "documents": ["never-let-me-go-essay.txt"],
        "chunks": len(loaded.chunks),
        "mode": "extractive",
    }


def test_frame_ancestors_and_cors_follow_the_allowed_origins(index, embedder):
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
    }
    origins = ["http://127.0.0.1:9999", "https://school.example", "https://evil.example"]
    responses = call(
        index,
        embedder,
        [("OPTIONS", "/api/ask", {"headers": {"origin": o, **preflight}}) for o in origins]
        + [("GET", "/api/health", {"headers": {"origin": o}}) for o in origins],
        allowed_origins=("https://school.example",),
    )
    for response, origin in zip(responses, origins * 2, strict=True):
        allowed = response.headers.get("access-control-allow-origin")
        assert allowed == (None if "evil" in origin else origin), (origin, response.headers)
        csp = response.headers["content-security-policy"]
        assert csp.startswith("frame-ancestors 'self' ")
        assert "https://school.example" in csp and "evil" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"


def test_docs_are_served_without_a_cdn(index, embedder):
    [docs, redoc, schema] = call(
        index, embedder, [("GET", p, {}) for p in ("/docs", "/redoc", "/openapi.json")]
    )
    assert docs.status_code == redoc.status_code == schema.status_code == 200
    assets = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", docs.text + redoc.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    fetched = call(index, embedder, [("GET", a, {}) for a in set(assets)])
    assert all(r.status_code == 200 for r in fetched), [(r.url, r.status_code) for r in fetched]
    paths = schema.json()["paths"]
    assert {"/api/ask", "/api/health"} <= set(paths)
    body = paths["/api/ask"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/AskRequest")
