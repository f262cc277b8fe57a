"""The tree stays formatted, lint-clean, typed and inside its import contracts: the test
command runs the same tools a developer does (``ruff format --check``, ``ruff check``,
``mypy workbench``, ``lint-imports``), from the repository root, and fails with their
output."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    """The tool installed next to this Python (the venv's), else the one on PATH."""
    here = Path(sys.executable).with_name(name)
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "format", "--check", "."],
        ["ruff", "check", "."],
        ["mypy", "workbench"],
        ["lint-imports"],
    ],
    ids=["ruff-format", "ruff-check", "mypy", "lint-imports"],
)
def test_tool_passes(command: list[str]) -> None:
    out = subprocess.run(
        [tool(command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, f"`{' '.join(command)}` failed:\n{out.stdout}{out.stderr}"


def test_import_contracts_are_all_checked() -> None:
    out = subprocess.run([tool("lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert "5 kept, 0 broken" in out.stdout, out.stdout + out.stderr
