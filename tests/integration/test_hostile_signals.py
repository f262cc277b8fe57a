"""Signals and stops a pipeline cannot lose (issue 13, items 5 and 6): SIGTERM and SIGHUP
to headless `pipebench run` end the run as Ctrl-C does (report, record, finally blocks), a
stage that swallows the stop cannot keep the run going, and a stop that ends in a kill keeps
its reason, its duration and the memory the parent measured."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time

import pytest

from tests.integration.hostile import argv, records, start, wait_for

HEADER = "from workbench import pipeline\n"


def endless(write_module, tmp_path, *, reader: str = "", cleanup: str = "") -> None:
    """``mods/endless.py``: a source that never ends and a stage whose ``finally`` writes
    ``finally.txt`` (after ``cleanup``); the stage writes ``started.txt`` at its first batch."""
    started, marker = tmp_path / "started.txt", tmp_path / "finally.txt"
    return write_module(
        "endless",
        HEADER
        + f"""
import time

def src():
    i = 0
    while True:
        i += 1
        yield [i]

def st(it):
    try:
        for n, b in enumerate(it):
            if n == 0:
                open({str(started)!r}, "w").write("started")
{reader or "            time.sleep(0.001)"}
            yield b
    finally:
{cleanup or "        pass"}
        open({str(marker)!r}, "w").write("finally ran")

@pipeline
def p(batch_size: int = 1):
    return src(), st
""",
    )


def launched(path, tmp_path, pipebench_home, *extra):
    proc = start("run", str(path), "--json", "run.json", *extra, cwd=tmp_path)
    wait_for(lambda: (tmp_path / "started.txt").exists(), "the first batch")
    time.sleep(0.3)
    return proc


def report_of(tmp_path):
    import json

    return json.loads((tmp_path / "run.json").read_text())


@pytest.mark.skipif(shutil.which("timeout") is None, reason="coreutils timeout is missing")
def test_timeout_3_pipebench_run_leaves_a_report_a_record_and_runs_finally(
    tmp_path, write_module, pipebench_home
):
    """What a new user types: coreutils `timeout` sends SIGTERM to pipebench, and again to
    its whole process group (pipebench included) right after."""
    path = endless(write_module, tmp_path)
    out = subprocess.run(
        ["timeout", "3", *argv("run", str(path), "--json", "run.json")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 124, out.stderr  # timeout's own code: it had to send SIGTERM
    assert (tmp_path / "finally.txt").read_text() == "finally ran"
    rep = report_of(tmp_path)
    assert (rep["status"], rep["stop_reason"]) == ("stopped", "sigterm"), rep["message"]
    assert "killed" not in rep["message"]
    assert rep["duration_s"] > 1.0 and rep["stages"][-1]["items"] > 0
    assert "stopped after" in out.stdout and "(sigterm)" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    [record] = records(pipebench_home)
    assert (record["run_id"], record["stop_reason"]) == (rep["run_id"], "sigterm")


#: A cleanup that takes a second, in small steps (flush, upload, close).
SLOW_CLEANUP = """\
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.0:
            time.sleep(0.01)"""


def test_sigterm_sent_twice_still_stops_the_run_properly(tmp_path, write_module, pipebench_home):
    """Two SIGTERMs (`timeout`, `kill` of a process group, an init system that asks twice)
    stop the run once, its cleanup included: only a second Ctrl-C means "kill it now"."""
    path = endless(write_module, tmp_path, cleanup=SLOW_CLEANUP)
    proc = launched(path, tmp_path, pipebench_home)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)  # handled one by one (two at once merge into one)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert (tmp_path / "finally.txt").read_text() == "finally ran"
    rep = report_of(tmp_path)
    assert (rep["status"], rep["stop_reason"]) == ("stopped", "sigterm")
    assert "killed" not in rep["message"], rep["message"]
    assert [r["stop_reason"] for r in records(pipebench_home)] == ["sigterm"]


def test_sighup_ends_the_run_as_ctrl_c_does(tmp_path, write_module, pipebench_home):
    """A closed SSH session: SIGHUP (here twice, as a shell that hangs up its jobs may)."""
    path = endless(write_module, tmp_path, cleanup=SLOW_CLEANUP)
    proc = launched(path, tmp_path, pipebench_home)
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.2)
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 129, err
    assert (tmp_path / "finally.txt").read_text() == "finally ran"
    rep = report_of(tmp_path)
    assert (rep["status"], rep["stop_reason"]) == ("stopped", "sighup")
    assert "SIGHUP" in rep["message"] and "killed" not in rep["message"]
    assert len(records(pipebench_home)) == 1
    assert "Traceback" not in out + err


SWALLOW = """\
            try:
                time.sleep(0.5)  # the SIGINT's StopRun lands here, and is swallowed
            except BaseException:
                pass"""


@pytest.mark.parametrize(
    "then",
    ["", "            time.sleep(5)  # and works on, far from any stage boundary"],
    ids=["next-boundary", "no-boundary-for-5s"],
)
def test_a_reader_that_swallows_the_stop_cannot_keep_the_run_going(
    tmp_path, write_module, pipebench_home, then
):
    """``except BaseException: pass`` around the call the stop lands in: the stop is raised
    again at the next stage boundary (or, far from one, signalled again), so the chain
    unwinds well within the grace period and the reader's ``finally`` runs."""
    path = endless(write_module, tmp_path, reader=SWALLOW + ("\n" + then if then else ""))
    proc = launched(path, tmp_path, pipebench_home)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    took = time.monotonic() - t0
    assert proc.returncode == 130, err
    assert (tmp_path / "finally.txt").read_text() == "finally ran"
    rep = report_of(tmp_path)
    assert (rep["status"], rep["stop_reason"]) == ("stopped", "user")
    assert "killed" not in rep["message"], rep["message"]
    assert took < 2.5, f"{took:.2f} s: the stop waited for the kill (grace 3 s)"


