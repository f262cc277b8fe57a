"""The early-end guarantee, with real runner processes: whether a run finishes, is stopped,
is interrupted with Ctrl-C, fails in a stage, passes its memory budget or its time limit,
every open context exits exactly once; the transaction is rolled back and the experiment
log's handler removed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from workbench.engine.follow import Follower, RunJob, Update
from workbench.engine.runner import RunOptions
from workbench.engine.session import RunState, report

PIPELINE = Path(__file__).with_name("resources_pipeline.py")
TARGET = f"{PIPELINE}:resources"
KINDS = {"experiment_log", "sqlite_transaction", "gpu_memory", "timed"}


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("PIPEBENCH_HOME", str(tmp_path / "home"))
    db = tmp_path / "rows.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t(i INT)")  # so that "no rows" means "rolled back"
    return {"db": str(db), "log": str(tmp_path / "experiment.log")}


def logged_batches(files: dict[str, str]) -> int:
    try:
        return Path(files["log"]).read_text().count(" batch ")
    except FileNotFoundError:
        return 0


def run(
    files: dict[str, str], stop_after: int | None = None, target: str = TARGET, **options: Any
) -> dict[str, Any]:
    """Run the pipeline to its end (stopping it once ``stop_after`` batches were logged)
    and return its report."""
    params = {**files, **{k: str(v) for k, v in options.pop("params", {}).items()}}

    def watch(update: Update[RunState]) -> None:
        ready = stop_after is not None and logged_batches(files) >= stop_after
        if ready and not follower.stopping:
            follower.request_stop()

    follower = Follower(RunJob(target, RunOptions(params=params, **options)), on_update=watch,
                        interval=0.05)  # fmt: skip
    return report(follower.run())


def check_every_context_exited_once(
    rep: dict[str, Any], files: dict[str, str], committed: bool
) -> dict[str, dict[str, Any]]:
    records = rep["contexts"]["records"]
    assert {r["kind"] for r in records} >= KINDS
    for r in records:
        assert r["exits"] == 1, r
        assert r["outcome"] != "open", r
    assert rep["contexts"]["open"] == 0
    by_kind = {r["kind"]: r for r in records}
    sql = by_kind["sqlite_transaction"]
    rows = sqlite3.connect(files["db"]).execute("SELECT count(*) FROM t").fetchone()[0]
    if committed:
        assert sql["outcome"] == "committed" and rows > 0
    else:
        assert sql["outcome"] == "rolled back" and rows == 0, (sql, rows)
    log = by_kind["experiment_log"]
    assert log["detail"]["handler_removed"] is True
    assert (
        Path(files["log"])
        .read_text()
        .splitlines()[-1]
        .split(" INFO ")[-1]
        .split(" WARNING ")[-1]
        .startswith("experiment ended: ")
    )
    assert any(line.endswith("HANDLERS 0") for line in rep["log_tail"]), rep["log_tail"]
    return by_kind


def test_a_finished_run_commits_and_closes_everything(files: dict[str, str]) -> None:
    rep = run(files, params={"limit": 20, "sleep_ms": 1})
    assert rep["status"] == "finished"
    by_kind = check_every_context_exited_once(rep, files, committed=True)
    assert by_kind["experiment_log"]["outcome"] == "ok"
    assert any("experiment.log: INFO batch 3" in line for line in rep["log_tail"])


def test_stop_rolls_back_and_removes_the_handler(files: dict[str, str]) -> None:
    rep = run(files, stop_after=5)
    assert rep["status"] == "stopped" and rep["stop_reason"] == "user"
    by_kind = check_every_context_exited_once(rep, files, committed=False)
    # Ended by the stop, whether it landed in the stage's own code or at a boundary (the
    # chain then closed for it): said so, never a bare "closed".
    assert by_kind["experiment_log"]["outcome"] == "stopped (user)"
    work = next(r for r in rep["contexts"]["records"] if r["name"] == "work")
    assert work["outcome"] == "stopped (user)"


@pytest.mark.parametrize("where", ["source", "stage"])
def test_a_stage_error_rolls_back(files: dict[str, str], where: str) -> None:
    rep = run(files, params={f"fail_in_{where}": 5, "sleep_ms": 1})
    assert rep["status"] == "failed"
    by_kind = check_every_context_exited_once(rep, files, committed=False)
    if where == "source":  # the error went through the transaction
        assert by_kind["sqlite_transaction"]["exception"] == "ValueError"
        assert by_kind["experiment_log"]["outcome"] == "ValueError"
    else:  # the stage raised; the source was closed
        assert by_kind["sqlite_transaction"]["exception"] == "GeneratorExit"
        work = next(r for r in rep["contexts"]["records"] if r["name"] == "work")
        assert work["outcome"] == "RuntimeError"


def test_the_memory_budget_rolls_back(files: dict[str, str]) -> None:
    rep = run(files, memory_budget=160 << 20, params={"grow_mb": 4, "sleep_ms": 5})
    assert rep["status"] == "budget_exceeded", rep["message"]
    check_every_context_exited_once(rep, files, committed=False)
    work = next(r for r in rep["contexts"]["records"] if r["name"] == "work")
    assert work["outcome"] == "stopped (memory_budget)", work  # wherever the stop landed


def test_the_time_limit_rolls_back(files: dict[str, str]) -> None:
    rep = run(files, max_seconds=0.8)
    assert rep["status"] == "stopped" and rep["stop_reason"] == "max_seconds"
    check_every_context_exited_once(rep, files, committed=False)


def test_ctrl_c_in_pipebench_run_rolls_back(files: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    args = [sys.executable, "-m", "workbench.cli.main", "run", TARGET, "--json", str(out)]
    for key, value in files.items():
        args += ["--param", f"{key}={value}"]
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ)
    )
    try:
        deadline = time.monotonic() + 60
        while logged_batches(files) < 5:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)  # what a Ctrl-C in the terminal does
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    rep = json.loads(out.read_text())
    assert rep["status"] == "stopped"
    check_every_context_exited_once(rep, files, committed=False)
    assert b"rolled back" in output


def test_a_generator_behind_an_iterator_without_close_is_closed_too(files: dict[str, str]) -> None:
    """A DataLoader's iterator has no ``close()``: the generator it wraps is finalized when
    the runner lets go of the chain, so its contexts still exit before the run ends."""
    rep = run(files, stop_after=5, target=f"{PIPELINE}:wrapped_source")
    assert rep["status"] == "stopped"
    check_every_context_exited_once(rep, files, committed=False)
