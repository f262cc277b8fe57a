"""How long `pipebench` takes to show its first full frame (goal: under 1.5 s).

Two measurements, printed with how they were taken:

1. In a pseudo-terminal, as a user sees it: ``python -m workbench.cli.main EXAMPLES`` is started
   on a pty of 100x30 and its output read until (a) the first frame (the footer's "Quit"
   has been drawn) and (b) the pipeline tree is filled in (a pipeline name has been drawn;
   discovery runs in a thread worker, in a child process, so it never blocks (a)).
2. In-process: ``App.run_test`` from creating the app until the main screen is mounted and
   one refresh has happened (no interpreter start-up or imports in this figure).

    .venv/bin/python benchmarks/ui_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import pty
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "pipelines"
SYNC_QUERY = b"\x1b[?2026$p"
SYNC_REPLY = b"\x1b[?2026;2$y"  # "synchronized output is supported": one marker per frame
SYNC_START = b"\x1b[?2026h"


class PtyApp:
    """A process on a pseudo-terminal of its own, its output read by a thread.

    It answers Textual's query for synchronized output, so every frame Textual draws is
    wrapped in markers that ``frames()`` counts.
    """

    def __init__(self, argv: list[str], env: dict[str, str], size: tuple[int, int] = (100, 30)):
        master, slave = pty.openpty()
        cols, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=env.get("PWD"),
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.out = bytearray()
        self.frame_times: list[float] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:
                return
            if not data:
                return
            now = time.monotonic()
            with self._lock:
                tail = bytes(self.out[-16:])
                self.out += data
                window = tail + data
                if SYNC_QUERY in window:
                    os.write(self.master, SYNC_REPLY)
                self.frame_times += [now] * window.count(SYNC_START)

    def text(self) -> bytes:
        with self._lock:
            return bytes(self.out)

    def wait_for(self, needle: bytes, timeout: float = 30.0) -> float:
        """Seconds from the start until ``needle`` was in the output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return time.monotonic() - self.started
            time.sleep(0.002)
        raise TimeoutError(f"{needle!r} never appeared")

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self, timeout: float = 10.0) -> int:
        self.send(b"q")
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        os.close(self.master)
        return code


def app_env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(PIPEBENCH_HOME=home, TERM="xterm-256color", PWD=home)
    return env


def measure_pty(runs: int) -> None:
    first, tree = [], []
    home = os.environ["PIPEBENCH_HOME"]
    for _ in range(runs):
        app = PtyApp([sys.executable, "-m", "workbench.cli.main", str(EXAMPLES)], app_env(home))
        first.append(app.wait_for(b"Quit"))
        tree.append(app.wait_for(b"jsonl_tokens"))
        app.close()
    print(f"pty, 100x30, `python -m workbench.cli.main {EXAMPLES.name}/`, {runs} launches:")
    print(
        f"  first full frame (footer drawn): median {statistics.median(first):.3f} s "
        f"(min {min(first):.3f}, max {max(first):.3f})"
    )
    print(
        f"  pipeline tree filled in:         median {statistics.median(tree):.3f} s "
        f"(min {min(tree):.3f}, max {max(tree):.3f})"
    )
    verdict = "meets" if statistics.median(first) < 1.5 else "MISSES"
    print(f"  goal: first frame under 1.5 s: {verdict}")


def measure_in_process(runs: int) -> None:
    t0 = time.perf_counter()
    from workbench.ui.app import PipebenchApp

    imported = time.perf_counter() - t0
    times = []

    async def once() -> float:
        start = time.perf_counter()
        app = PipebenchApp(EXAMPLES)
        async with app.run_test(size=(100, 30)) as pilot:
            while not app.main.is_mounted:
                await pilot.pause(0.001)
            refreshed = asyncio.Event()
            app.call_after_refresh(refreshed.set)
            await refreshed.wait()
            return time.perf_counter() - start

    for _ in range(runs):
        times.append(asyncio.run(once()))
    print(f"in-process (App.run_test, headless), {runs} runs:")
    print(f"  importing workbench.ui.app: {imported:.3f} s (first import in this process)")
    print(
        f"  app created -> main screen mounted and refreshed: median "
        f"{statistics.median(times) * 1e3:.1f} ms (min {min(times) * 1e3:.1f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pipebench-bench-") as home:
        os.environ["PIPEBENCH_HOME"] = home  # records and data of the examples go there
        measure_pty(args.runs)
        measure_in_process(args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
