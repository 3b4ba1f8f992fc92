"""Settings: one frozen dataclass with commented defaults, and the only reader of the environment.

Every other module takes a `Settings` (or the few fields it needs) as an argument; nothing here
touches the disk or the network at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from assistant.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_DOCUMENT = PACKAGE_DIR / "data" / "never-let-me-go-essay.txt"

# Variables Gradio and huggingface_hub read: without them the app calls home or tries a hub.
OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

MODES = ("extractive", "generative")
SCORINGS = ("learned", "rules")
LLM_BACKENDS = ("llamacpp", "openai", "none")
PRACTICE_CHECKS = ("standard", "strict")


def apply_offline_env() -> None:
    """Set the variables that keep Gradio and the model hub from calling home (unless already set)."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


@dataclass(frozen=True)
class Settings:
    # --- documents and index ---
    index_dir: Path = ROOT / "indexes" / "default"  # where `ask`/`serve` look for the index
    # `serve` answers about every index in this directory's subdirectories, each at /d/<name>/,
    # instead of the one index_dir (None: one index)
    library_dir: Path | None = None
    default_document: Path = DEFAULT_DOCUMENT  # built into the default index when it is missing
    chunk_chars: int = 800  # a passage holds whole sentences up to about this many characters
    chunk_overlap: int = 1  # sentences repeated at the start of the next passage
    # --- retrieval and answers ---
    k: int = 5  # passages retrieved (and listed in `retrieved`)
    max_answer_sentences: int = 3  # the extractive answer quotes at most this many sentences
    max_answer_chars: int = 600  # ...and adds none that would take it past this length
    max_question_chars: int = 2000  # longer questions are refused with a clear message
    # "learned": the trained reader (assistant/data/reader) scores sentences and decides whether
    # the document answers; "rules": hand-set weights and threshold, kept for comparison
    scoring: str = "learned"
    mode: str = (
        "extractive"  # "extractive" (quote the essay) or "generative" (explain with the LLM)
    )
    # --- the language model (generative mode) ---
    llm_backend: str = (
        "llamacpp"  # "llamacpp" (embedded GGUF), "openai" (any compatible server), "none"
    )
    model_cache: Path = field(default_factory=lambda: Path.home() / ".cache" / "study-assistant")
    llm_threads: int = 2  # llama.cpp's own default is 1 here
    # tokens of context for the embedded model: a document up to about 5,500 words sits whole in
    # Explain's prompt (its key/value cache takes 28 KB a token: 235 MB at 8192)
    llm_context: int = 8192
    llm_max_tokens: int = 256  # longest generated answer
    # Explain puts a document whole in its prompt (evaluated once, saved beside the index) when its
    # prompt is at most this many tokens and fits the context; a longer one gets, for each
    # question, the passages retrieval finds
    llm_whole_document_tokens: int = 100_000
    llm_draft_tokens: int = 3  # llama.cpp: tokens guessed from the prompt per step (0: off)
    # llama.cpp: documents whose evaluated prompt is kept in memory (28 KB a token, ~130 MB for a
    # 3,700-word essay); the others are restored from the state file beside their index
    llm_states_in_memory: int = 2
    llm_timeout_s: float = 60.0  # a generation past this falls back to the extractive answer
    # the check of the model's practice questions: "standard", or "strict", which adds the trained
    # answer-span model; strict keeps about a third fewer, and in the hand audit (BENCHMARKS.md)
    # it dropped as many right questions as wrong ones, so it is not the default
    practice_check: str = "standard"
    openai_base_url: str = ""  # e.g. http://127.0.0.1:8080/v1
    openai_model: str = ""  # model name the server expects
    openai_api_key_env: str = "OPENAI_API_KEY"  # name of the variable that holds the key
    prompts_dir: Path = ROOT / "prompts"
    history_turns: int = 3  # follow-ups are rewritten with at most this many previous exchanges
    # --- serving ---
    host: str = "127.0.0.1"
    port: int = 7860
    allowed_origins: tuple[
        str, ...
    ] = ()  # origins allowed to embed and call the app (besides its own and localhost)
    rate_limit_per_minute: int = 120  # per client on the HTTP API; 0 turns it off
    queue_size: int = 64  # chat requests waiting beyond this get "busy, try again"
    max_body_bytes: int = 64_000  # larger HTTP request bodies get a 413
    # a library's teacher page (/teacher), where documents are uploaded, replaced and deleted,
    # is on only when this is set (at least 16 characters; send it as "Authorization: Bearer ...")
    teacher_token: str = field(default="", repr=False)
    max_upload_bytes: int = 50_000_000  # a teacher's larger upload gets a 413 before it is read
    # a student may upload a document of their own in the full chat, for their session only (held in
    # memory, never in the library); its limits, and how many such documents the server holds at once
    # (across all sessions and documents; the next upload past it is refused until one is released)
    student_upload_max_bytes: int = 10_000_000
    student_upload_max_pages: int = 300  # PDF pages
    student_upload_max_chars: int = 1_000_000  # of text, any format (about 300 pages of prose)
    student_uploads_max: int = 10

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.scoring not in SCORINGS:
            raise ConfigError(f"scoring must be one of {', '.join(SCORINGS)}, not {self.scoring!r}")
        if self.llm_backend not in LLM_BACKENDS:
            raise ConfigError(
                f"llm_backend must be one of {', '.join(LLM_BACKENDS)}, not {self.llm_backend!r}"
            )
        if self.practice_check not in PRACTICE_CHECKS:
            raise ConfigError(f"practice_check must be one of {', '.join(PRACTICE_CHECKS)}, not "
                              f"{self.practice_check!r}")
        for name in ("k", "chunk_chars", "max_answer_sentences", "max_question_chars", "port",
                     "max_upload_bytes", "student_upload_max_bytes", "student_upload_max_pages",
                     "student_upload_max_chars"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.teacher_token and len(self.teacher_token.strip()) < 16:
            raise ConfigError("the teacher token (ASSISTANT_TEACHER_TOKEN) must be at least 16 "
                              "characters; make one with `python -c 'import secrets; "
                              "print(secrets.token_urlsafe())'`")
        for name in ("chunk_overlap", "llm_draft_tokens", "llm_states_in_memory",
                     "llm_whole_document_tokens", "student_uploads_max"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, not {getattr(self, name)}")

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Settings from ASSISTANT_* variables, e.g. ASSISTANT_INDEX_DIR, ASSISTANT_K, ASSISTANT_MODE."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"ASSISTANT_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _parse(f.name, f.type, raw)
        return cls(**values)


def _parse(name: str, type_name: object, raw: str) -> object:
    kind = str(type_name)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path | None" and not raw.strip():
            return None
        if kind in ("Path", "Path | None"):
            return Path(raw).expanduser()
        if kind.startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"ASSISTANT_{name.upper()} must be a {kind}, not {raw!r}") from None
    return raw
