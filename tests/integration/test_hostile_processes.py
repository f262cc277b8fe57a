"""What a stage does to its process (issue 13, items 7, 13, 15 and 16): subprocesses it
starts end with the run (in their own session too, and when pipebench itself is killed);
a stage that closes pipebench's descriptors ends the run as crashed with that reason; a stage
stuck in one long C call is blamed for the time; a segfault is quoted."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.integration.hostile import gone, records, start, wait_for

HEADER = "import os, subprocess, sys, time\nfrom workbench import pipeline\n"


def spawner(write_module, tmp_path, n: int):
    """A stage that starts ``sleep 771`` (its own group) and ``sleep 772`` (a session of its
    own), writes their pids to ``pids.txt``, then passes ``n`` batches on."""
    pids = tmp_path / "pids.txt"
    return write_module(
        "spawner",
        HEADER
        + f"""
def st(it):
    procs = [subprocess.Popen(["sleep", "771"]),
             subprocess.Popen(["sleep", "772"], start_new_session=True)]
    open({str(pids)!r}, "w").write(" ".join(str(p.pid) for p in procs))
    for b in it:
        time.sleep(0.05)
        yield b

@pipeline
def p(n: int = {n}):
    return range(n), st
""",
    ), pids


def test_processes_a_stage_starts_end_with_the_run_and_are_named(tmp_path, write_module):
    path, pids = spawner(write_module, tmp_path, n=5)
    t0 = time.monotonic()
    proc = start("run", str(path), "--json", "run.json", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    took = time.monotonic() - t0
    assert proc.returncode == 0, err
    for pid in map(int, pids.read_text().split()):
        assert gone(pid, 2.0), f"sleep (pid {pid}) outlived the run"
    rep = json.loads((tmp_path / "run.json").read_text())
    ended = rep["ended_processes"]
    assert len(ended) == 2 and all("sleep" in e for e in ended), ended
    assert "ended 2 process(es) the run left behind" in out
    # No reader waits on the pipes the orphans held (it took ~4 s more before).
    assert took < rep["duration_s"] + 4.0, took


def test_after_kill_9_of_pipebench_nothing_of_the_run_survives(tmp_path, write_module):
    """pipebench itself is killed (kill -9): the runner dies with it (parent-death signal),
    and the session's reaper kills what the run started, own session included."""
    path, pids = spawner(write_module, tmp_path, n=100_000)
    proc = start("run", str(path), cwd=tmp_path)
    wait_for(pids.exists, "the stage's subprocesses")
    time.sleep(0.6)  # the parent looks for new processes every 0.25 s
    import psutil

    runner = [
        p.pid
        for p in psutil.Process(proc.pid).children()
        if "workbench.engine.child" in " ".join(p.cmdline())
    ]
    assert len(runner) == 1
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    for pid in [*runner, *map(int, pids.read_text().split())]:
        assert gone(pid, 5.0), f"pid {pid} outlived pipebench"


@pytest.mark.parametrize("after_s", [0.0, 1.5], ids=["ends-at-once", "lives-on"])
def test_a_stage_that_closes_pipebenchs_descriptors_crashes_the_run_with_that_reason(
    tmp_path, write_module, pipebench_home, after_s
):
    """``os.closerange(3, 256)`` closes the events pipe (and the counter block's fd): no
    traceback, the run measured from outside to its end, then crashed with that reason,
    whether the pipeline ends right after (before pipebench could tell a close from an
    exit) or lives on."""
    path = write_module(
        "closer",
        HEADER
        + f"""
def st(it):
    for i, b in enumerate(it):
        if i == 3:
            os.closerange(3, 256)
        time.sleep({after_s / 30!r})
        yield b

@pipeline
def p(n: int = 33):
    return range(n), st
""",
    )
    env = {**os.environ, "COLUMNS": "200"}  # the final line unwrapped
    proc = start("run", str(path), "--json", "run.json", cwd=tmp_path, env=env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "Traceback" not in out + err and "Error" not in out + err
    said = [ln for ln in out.splitlines() if "events pipe" in ln]
    assert said and said[-1].startswith("crashed after"), out
    assert len([ln for ln in said if ln.startswith("»")]) <= 1  # said once while it ran
    rep = json.loads((tmp_path / "run.json").read_text())
    assert rep["status"] == "crashed"
    assert "closed pipebench's events pipe" in rep["message"], rep["message"]
    assert rep["stages"][-1]["items"] == 33  # measured from outside to its end
    assert [r["status"] for r in records(pipebench_home)] == ["crashed"]


def test_a_stage_stuck_in_one_c_call_is_blamed_for_the_time(tmp_path, write_module):
    """One call into C that holds the GIL for minutes and never looks for signals (the
    builtin ``sum`` over a C iterator; ``re`` would not do: it runs signal handlers while it
    backtracks): no boundary is crossed, no handler runs. The time limit ends in a kill
    after the grace period, and the report charges the stuck time to the stage that was
    running."""
    path = write_module(
        "stuck",
        HEADER
        + """
import itertools

def read(it):
    for b in it:
        yield b

def parse(it):
    for i, b in enumerate(it):
        if i == 3:
            sum(itertools.repeat(1, 10**11))  # minutes in C, the GIL held
        yield b

def collate(it):
    for b in it:
        yield b

@pipeline
def p(n: int = 100):
    return range(n), read, parse, collate
""",
    )
    proc = start("run", str(path), "--max-seconds", "1", "--json", "run.json", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    rep = json.loads((tmp_path / "run.json").read_text())
    assert (rep["status"], rep["stop_reason"]) == ("stopped", "max_seconds")
    assert "killed" in rep["message"]
    stages = {s["name"]: s for s in rep["stages"]}
    assert rep["bottleneck"] == "parse"
    assert stages["parse"]["self_s"] > 0.8 * rep["duration_s"] > 0.5
    assert rep["memory"] is not None


def test_a_segfault_is_quoted_and_its_stage_named(tmp_path, write_module):
    path = write_module(
        "segv",
        HEADER
        + """
import ctypes

def crash(it):
    for i, b in enumerate(it):
        if i == 3:
            ctypes.string_at(0)  # reads address 0: SIGSEGV
        yield b

@pipeline
def p(n: int = 40):
    return range(n), crash
""",
    )
    proc = start("run", str(path), "--json", "run.json", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    rep = json.loads((tmp_path / "run.json").read_text())
    assert rep["status"] == "crashed"
    assert "in stage crash" in rep["message"]
    assert "Fatal Python error: Segmentation fault" in rep["message"]
    assert "Extension modules" not in rep["message"]
    assert rep["error"]["stage"] == "crash"
