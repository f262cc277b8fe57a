"""The workbench's exit code says when it ended on an error: a traceback never exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = """
import sys
from pathlib import Path

from workbench.ui import app as ui_app


def broken(self):
    raise RuntimeError("a bug in a handler")


ui_app.PipebenchApp.{hook} = broken
sys.exit(ui_app.run_app(Path(sys.argv[1])))
"""


def run(tmp_path: Path, hook: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(SCRIPT).replace("{hook}", hook))
    env = {**os.environ, "TEXTUAL_DRIVER": "textual.drivers.headless_driver:HeadlessDriver"}
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_an_error_in_the_app_exits_1(tmp_path: Path) -> None:
    done = run(tmp_path, "on_mount")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "a bug in a handler" in done.stdout + done.stderr
