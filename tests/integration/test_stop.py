"""Ctrl-C on `pipebench run`: the chain is closed (finally blocks run), the report written."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import psutil

HEADER = "from workbench import pipeline\n"


def test_ctrl_c_closes_the_chain_and_writes_the_report(tmp_path, write_module):
    marker = tmp_path / "closed.txt"
    path = write_module(
        "slow",
        HEADER
        + f"""
import time

def slow(it):
    try:
        for x in it:
            time.sleep(0.01)
            yield x
    finally:
        open({str(marker)!r}, "w").write("closed")

@pipeline
def p(batch_size: int = 1):
    return range(10**9), slow
""",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli.main", "run", str(path), "--json", "run.json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.0)  # let it start and count some items
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children, "the run should have a runner child"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert marker.read_text() == "closed"
    rep = json.loads((tmp_path / "run.json").read_text())
    assert (rep["status"], rep["stop_reason"]) == ("stopped", "user")
    assert rep["stages"][-1]["items"] > 10
    assert "Traceback" not in out + err
    # The runner ends with pipebench (its parent-death signal) and the reaper once its
    # stdin closes: each a moment after pipebench's exit, longer on a loaded machine.
    _, alive = psutil.wait_procs(children, timeout=5)
    left = [c for c in alive if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not left, [(c.pid, c.cmdline()) for c in left]


def test_a_stop_while_the_module_imports_ends_the_run_at_once(tmp_path, write_module):
    path = write_module(
        "slow_import",
        HEADER
        + """
import time
time.sleep(60)  # a module that takes its time to import

@pipeline
def p(batch_size: int = 1):
    return range(10)
""",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli.main", "run", str(path), "--json", "run.json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert time.monotonic() - start < 2.5  # stopped, not killed after the 3 s grace
    assert "stopped" in out and "Traceback" not in out + err


def test_a_stop_asked_as_the_runner_starts_cancels_it(write_module):
    """A stop in the runner's first milliseconds, before its handler is set (rapid + + in
    the workbench): the run is cancelled while loading, never crashed by the signal."""
    from workbench.engine.follow import Follower, RunJob
    from workbench.engine.runner import RunOptions, start_run
    from workbench.engine.session import report

    path = write_module(
        "quick", HEADER + "\n@pipeline\ndef p(batch_size: int = 1):\n    return range(10)\n"
    )
    for delay in (0.0, 0.01, 0.05):
        handle = start_run(f"{path}:p", RunOptions())
        time.sleep(delay)
        handle.stop("user")
        follower = Follower(RunJob(f"{path}:p", RunOptions()), starter=lambda t, o, h=handle: h)
        rep = report(follower.run())
        assert rep["status"] == "stopped" and rep["cancelled"], (
            delay,
            rep["status"],
            rep["message"],
        )
        assert "while the module loaded" in (rep["message"] or ""), rep["message"]
        # No Hello came, yet the record says what was asked for.
        assert rep["pipeline"] == "p" and rep["path"] == str(path) and rep["params"] == {}


PRODUCER = (
    HEADER
    + """
import multiprocessing
import queue


def produce(out):
    i = 0
    while True:
        out.put([i] * 100_000)  # more than a pipe holds: its feeder thread blocks
        i += 1


def from_queue():
    q = multiprocessing.get_context("fork").Queue(maxsize=2)
    producer = multiprocessing.get_context("fork").Process(target=produce, args=(q,), daemon=True)
    producer.start()
    try:
        while True:
            yield q.get()
    finally:
        producer.terminate()  # SIGTERM: without pipebench, this ends it at once
        producer.join(5)


@pipeline
def queued(batch_size: int = 1):
    return (from_queue(),)
"""
)


def test_a_forked_producer_ends_on_terminate_as_without_pipebench(tmp_path, write_module):
    """The runner's stop handler is not inherited by the processes the pipeline forks: the
    producer's terminate() ends it, and the run stops, not killed after the grace."""
    from tests.integration.helpers import pipebench

    path = write_module("producer_mod", PRODUCER)
    start = time.monotonic()
    r = pipebench("run", str(path), "--max-seconds", "1", cwd=tmp_path)
    assert r.code == 0, r.err
    assert r.report["status"] == "stopped" and "killed" not in r.report["message"], r.report
    assert time.monotonic() - start < 3.5  # the 3 s grace was not needed


HANDLERS = (
    HEADER
    + """
import multiprocessing
import signal


def check(out):
    ok = signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ok = ok and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    out.put(ok)


def forked():
    q = multiprocessing.get_context("fork").Queue()
    p = multiprocessing.get_context("fork").Process(target=check, args=(q,))
    p.start()
    print("DEFAULT HANDLERS", q.get(timeout=30), flush=True)
    p.join()
    yield [1]


@pipeline
def handlers(batch_size: int = 1):
    return (forked(),)
"""
)


def test_processes_the_pipeline_forks_have_the_default_signal_handlers(tmp_path, write_module):
    from tests.integration.helpers import pipebench

    path = write_module("handlers_mod", HANDLERS)
    r = pipebench("run", str(path), cwd=tmp_path)
    assert r.code == 0, r.err
    assert any("DEFAULT HANDLERS True" in line for line in r.report["log_tail"]), r.report[
        "log_tail"
    ]


LAST_SPAWN = (
    HEADER
    + """
import subprocess


def numbers(n):
    for i in range(n):
        yield [i]


def spawn_at_the_end(batches):
    for i, b in enumerate(batches):
        if i == 9:  # after the last discovery tick the parent may have had
            subprocess.Popen(["sleep", "3611"], start_new_session=True)
        yield b


@pipeline
def last_spawn(batch_size: int = 1, n: int = 10):
    return numbers(n), spawn_at_the_end
"""
)


def test_a_process_started_as_the_run_ends_is_ended_and_named(tmp_path, write_module):
    from tests.integration.helpers import pipebench

    path = write_module("last_spawn_mod", LAST_SPAWN)
    for _ in range(2):
        r = pipebench("run", str(path), cwd=tmp_path)
        assert r.code == 0, r.err
        assert any("sleep" in e for e in r.report["ended_processes"]), r.report["ended_processes"]
    assert not [
        p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "3611"]
    ]
