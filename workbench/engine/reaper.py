"""The reaper: ends a run's processes even when pipebench itself is killed (``kill -9``).

pipebench starts one reaper per session (``python -m workbench.engine.reaper``, in a session
of its own) and tells it, on its stdin, each process a run owns as it is seen: ``+ PID
STARTTIME``, and ``- PID`` once that process is ended. When its stdin closes, because
pipebench exited or died, the reaper kills every process it still holds whose start time
still matches (so a reused pid is never touched), then exits. The runner child itself dies
with pipebench through its parent-death signal; the reaper is for what the pipeline started,
in its own session or not.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from typing import IO

from workbench.engine.sections.procfs import start_time


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    held: dict[int, int] = {}
    for line in sys.stdin:
        parts = line.split()
        try:
            if len(parts) == 3 and parts[0] == "+":
                held[int(parts[1])] = int(parts[2])
            elif len(parts) == 2 and parts[0] == "-":
                held.pop(int(parts[1]), None)
        except ValueError:
            continue
    for pid, started in held.items():
        if start_time(pid) == started:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    return 0


class Reaper:
    """pipebench's side: the reaper process, started on first use, told what to hold."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipe: IO[str] | None = None
        self._proc: subprocess.Popen[str] | None = None

    def _stdin(self) -> IO[str] | None:
        if self._pipe is None and self._proc is None:
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "workbench.engine.reaper"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                    text=True,
                    close_fds=True,
                )
                self._pipe = self._proc.stdin
            except OSError:
                self._pipe = None
        return self._pipe

    def _send(self, line: str) -> None:
        with self._lock:
            pipe = self._stdin()
            if pipe is None:
                return
            try:
                pipe.write(line)
                pipe.flush()
            except (OSError, ValueError):
                self._pipe = None

    def hold(self, pid: int) -> None:
        """Kill ``pid`` if pipebench dies while it lives."""
        started = start_time(pid)
        if started is not None:
            self._send(f"+ {pid} {started}\n")

    def release(self, pid: int) -> None:
        """``pid`` is ended (or no longer ours)."""
        if self._pipe is not None:
            self._send(f"- {pid}\n")


#: The session's reaper.
REAPER = Reaper()

if __name__ == "__main__":
    sys.exit(main())
