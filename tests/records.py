"""The answer record's shape, as the core issue specifies it: one JSON shape for `ask --json`, `eval`
and the HTTP API (tests compare Answer.to_dict() with it)."""

RECORD_KEYS = {
    "id",
    "question",
    "answer",
    "refused",
    "mode",
    "citations",
    "retrieved",
    "latency_ms",
}
CITATION_KEYS = {
    "marker", "chunk_id", "source", "paragraph", "start", "end", "text", "pages", "source_pages"
}  # fmt: skip
PASSAGE_KEYS = {"chunk_id", "source", "paragraph", "start", "end", "text", "score"}
