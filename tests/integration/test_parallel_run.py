"""`pipebench run` with parallel stages (loky and threading) in real runner children."""

from __future__ import annotations

import importlib.util
import socket
import time

from tests.integration.helpers import EXAMPLES, pipebench
from tests.integration.parallel_module import SOURCE, outputs
from tests.integration.test_bad_input import assert_one_line


def test_parallel_outputs_match_serial_in_order_and_unordered(tmp_path, write_module):
    mod = write_module("parmod", SOURCE)
    r = pipebench("run", f"{mod}:serial", "--param", f"out={tmp_path / 's.jsonl'}", cwd=tmp_path)
    assert r.code == 0, r.err
    serial = outputs(tmp_path / "s.jsonl")
    assert len(serial) == 200

    r = pipebench("run", f"{mod}:fanned", "--param", f"out={tmp_path / 'p.jsonl'}", cwd=tmp_path)
    assert r.code == 0, r.err
    assert outputs(tmp_path / "p.jsonl") == serial  # loky, in order
    rep = r.report
    assert rep["parallel"]["backend"] == "loky"
    (st,) = rep["parallel"]["stages"]
    assert st["stage"] == "transform" and st["index"] == 1 and st["state"] == "done"
    assert st["workers"] == 2 and st["workers_seen"] == 2 and st["in_flight"] == 0
    assert sorted(w["worker"].split()[0] for w in st["per_worker"]) == ["pid", "pid"]
    assert sum(w["tasks"] for w in st["per_worker"]) == 200  # the serial values too
    assert st["items"] == 200 and rep["stages"][1]["items"] == 200
    assert st["serial_items_per_s"] > 0 and st["items_per_s"] > 0 and st["efficiency"] > 0
    assert "parallel stages (loky)" in r.out and "efficiency" in r.out

    r = pipebench(
        "run",
        f"{mod}:fanned",
        "--param",
        f"out={tmp_path / 'u.jsonl'}",
        "--param",
        "ordered=false",
        "--backend",
        "threading",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    unordered = outputs(tmp_path / "u.jsonl")
    key = lambda d: d["x"]  # noqa: E731
    assert sorted(unordered, key=key) == serial
    assert r.report["parallel"]["stages"][0]["backend"] == "threading"


def test_stopping_early_keeps_the_counts(tmp_path, write_module):
    mod = write_module("parmod", SOURCE)
    r = pipebench(
        "run",
        f"{mod}:fanned",
        "--param",
        "n=100000",
        "--max-batches",
        "150",
        "--param",
        f"out={tmp_path / 'p.jsonl'}",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    assert r.report["status"] == "stopped" and r.report["items"] == 150
    (st,) = r.report["parallel"]["stages"]
    assert st["state"] == "closed" and st["completed"] > 0
    assert "│" not in r.out  # nothing from loky in the run's log


def test_worker_that_dies_fails_the_run_with_its_error(tmp_path, write_module):
    mod = write_module("parmod", SOURCE)
    r = pipebench("run", f"{mod}:dying", "--param", f"out={tmp_path / 'p.jsonl'}", cwd=tmp_path)
    assert r.code == 1, (r.out, r.err)
    rep = r.report
    assert rep["status"] == "failed"
    assert rep["error"]["type"] == "TerminatedWorkerError"
    assert rep["error"]["stage"] == "dies_in_a_worker"
    assert "EXIT(3)" in rep["error"]["message"]
    assert 0 < rep["stages"][1]["items"] < 300  # the counts so far are kept
    assert rep["parallel"]["stages"][0]["state"] == "failed"


def test_a_crash_in_the_serial_values_names_the_stage(tmp_path, write_module):
    """os._exit in fn's first value (a segfault in a C extension) used to end the runner
    "without a report"; the serial values now run on one worker, whose death is caught."""
    mod = write_module("parmod", SOURCE)
    r = pipebench("run", f"{mod}:warmup_crash", cwd=tmp_path)
    assert r.code == 1, (r.out, r.err)
    rep = r.report
    assert rep["status"] == "failed" and rep["error"]["stage"] == "dies_at_once"
    assert rep["error"]["type"] == "TerminatedWorkerError"
    assert "exit codes {EXIT(3)}" in rep["error"]["message"]
    assert "\n" not in rep["error"]["message"]  # loky's five lines made one
    (st,) = rep["parallel"]["stages"]
    assert st["state"] == "failed" and st["serial_where"] == "one worker"
    assert "stage dies_at_once raised TerminatedWorkerError" in " ".join(r.out.split())


def test_unpicklable_function_is_one_line_suggesting_threading(tmp_path, write_module):
    mod = write_module("parmod", SOURCE)
    r = pipebench("run", f"{mod}:unpicklable", cwd=tmp_path)
    assert_one_line(r, 2, "stage locked", "cannot be pickled", "--backend threading")
    r = pipebench("run", f"{mod}:unpicklable", "--backend", "threading", cwd=tmp_path)
    assert r.code == 0, r.err


def test_multiprocessing_backend_is_refused(tmp_path, write_module):
    mod = write_module("parmod", SOURCE)
    r = pipebench("run", f"{mod}:fanned", "--backend", "multiprocessing", cwd=tmp_path)
    assert_one_line(r, 2, "multiprocessing", "cannot stream", "--backend loky")


def test_dask_options_are_checked(tmp_path, write_module):
    mod = write_module("parmod", SOURCE)
    r = pipebench(
        "run",
        f"{mod}:fanned",
        "--backend",
        "threading",
        "--scheduler",
        "tcp://127.0.0.1:8786",
        cwd=tmp_path,
    )
    assert_one_line(r, 2, "--scheduler is for --backend dask")
    r = pipebench(
        "run",
        f"{mod}:fanned",
        "--scheduler",
        "tcp://127.0.0.1:8786",
        "--dask-dashboard",
        cwd=tmp_path,
    )
    assert_one_line(r, 2, "an attached cluster serves its own dashboard")
    r = pipebench("run", f"{mod}:fanned", "--workers", "0", cwd=tmp_path)
    assert_one_line(r, 2, "not a number of workers")
    if importlib.util.find_spec("bokeh") is None:
        r = pipebench("run", f"{mod}:fanned", "--dask-dashboard", cwd=tmp_path)
        assert_one_line(r, 2, "--dask-dashboard needs bokeh")


def test_unreachable_scheduler_is_one_line_within_seconds(tmp_path, write_module):
    mod = write_module("parmod", SOURCE)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    r = pipebench("run", f"{mod}:fanned", "--scheduler", f"tcp://127.0.0.1:{port}", cwd=tmp_path)
    assert_one_line(r, 2, f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}")
    assert time.monotonic() - t0 < 15  # 3 s to connect, plus starting two processes


def test_example_parallel_twin_runs(tmp_path):
    r = pipebench(
        "run",
        f"{EXAMPLES}/numpy_batches.py:numpy_batches_parallel",
        "--param",
        "size=400000",
        "--batch-size",
        "2048",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    (st,) = r.report["parallel"]["stages"]
    assert st["stage"] == "features" and st["items"] == 400000 and st["state"] == "done"
    assert st["completed"] > 0 and st["workers_seen"] == 2