def test_a_finally_block_that_takes_a_second_runs_to_its_end(
    tmp_path, write_module, pipebench_home
):
    """A stop lands inside a stage (here in its sleep); the stage's ``finally`` then takes a
    second, well within the grace period: it runs to its end, not cut short by the stop
    being signalled again while the chain unwinds."""
    path = endless(
        write_module, tmp_path, reader="            time.sleep(0.05)", cleanup=SLOW_CLEANUP
    )
    proc = launched(path, tmp_path, pipebench_home)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert (tmp_path / "finally.txt").exists(), "the stage's finally block was cut short"
    rep = report_of(tmp_path)
    assert (rep["status"], rep["stop_reason"]) == ("stopped", "user")
    assert "killed" not in rep["message"], rep["message"]


def test_a_source_that_swallows_every_stop_is_still_stopped(tmp_path, write_module):
    """A source generator that catches BaseException around its own work: the stop is raised
    at the boundary, outside the generator, where it cannot be caught."""
    path = write_module(
        "stubborn",
        HEADER
        + f"""
import time

def src():
    i = 0
    while True:
        try:
            time.sleep(0.01)
            i += 1
            if i == 1:
                open({str(tmp_path / "started.txt")!r}, "w").write("started")
            yield [i]
        except BaseException:
            pass

@pipeline
def p(batch_size: int = 1):
    return (src(),)
""",
    )
    proc = start("run", str(path), "--json", "run.json", cwd=tmp_path)
    wait_for(lambda: (tmp_path / "started.txt").exists(), "the first batch")
    time.sleep(0.3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert time.monotonic() - t0 < 2.5
    rep = report_of(tmp_path)
    assert (rep["status"], rep["stop_reason"]) == ("stopped", "user")


@pytest.mark.parametrize(
    ("how", "reason", "code"),
    [("max_seconds", "max_seconds", 0), ("ctrl_c", "user", 130), ("sigterm", "sigterm", 143)],
)
def test_a_stop_that_ends_in_a_kill_keeps_its_reason_duration_and_memory(
    tmp_path, write_module, pipebench_home, how, reason, code
):
    """A ``finally`` slower than the 3 s grace period: the child is killed, and the report
    still says why it was stopped, how long it ran (the parent's clock) and its memory."""
    path = endless(write_module, tmp_path, cleanup="        time.sleep(30)")
    extra = ("--max-seconds", "1") if how == "max_seconds" else ()
    proc = launched(path, tmp_path, pipebench_home, *extra)
    t0 = time.monotonic()
    if how == "ctrl_c":
        proc.send_signal(signal.SIGINT)
    elif how == "sigterm":
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert time.monotonic() - t0 < 10
    assert not (tmp_path / "finally.txt").exists()  # killed in its finally
    rep = report_of(tmp_path)
    assert (rep["status"], rep["stop_reason"]) == ("stopped", reason), rep["message"]
    assert "killed" in rep["message"]
    # The chain's time up to the stop (its closing is not the run's work): from the
    # parent's clock, never "0 ns".
    assert rep["duration_s"] > (0.9 if how == "max_seconds" else 0.2), rep["duration_s"]
    assert rep["stages"][-1]["items"] > 0
    mem = rep["memory"]
    assert mem is not None and mem["rss_peak_bytes"] > 5 * 2**20
    assert "after 0 ns" not in out  # the status line: the duration, never "0 ns"
    assert [r["stop_reason"] for r in records(pipebench_home)] == [reason]


def test_ctrl_c_twice_kills_and_says_so(tmp_path, write_module, pipebench_home):
    path = endless(write_module, tmp_path, cleanup="        time.sleep(30)")
    proc = launched(path, tmp_path, pipebench_home)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 2.0  # not the grace period: at once
    assert proc.returncode == 130, err
    rep = report_of(tmp_path)
    assert (rep["status"], rep["stop_reason"]) == ("stopped", "user")
    assert "killed by the user" in rep["message"]
    assert rep["memory"] is not None and rep["duration_s"] > 0.1
