"""Study aids kept beside their index in `study.json`, with a format version and what they were
built from (the documents' sha256s, the passages file, the scoring, the prompts and the model).

Written atomically (a temporary file, then a rename), so an interrupted build leaves the previous
file, or none, and never half of one. `load` returns None for a file that is missing, unreadable,
of another format or built from anything else, and the caller builds again. Leaves out building.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from assistant.study.aids import StudyAids

FILE_NAME = "study.json"
FORMAT = 1

log = logging.getLogger(__name__)


def load(directory: Path, built_from: dict[str, Any], *, any_model: bool) -> StudyAids | None:
    """The stored study aids when they were built from `built_from`; with `any_model`, also
    those built with another model, prompts or answer-span model (their questions were checked
    all the same), but never fill-in-the-blank ones when a model is wanted now."""
    path = Path(directory) / FILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            return None
        aids = StudyAids.from_dict(data)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring %s (%s); the study aids are built again", path, exc)
        return None
    return aids if fresh(aids, built_from, any_model=any_model) else None


# what wrote and checked the model's questions: with `any_model`, aids made with others are served
CHECKED_WITH = ("model", "prompts", "answer_span")


def fresh(aids: StudyAids, built_from: dict[str, Any], *, any_model: bool) -> bool:
    """Whether study aids were built from `built_from` (see `load` for `any_model`)."""
    stored = aids.built_from

    def base(key: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in key.items() if k not in CHECKED_WITH}

    if base(stored) != base(built_from):
        return False
    if any_model:
        return bool(stored.get("model")) or not built_from.get("model")
    return all(stored.get(k) == built_from.get(k) for k in CHECKED_WITH)


def save(directory: Path, aids: StudyAids) -> bool:
    """Write the study aids beside the index; False (and a warning) when the directory is not
    writable, so a read-only index still serves them from memory."""
    path = Path(directory) / FILE_NAME
    data = json.dumps({"format": FORMAT, **aids.to_dict()}, ensure_ascii=False, indent=1)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        log.warning("cannot save the study aids in %s (%s)", directory, exc.strerror)
        return False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
