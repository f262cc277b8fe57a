"""Run records: foreign and damaged files are skipped with a reason, history numbers stay
put, and a record that cannot be saved says so in one line."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from workbench.engine import records
from workbench.engine.compare import resolve_run
from workbench.errors import UserError


def rec(run_id: str, started: str, pipeline: str = "demo") -> dict:
    return {
        "run_id": run_id,
        "pipeline": pipeline,
        "started_at": started,
        "status": "finished",
        "stages": [],
        "items_per_s": 10.0,
        "memory": {"rss_peak_bytes": 1000},
    }


def save_three() -> list[Path]:
    return [
        records.save_run(rec(f"run{i}", f"2026-01-0{i}T10:00:00.{i}00+00:00")) for i in (1, 2, 3)
    ]


FOREIGN = {
    "list.json": ("[]", "holds a list, not a run record"),
    "null.json": ("null", "holds null, not a run record"),
    "number.json": ('{"started_at": 5}', "has no 'run_id'"),
    "types.json": ('{"run_id": "x", "started_at": 5}', "'started_at' is a number, not text"),
    "memory.json": (
        '{"run_id": "x", "started_at": "s", "memory": []}',
        "'memory' is a list, not an object",
    ),
    "rss.json": (
        '{"run_id": "x", "started_at": "s", "memory": {"rss_peak_bytes": "9"}}',
        "'memory.rss_peak_bytes' is text, not a number",
    ),
    "half.json": ('{"run_id": "x", "started_at": "2026-01-01T00:00', "a truncated record?"),
    "cut.json": ('{"run_id": "x", "stages": [1, 2', "a truncated record?"),
    "garbage.json": ("{nope}", "not JSON (Expecting property name"),
    "deep.json": ("[" * 200_000, "not JSON that pipebench can read (RecursionError)"),
    "latin1.json": (b'{"run_id": "\xe9"}', "not UTF-8 text"),
    "copy.json": (json.dumps(rec("copied", "2026-01-01T00:00:00")), "not named like a run record"),
}


def test_foreign_and_damaged_files_are_skipped_each_with_its_reason(pipebench_home: Path) -> None:
    paths = save_three()
    folder = paths[0].parent
    for name, (content, _) in FOREIGN.items():
        data = content if isinstance(content, bytes) else content.encode()
        (folder / name).write_bytes(data)
    (folder / "a-folder.json").mkdir()
    history = records.read_history()
    assert [n for n, _ in history.runs] == [1, 2, 3]
    assert [r["run_id"] for _, r in history.runs] == ["run1", "run2", "run3"]
    why = {s.path.name: s.reason for s in history.skipped}
    for name, (_, reason) in FOREIGN.items():
        assert reason in why[name], (name, why[name])
    assert why["a-folder.json"] == "not a regular file"
    for s in history.skipped:  # foreign files take no number; each warning is one line
        assert s.number is None
        assert "\n" not in s.warning and str(s.path) in s.warning
    assert records.load_runs(pipeline="demo") == [r for _, r in history.runs]


def test_a_fifo_named_like_a_record_does_not_block(pipebench_home: Path) -> None:
    folder = save_three()[0].parent
    os.mkfifo(folder / "20260101T000000-demo-fifo.json")
    result: list[records.RunHistory] = []
    reader = threading.Thread(target=lambda: result.append(records.read_history()), daemon=True)
    reader.start()
    reader.join(10)
    assert result, "reading the history blocked on a FIFO"
    [skip] = result[0].skipped
    assert skip.reason == "not a regular file" and skip.number == 1


def test_history_numbers_stay_put_when_a_record_is_damaged(pipebench_home: Path) -> None:
    paths = save_three()
    before = {n: r["run_id"] for n, r in records.read_history().runs}
    assert before == {1: "run1", 2: "run2", 3: "run3"}
    text = paths[1].read_text()
    paths[1].write_text(text[: len(text) // 2])  # half a file: a disk that filled, a bad copy
    (paths[0].parent / "zzz-foreign.json").write_text("[]")
    history = records.read_history()
    assert {n: r["run_id"] for n, r in history.runs} == {1: "run1", 3: "run3"}
    damaged = next(s for s in history.skipped if s.number == 2)
    assert damaged.warning.startswith("pipebench: skipped run #2, ")
    assert "truncated" in damaged.warning
    # compare takes the same numbers: #3 is still run3; #2 says why it cannot be used.
    assert resolve_run("3", history)["run_id"] == "run3"
    assert resolve_run("-1", history)["run_id"] == "run3"
    assert resolve_run("-3", history)["run_id"] == "run1"
    with pytest.raises(UserError, match=r"run #2 was skipped: .*truncated"):
        resolve_run("2", history)
    with pytest.raises(UserError, match="no run #4: 3 runs are recorded"):
        resolve_run("4", history)


def test_record_names_sort_in_start_order_to_the_millisecond() -> None:
    starts = [
        "2026-01-01T10:00:00+00:00",
        "2026-01-01T10:00:00.050000+00:00",
        "2026-01-01T10:00:00.5+00:00",
        "2026-01-01T10:00:00.700000+00:00",
        "2026-01-01T10:00:01.000100+00:00",
    ]
    names = [records.record_name(rec(f"r{i}", s, pipeline="zz")) for i, s in enumerate(starts)]
    assert names[1].startswith("20260101T100000.050-zz-r1")
    assert sorted(names, key=lambda n: n.replace("zz", "aa")) == names
    assert all(records.RECORD_NAME.fullmatch(n) for n in names)
    odd = records.record_name({"run_id": "../x", "started_at": 5, "pipeline": "a/../[b]"})
    assert odd == "unknown-a_..__b_-_x.json" and "/" not in odd


def test_a_very_long_pipeline_name_still_makes_a_record(pipebench_home: Path) -> None:
    """A pipeline called 5,000 characters long: a file name holds 255 bytes."""
    report = rec("r1", "2026-01-01T10:00:00+00:00", pipeline="p" + "\x1b[2J" * 1000)
    path = records.save_run(report)
    assert len(path.name) < 120 and records.RECORD_NAME.fullmatch(path.name)
    assert json.loads(path.read_text())["pipeline"] == report["pipeline"]


def test_an_unwritable_home_says_the_record_was_not_saved(
    pipebench_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_file = tmp_path / "home-is-a-file"
    a_file.write_text("")
    monkeypatch.setenv("PIPEBENCH_HOME", str(a_file))
    with pytest.raises(UserError) as err:
        records.save_run(rec("x", "2026-01-01T00:00:00"))
    msg = err.value.message
    assert msg.startswith("the run record was not saved: ") and "\n" not in msg
    assert str(a_file) in msg and "file, not a folder" in msg

    monkeypatch.setenv("PIPEBENCH_HOME", str(pipebench_home))
    pipebench_home.mkdir(mode=0o700)
    (pipebench_home / "runs").write_text("in the way")
    with pytest.raises(UserError, match="^the run record was not saved: .*runs.*not a folder"):
        records.save_run(rec("x", "2026-01-01T00:00:00"))
    assert sorted(p.name for p in pipebench_home.iterdir()) == ["runs"]  # no temp file left


def test_write_atomic_failure_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.mkdir()  # os.replace of a file onto a folder fails after the data was written
    with pytest.raises(UserError, match="^cannot write .*out.json: Is a directory"):
        records.write_atomic(target, {"a": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_records_are_private(pipebench_home: Path) -> None:
    path = records.save_run(rec("x", "2026-01-01T00:00:00"))
    for folder in (pipebench_home, path.parent):
        assert folder.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_record_with_a_number_that_is_not_finite_is_skipped_and_said(tmp_path, number):
    """pipebench never writes NaN or infinities: such a file is damaged or foreign, and
    skipped with why (compare and the tuning view crashed on it)."""
    path = tmp_path / "r.json"
    path.write_text('{"run_id": "x", "items_per_s": ' + number + "}")
    rec, why = records.read_record(path)
    assert rec is None and why is not None and "not finite" in why
