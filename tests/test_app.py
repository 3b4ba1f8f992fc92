"""app.py refuses an unusable index with one line and an exit code, not a traceback."""

import os
import subprocess
import sys

from assistant.config import ROOT


def test_app_with_a_missing_index_says_how_to_build_one(tmp_path):
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(tmp_path / "nowhere"), "ASSISTANT_PORT": "9"}
    done = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 3
    assert done.stderr.strip().splitlines()[-1].startswith("error: no index at")
    assert "assistant ingest" in done.stderr and "Traceback" not in done.stderr
