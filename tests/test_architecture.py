"""The package's import contracts (pyproject.toml, run by `make lint`): they hold for the tree,
and they fail on a front end that reaches past the facade or a stage that imports a front end."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import assistant

ROOT = Path(__file__).resolve().parent.parent
LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def _lint(root: Path) -> subprocess.CompletedProcess:
    """lint-imports over the `assistant` package found in `root`, with the project's contracts."""
    return subprocess.run(
        [sys.executable, "-c", LINT, "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def tree(tmp_path) -> Path:
    """A copy of the package and its contracts to break."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "assistant", tmp_path / "assistant",
                    ignore=shutil.ignore_patterns("__pycache__", "data"))
    return tmp_path


def test_the_tree_keeps_its_contracts():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("web/view.py", "from assistant.index import load_index", "only through the facade"),
        ("retrieval.py", "from assistant.web import view", "flows one way"),
        ("web/view.py", "from assistant.web import ui", "No import cycles"),
    ],
)
def test_a_violation_breaks_the_lint(tree, module, line, broken):
    path = tree / "assistant" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # noqa: E402\n", encoding="utf-8")
    result = _lint(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout and broken in result.stdout


def test_the_public_surface_loads_on_first_use():
    assert set(assistant.__all__) >= {"Assistant", "Settings", "Answer", "AssistantError",
                                      "InputError", "run_eval"}
    for name in assistant.__all__:
        assert getattr(assistant, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'retriever'"):
        assistant.retriever  # noqa: B018


def test_importing_the_package_loads_no_stage():
    code = "import sys, assistant; print(sorted(m for m in sys.modules if m.startswith('assistant.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    assert loaded.strip() == "[]"
