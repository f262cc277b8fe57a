"""Pipelines that misbehave, in a real terminal (tmux, 80x24; issue 13): escape sequences a
pipeline prints never reach the terminal (the screen is not wiped, the window title not
set), a stage stuck in one C call is said live by headless `run`, and SIGTERM to the
workbench stops its run properly and keeps the record."""

from __future__ import annotations

import json
import shlex
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_tmux import Tmux, gone, pytestmark  # noqa: F401  (the e2e marks)

MODULE = '''
"""Pipelines that print escape sequences and hide in C."""
import itertools
import sys
import time

from workbench import pipeline


def noisy(it):
    for i, b in enumerate(it):
        print("\\x1b[2J\\x1b[Hcleared by a log line")  # clear screen, home
        print("\\x1b]0;TITLE\\x07\\x1b]52;c;ZXZpbA==\\x07title and clipboard")  # OSC 0, 52
        print("\\x1b[5A\\x1b[Kup five, erase \\x1b[31mred\\x1b[0m")  # cursor up, erase line
        sys.stdout.write(f"\\rprogress {{i}}")  # a progress bar's redraw
        time.sleep(0.05)
        yield b


@pipeline
def ansi(n: int = 60):
    """Prints what a terminal would act on."""
    return range(n), noisy


def parse(it):
    for i, b in enumerate(it):
        if i == 5:
            sum(itertools.repeat(1, 10**11))  # minutes in one C call, the GIL held
        yield b


@pipeline
def in_c(n: int = 100):
    """Stuck in C at its sixth batch."""
    return range(n), parse


def forever(it):
    try:
        for b in it:
            time.sleep(0.01)
            yield b
    finally:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.0:  # a cleanup that takes a second
            time.sleep(0.01)
        open({marker!r}, "w").write("finally ran")


@pipeline
def endless(n: int = 10**9):
    """Runs until stopped; its cleanup takes a second."""
    return range(n), forever


def spawn(it):
    import subprocess
    procs = [subprocess.Popen(["sleep", "771"]),
             subprocess.Popen(["sleep", "772"], start_new_session=True)]
    open({pids!r}, "w").write(" ".join(str(p.pid) for p in procs))
    for b in it:
        time.sleep(0.05)
        yield b


@pipeline
def spawner(n: int = 10**6):
    """Starts two sleeps, one in a session of its own."""
    return range(n), spawn
'''


