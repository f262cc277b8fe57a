"""Shared fixtures: every test gets its own PIPEBENCH_HOME, so no record or generated data
lands in the repository, and a helper to write small pipeline modules."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def pipebench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "pbhome"
    monkeypatch.setenv("PIPEBENCH_HOME", str(home))
    return home


@pytest.fixture
def write_module(tmp_path: Path):
    """Write ``source`` (dedented) as ``tmp_path/mods/<name>.py`` and return its path."""

    def write(name: str, source: str) -> Path:
        folder = tmp_path / "mods"
        folder.mkdir(exist_ok=True)
        path = folder / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        return path

    return write
