"""`pipebench history` and `compare` with foreign, damaged and unwritable records: one
warning line per file skipped, numbers that stay put, and no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration import mounts
from tests.integration.helpers import pipebench
from tests.unit.test_compare import A, B
from workbench.engine import records


def test_history_and_compare_skip_foreign_files_with_one_line_each(
    tmp_path: Path, pipebench_home: Path
) -> None:
    saved = [
        records.save_run(dict(A, started_at="2026-01-01T00:00:00")),
        records.save_run(dict(B, started_at="2026-01-02T00:00:00")),
        records.save_run(dict(A, run_id="cccc55556666", started_at="2026-01-03T00:00:00")),
    ]
    runs = saved[0].parent
    (runs / "list.json").write_text("[]")
    (runs / "null.json").write_text("null")
    (runs / "started.json").write_text('{"started_at": 5}')
    text = saved[1].read_text()
    saved[1].write_text(text[: len(text) // 2])  # run #2, cut in half

    r = pipebench("history", cwd=tmp_path, json_name=None)
    assert r.code == 0, r.err
    assert "Traceback" not in r.err + r.out
    warnings = r.err.splitlines()
    assert len(warnings) == 4, r.err
    for name in ("list.json", "null.json", "started.json", saved[1].name):
        [line] = [w for w in warnings if name in w]
        assert line.startswith("pipebench: skipped ")
    assert any(w.startswith("pipebench: skipped run #2, ") and "truncated" in w for w in warnings)
    rows = {ln.split()[0] for ln in r.out.splitlines() if " demo " in ln}
    assert rows == {"1", "3"}  # #3 is still #3: nothing renumbered

    r = pipebench("compare", "1", "3", cwd=tmp_path, json_name=None)
    assert r.code == 0 and "run cccc55556666" in r.out, r.err
    assert len(r.err.splitlines()) == 4
    r = pipebench("compare", "1", "2", cwd=tmp_path, json_name=None)
    assert r.code == 2
    assert r.err.splitlines()[-1].startswith("error: run #2 was skipped: ")
    assert "Traceback" not in r.err


def test_compare_refuses_a_report_file_that_is_no_report_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(A))
    (tmp_path / "odd.json").write_text('{"run_id": "x", "started_at": "s", "stages": 5}')
    r = pipebench("compare", "a.json", "odd.json", cwd=tmp_path, json_name=None)
    assert r.code == 2 and len(r.err.splitlines()) == 1, r.err
    assert "odd.json is not a run report: 'stages' is a number, not a list" in r.err


MODULE = """
from workbench import pipeline

def numbers(n):
    yield from range(n)

def double(xs):
    for x in xs:
        yield 2 * x

@pipeline
def tiny(batch_size: int = 1, n: int = 50):
    return numbers(n), double
"""


@pytest.mark.skipif(not mounts.supported(), reason="no read-only bind mounts here")
def test_a_read_only_home_says_in_one_line_that_the_record_was_not_saved(
    tmp_path: Path, pipebench_home: Path
) -> None:
    module = tmp_path / "tiny.py"
    module.write_text(textwrap.dedent(MODULE))
    pipebench_home.mkdir(mode=0o700)
    argv = [sys.executable, "-m", "workbench.cli.main", "run", str(module)]
    done = subprocess.run(
        mounts.read_only_argv(argv, pipebench_home),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    said = done.stderr.strip().splitlines()
    # said before the run, and again after it, whose report was given all the same
    assert said[0] == (
        "warning: the run's record will not be saved: the pipebench home "
        f"{pipebench_home} cannot be written"
    ), done.stderr
    assert "finished" in done.stdout
    last = said[-1]
    assert last.startswith("error: the run record was not saved: "), done.stderr
    assert "Read-only file system" in last and str(pipebench_home / "runs") in last
    assert "Traceback" not in done.stderr
    assert done.returncode == 2
    assert list(pipebench_home.iterdir()) == []


def test_a_home_that_is_a_file_gets_the_report_and_json_and_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "tiny.py"
    module.write_text(textwrap.dedent(MODULE))
    a_file = tmp_path / "home"
    a_file.write_text("mine")
    monkeypatch.setenv("PIPEBENCH_HOME", str(a_file))
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli.main", "run", str(module), "--json", "r.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done
    said = done.stderr.strip().splitlines()
    assert "is not a folder" in said[0] and said[-1].startswith("error: the run record was not")
    assert "finished" in done.stdout and (tmp_path / "r.json").exists()  # nothing lost
    assert a_file.read_text() == "mine"
