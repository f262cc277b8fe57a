"""Helpers for the tests of pipelines that misbehave (issue 13): start the real `pipebench`
command in the background, wait for what a stage wrote, read the run records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

#: Every string here is one of the kinds a pipeline can print or be called: closing and
#: opening tags, an action, a link, Rich's escape, a clear screen, a cursor move, a window
#: title and a clipboard write (OSC 0 and 52), a bell, a bidi override.
MARKUP = "[/x] [bold]b[/] [@click=app.quit]q[/] [link=http://e]l[/link] \\[esc]"
ESCAPES = "\x1b[2J\x1b[H\x1b[5A\x1b[K\x1b]0;TITLE\x07\x1b]52;c;ZXZpbA==\x07\x07\u202e"


def argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "workbench.cli.main", *args]


def start(*args: str, cwd: Path, **kwargs: Any) -> subprocess.Popen[str]:
    """`pipebench ARGS` in the background, its output captured as text."""
    return subprocess.Popen(
        argv(*args),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        **kwargs,
    )


def wait_for(check: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def records(home: Path) -> list[dict[str, Any]]:
    """The run records in ``home``, oldest first."""
    return [json.loads(p.read_text()) for p in sorted((home / "runs").glob("*.json"))]


def gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether ``pid`` has ended (a zombie counts as ended) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def hwm_bytes(pid: int) -> int | None:
    """The kernel's RSS high-water mark of ``pid`` (VmHWM), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def follow_hwm(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str, int]:
    """Wait for ``proc`` while reading its VmHWM; returns its stdout, stderr and the last
    high-water mark read before it ended (a lower bound of its peak RSS, taken at most
    20 ms before it exited)."""
    import threading

    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            hwm = hwm_bytes(proc.pid)
            if hwm is not None:
                peak = max(peak, hwm)
            time.sleep(0.02)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        done.set()
        t.join()
    return out, err, peak


def no_raw_sequences(text: str) -> None:
    """Assert that ``text`` holds no escape sequence and no control character but line
    ends and tabs (pipebench wrote it to a pipe: it prints no colour there either)."""
    bad = [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
    assert not bad, f"raw control characters reached the output: {sorted(set(bad))!r}"
    assert "\u202e" not in text


def environ(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PIPEBENCH_HOME"] = str(home)
    return env