@pytest.fixture
def term(tmp_path: Path) -> Iterator[Tmux]:
    t = Tmux(f"pipebench-e2e-hostile-{tmp_path.name}")
    yield t
    t.tmux("kill-server", check=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    mods = tmp_path / "mods"
    mods.mkdir()
    marker, pids = str(tmp_path / "finally.txt"), str(tmp_path / "pids.txt")
    (mods / "hostile.py").write_text(textwrap.dedent(MODULE.format(marker=marker, pids=pids)))
    return mods


def command(tmp_path: Path, home: Path, *args: str, exec_: bool = True) -> str:
    """The shell line that starts pipebench in the pane; with ``exec_`` the pane ends with
    it, without, the shell goes on to what the caller appends."""
    return (
        f"cd {shlex.quote(str(tmp_path))} && {'exec ' if exec_ else ''}env -u COLUMNS -u LINES "
        f"PIPEBENCH_HOME={shlex.quote(str(home))} TERM=xterm-256color "
        f"{shlex.quote(sys.executable)} -m workbench.cli.main "
        + " ".join(shlex.quote(a) for a in args)
    )


def open_workbench(term: Tmux, tmp_path: Path, home: Path, folder: Path) -> int:
    pid = term.start(command(tmp_path, home, str(folder)), 80, 24)
    term.wait_for(lambda s: "ansi" in s and "Quit" in s, "the pipeline tree")
    return pid


def test_printed_sequences_leave_the_screen_and_title_alone(
    term: Tmux, tmp_path: Path, folder: Path
) -> None:
    home = tmp_path / "home"
    open_workbench(term, tmp_path, home, folder)
    title_before = term.tmux("display-message", "-p", "-t", "pb", "#{pane_title}").strip()
    before = term.screen()
    term.keys("Enter")  # the cursor starts on the first pipeline: ansi
    term.wait_for(lambda s: "✓ finished" in s, "the run to finish", timeout=60)
    time.sleep(0.5)  # a few more repaints of the log
    after = term.screen()
    # What frames the screen is still drawn: the tree, the footer, the panels' titles.
    for text in ("hostile.py", "ansi", "Quit", "stages", "log"):
        assert text in before and text in after, f"{text!r} gone:\n{after}"
    assert "cleared by a log line" in after or "progress" in after, after
    assert len([ln for ln in after.splitlines() if ln.strip()]) > 15, after  # not wiped
    title = term.tmux("display-message", "-p", "-t", "pb", "#{pane_title}").strip()
    assert title == title_before and "TITLE" not in title


def test_headless_run_says_live_that_a_stage_is_stuck_in_c(
    term: Tmux, tmp_path: Path, folder: Path
) -> None:
    home = tmp_path / "home"
    args = ("run", f"{folder}/hostile.py:in_c", "--max-seconds", "8", "--json", "run.json")
    # Not exec'd: the pane outlives the run, so its last screen can still be read.
    term.start(command(tmp_path, home, *args, exec_=False) + "; sleep 60", 80, 24)
    screen = term.wait_for(
        lambda s: "inside one long call" in s, "the stall to be said", timeout=60
    )
    flat = " ".join(screen.split())
    assert "no stage boundary crossed for" in flat and "(in stage parse)" in flat, screen
    term.wait_for(lambda s: "record:" in s, "the report", timeout=60)
    rep = json.loads((tmp_path / "run.json").read_text())
    assert (rep["status"], rep["stop_reason"], rep["bottleneck"]) == (
        "stopped",
        "max_seconds",
        "parse",
    )


def test_sigterm_twice_to_the_workbench_stops_its_run_and_keeps_the_record(
    term: Tmux, tmp_path: Path, folder: Path
) -> None:
    import psutil

    home = tmp_path / "home"
    pid = open_workbench(term, tmp_path, home, folder)
    term.keys("Down", "Down")  # ansi, in_c, endless
    term.wait_for(lambda s: "Runs until stopped" in s, "endless to be selected")
    term.keys("Enter")
    term.wait_for(lambda s: "● running" in s, "the run to be going", timeout=60)
    runner = [p.pid for p in psutil.Process(pid).children(recursive=True)]
    psutil.Process(pid).terminate()
    time.sleep(0.2)
    psutil.Process(pid).terminate()  # as `timeout` does: again, to the whole group
    assert gone(pid, 15), "the workbench did not end"
    assert all(gone(p, 5) for p in runner)
    assert (tmp_path / "finally.txt").read_text() == "finally ran"
    [record] = [json.loads(p.read_text()) for p in (home / "runs").glob("*.json")]
    assert (record["status"], record["stop_reason"]) == ("stopped", "sigterm")


def test_kill_9_of_the_workbench_leaves_nothing_of_its_run(
    term: Tmux, tmp_path: Path, folder: Path
) -> None:
    """The TUI forks its runs from a warm server; killed with -9 mid-run, neither that
    server, nor the runner, nor what the pipeline started (own session included) survives."""
    import psutil

    home = tmp_path / "home"
    pid = open_workbench(term, tmp_path, home, folder)
    term.keys("Down", "Down", "Down")  # ansi, in_c, endless, spawner
    term.wait_for(lambda s: "Starts two sleeps" in s, "spawner to be selected")
    term.keys("Enter")
    pids = tmp_path / "pids.txt"
    deadline = time.monotonic() + 60
    while not pids.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.6)  # the parent looks for new processes every 0.25 s
    tree = [p.pid for p in psutil.Process(pid).children(recursive=True)]
    sleeps = [int(x) for x in pids.read_text().split()]
    psutil.Process(pid).kill()
    for p in [*tree, *sleeps]:
        assert gone(p, 5), f"pid {p} outlived the workbench"
