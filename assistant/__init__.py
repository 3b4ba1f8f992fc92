"""Study Assistant: answers questions about an essay and cites the passages it rests on.

The pipeline reads top to bottom: ingest -> embeddings -> index -> retrieval -> answering
(-> generation), wired together by the facade `Assistant` (assistant.py). Front ends (cli, web,
evaluation) are thin adapters over it; runtime is how the models run.

    from assistant import Assistant, Settings
    answer = Assistant.from_settings(Settings.from_env()).ask("What is the essay's thesis?")

Names load on first use, so `import assistant` (and `assistant --help`) stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "Assistant": "assistant.assistant",
    "check_question": "assistant.assistant",
    "Settings": "assistant.config",
    "Answer": "assistant.schema",
    "Citation": "assistant.schema",
    "Passage": "assistant.schema",
    "Chunk": "assistant.schema",
    "Document": "assistant.schema",
    "SentenceCheck": "assistant.schema",
    "Turn": "assistant.schema",
    "AssistantError": "assistant.errors",
    "ConfigError": "assistant.errors",
    "DocumentError": "assistant.errors",
    "InputError": "assistant.errors",
    "ModelError": "assistant.errors",
    "UnusableIndexError": "assistant.errors",
    "EvalOptions": "assistant.evaluation.run",
    "run_eval": "assistant.evaluation.run",
}
__all__ = [
    "Answer",
    "Assistant",
    "AssistantError",
    "Chunk",
    "Citation",
    "ConfigError",
    "Document",
    "DocumentError",
    "EvalOptions",
    "InputError",
    "ModelError",
    "Passage",
    "SentenceCheck",
    "Settings",
    "Turn",
    "UnusableIndexError",
    "check_question",
    "run_eval",
]

if TYPE_CHECKING:
    from assistant.assistant import Assistant, check_question
    from assistant.config import Settings
    from assistant.errors import (
        AssistantError,
        ConfigError,
        DocumentError,
        InputError,
        ModelError,
        UnusableIndexError,
    )
    from assistant.evaluation.run import EvalOptions, run_eval
    from assistant.schema import Answer, Chunk, Citation, Document, Passage, SentenceCheck, Turn


def __getattr__(name: str):  # noqa: ANN202 - PEP 562: load a public name on first use
    if name not in _EXPORTS:
        raise AttributeError(f"module 'assistant' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
