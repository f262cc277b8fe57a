"""What a pipeline that prints a lot costs pipebench: one stage printing 1M short lines.

Each case is the whole command, timed from its fork, its output read by this script as fast
as it comes:

- ``bare→pipe``: ``bare_twin.py`` (the same chain drained by plain Python) printing to a pipe
  this script reads, block-buffered as Python makes a pipe (PYTHONUNBUFFERED is unset for
  every command). This is the yardstick: under pipebench the pipeline's output also goes
  into a pipe (the runner child's, read by pipebench), so the twin pays for the same writes
  to a reader, and a pipe is what a user's own ``script.py | tee log`` prints to.
  ``bare→/dev/null`` is shown beside it: the floor, a pipeline nobody reads.
- ``run→pipe``: ``pipebench run`` with its stdout a pipe (``> file``, ``| tee``): no live view,
  the lines echoed in bulk (at most 400 an update, then "N lines not shown").
- ``run→tty``: ``pipebench run`` in a terminal (a pty of 80x24 read by this script): the live
  view and the echo.
- ``tui``: ``pipebench FOLDER`` in the same pty; Enter runs the pipeline, timed from the key
  to "✓ finished" on the screen (the twin's wall includes its interpreter's start, the TUI's
  does not include the app's).

Figures: wall time; extra wall over ``bare→pipe`` (median of pairs run interleaved); the peak
RSS of the pipebench process itself (the kernel's VmHWM, read every 10 ms until it exits; the
runner child is the pipeline's memory, not pipebench's); and how fast a stop is answered
while the lines pour in: Ctrl-C (SIGINT) to headless ``run`` in the pty, ``s`` to the TUI, each
sent 0.5 s after the first line was echoed, timed to the acknowledgement on the screen
("stopping", or the TUI's "■ stopped") and to the exit.

Goals (issue 13): under 2 s extra wall, under 50 MiB peak RSS, a stop answered in under 0.5 s.

    .venv/bin/python benchmarks/log_throughput.py [--lines 1000000] [--pairs 3] [--no-tui]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PIPEBENCH = [sys.executable, "-m", "workbench.cli.main"]
MiB = 2**20

MODULE = '''
"""One stage that prints a lot."""
from workbench import pipeline


def loud(lines):
    def loud(it):
        for b in it:
            for i in range(lines):
                print(f"line {{i}} of the log")
            yield b
    return loud


@pipeline
def log_lines(lines: int = {lines}):
    """Prints LINES short lines in one stage."""
    return range(1), loud(lines)
'''


@dataclass
class Watch:
    """A started command: its output read and searched for markers, its VmHWM polled."""

    proc: subprocess.Popen[bytes]
    fd: int
    started: float
    markers: dict[bytes, float | None]
    peak_rss: int = 0
    nbytes: int = 0
    tail: bytes = b""
    done: threading.Event = field(default_factory=threading.Event)

    def seen(self, marker: bytes) -> float | None:
        return self.markers.get(marker)


def read_output(w: Watch) -> None:
    while True:
        try:
            data = os.read(w.fd, 1 << 16)
        except OSError:  # a pty's master says EIO once the other side is closed
            break
        if not data:
            break
        now = time.monotonic()
        w.nbytes += len(data)
        window = w.tail + data
        for m, t in w.markers.items():
            if t is None and m in window:
                w.markers[m] = now
        w.tail = window[-4096:]
    w.done.set()


def poll_rss(w: Watch) -> None:
    path = f"/proc/{w.proc.pid}/status"
    while w.proc.poll() is None:
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        w.peak_rss = max(w.peak_rss, int(line.split()[1]) * 1024)
        except OSError:
            break
        time.sleep(0.01)


def start(argv: list[str], env: dict[str, str], how: str, markers: list[bytes]) -> Watch:
    """``how``: "pipe", "null" or "tty" (a pty of 80x24)."""
    if how == "tty":
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        out_w, read_fd = slave, master
        stdin = slave
    elif how == "pipe":
        read_fd, out_w = os.pipe()
        stdin = subprocess.DEVNULL
    else:
        read_fd, out_w = os.open(os.devnull, os.O_RDONLY), os.open(os.devnull, os.O_WRONLY)
        stdin = subprocess.DEVNULL
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv, env=env, stdin=stdin, stdout=out_w, stderr=out_w, start_new_session=True,
        cwd=env["BENCH_CWD"],
    )  # fmt: skip
    os.close(out_w)
    w = Watch(proc, read_fd, t0, {m: None for m in markers})
    threading.Thread(target=read_output, args=(w,), daemon=True).start()
    threading.Thread(target=poll_rss, args=(w,), daemon=True).start()
    return w


def finish(w: Watch, timeout: float = 600) -> float:
    """Wait for the command; its wall time from the fork."""
    w.proc.wait(timeout)
    end = time.monotonic()
    w.done.wait(10)
    os.close(w.fd)
    return end - w.started


def wait_marker(w: Watch, marker: bytes, timeout: float = 120) -> float:
    deadline = time.monotonic() + timeout
    while w.seen(marker) is None:
        if time.monotonic() > deadline or (w.done.is_set() and w.seen(marker) is None):
            raise SystemExit(f"never saw {marker!r} (read {w.nbytes:,} bytes)")
        time.sleep(0.002)
    return w.seen(marker)  # type: ignore[return-value]


def bare(mod: Path, lines: int, env: dict[str, str], how: str) -> float:
    argv = [sys.executable, str(HERE / "bare_twin.py"), f"{mod}:log_lines", f"lines={lines}"]
    return finish(start(argv, env, how, []))


def headless(mod: Path, lines: int, env: dict[str, str], how: str) -> tuple[float, int]:
    argv = [*PIPEBENCH, "run", str(mod), "--param", f"lines={lines}"]
    w = start(argv, env, how, [])
    wall = finish(w)
    if w.proc.returncode != 0:
        raise SystemExit(f"pipebench run exited with {w.proc.returncode}")
    return wall, w.peak_rss


def headless_stop(mod: Path, lines: int, env: dict[str, str]) -> tuple[float, float, int]:
    """SIGINT 0.5 s after the first echoed line; (to "stopping", to exit, peak RSS)."""
    argv = [*PIPEBENCH, "run", str(mod), "--param", f"lines={lines * 20}"]
    w = start(argv, env, "tty", [b"line 1", b"stopping the run"])
    wait_marker(w, b"line 1")
    time.sleep(0.5)
    t = time.monotonic()
    w.proc.send_signal(signal.SIGINT)
    ack = wait_marker(w, b"stopping the run", 30) - t
    finish(w)
    return ack, time.monotonic() - t, w.peak_rss


def tui(folder: Path, env: dict[str, str], stop: bool) -> tuple[float, float | None, int]:
    """The app on ``folder``; Enter runs the one pipeline. Returns (from the key to
    "finished", or to "stopped" after an ``s`` 0.5 s into the run; peak RSS)."""
    # A home of its own: the runs table lists no earlier run, whose '✓ finished' would be
    # on screen before the key (a negative time to "finished" was printed so).
    home = tempfile.mkdtemp(prefix="pipebench-logbench-home-")
    w = start(
        [*PIPEBENCH, str(folder)],
        {**env, "PIPEBENCH_HOME": home},
        "tty",
        [b"Quit", b"finished", b"stopped", b"line"],
    )
    wait_marker(w, b"Quit", 60)
    time.sleep(1.0)  # the catalog listed, the cursor on the pipeline
    for marker in (b"finished", b"stopped", b"line"):
        w.markers[marker] = None  # only what the key brings counts
    t = time.monotonic()
    os.write(w.fd, b"\r")
    answered = None
    if stop:
        wait_marker(w, b"line", 60)
        time.sleep(0.5)
        t = time.monotonic()
        os.write(w.fd, b"s")
        answered = wait_marker(w, b"stopped", 60) - t
        took = answered
    else:
        took = wait_marker(w, b"finished", 600) - t
    os.write(w.fd, b"q")
    try:
        finish(w, 30)
    except subprocess.TimeoutExpired:
        w.proc.kill()
        finish(w)
    shutil.rmtree(home, ignore_errors=True)
    return took, answered, w.peak_rss


def med(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--no-tui", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pipebench-log-"))
    os.chmod(work, 0o700)
    folder = work / "mods"
    folder.mkdir()
    mod = folder / "loud.py"
    mod.write_text(MODULE.format(lines=args.lines))  # the TUI runs the default
    (folder / "loud.py").chmod(0o600)
    quiet = work / "quiet"  # the same pipeline printing nothing: the app's own memory
    quiet.mkdir()
    (quiet / "loud.py").write_text(MODULE.format(lines=0))
    home = work / "home"
    env = {**os.environ, "PIPEBENCH_HOME": str(home), "BENCH_CWD": str(work)}
    # Python's own default: a pipe is block-buffered. (pipebench's runner child buffers its
    # pipeline's output its own way whatever this says; the twin must not be slowed by it.)
    env.pop("PYTHONUNBUFFERED", None)
    env.update(TERM="xterm-256color", COLUMNS="80", LINES="24")
    n = args.lines
    print(f"{n:,} lines of ~20 characters, one print each; load average "
          f"{os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs", flush=True)  # fmt: skip

    headless(mod, 1000, env, "pipe")  # warm-up: page cache, __pycache__
    rows: dict[str, list[float]] = {"bare→/dev/null": [], "bare→pipe": [], "run→pipe": [],
                                    "run→tty": []}  # fmt: skip
    extra: dict[str, list[float]] = {"run→pipe": [], "run→tty": []}
    peaks: dict[str, list[int]] = {"run→pipe": [], "run→tty": []}
    for i in range(args.pairs):
        order = ["bare", "run"] if i % 2 == 0 else ["run", "bare"]
        got: dict[str, float] = {}
        for what in order:
            if what == "bare":
                got["bare→/dev/null"] = bare(mod, n, env, "null")
                got["bare→pipe"] = bare(mod, n, env, "pipe")
            else:
                for how in ("pipe", "tty"):
                    wall, peak = headless(mod, n, env, how)
                    got[f"run→{how}"] = wall
                    peaks[f"run→{how}"].append(peak)
        for k, v in got.items():
            rows[k].append(v)
        for k in extra:
            extra[k].append(got[k] - got["bare→pipe"])
        print(f"  pair {i + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in got.items()),
              flush=True)  # fmt: skip
    print("\nwall time, from the fork to the exit:")
    for k, v in rows.items():
        print(f"  {k:<15} {med(v)}")
    print("extra wall over bare→pipe (the same writes into a pipe someone reads):")
    for k, v in extra.items():
        print(f"  {k:<15} {med(v)}   goal < 2 s")
    print("peak RSS of the pipebench process (VmHWM):")
    for k, p in peaks.items():
        print(f"  {k:<15} {max(p) / MiB:.1f} MiB   goal < 50 MiB")

    acks, exits, stop_peaks = [], [], []
    for _ in range(args.pairs):
        ack, out, peak = headless_stop(mod, n, env)
        acks.append(ack)
        exits.append(out)
        stop_peaks.append(peak)
    print("Ctrl-C to headless run in a terminal while the lines pour in:")
    print(f"  to 'stopping the run' on screen: {med(acks)}   goal < 0.5 s")
    print(f"  to the exit, report printed:     {med(exits)}")
    print(f"  peak RSS meanwhile: {max(stop_peaks) / MiB:.1f} MiB")

    if not args.no_tui:
        tui(folder, env, stop=False)  # warm-up: the warm server, the first frame
        walls, tpeaks, answers = [], [], []
        for _ in range(args.pairs):
            took, _, peak = tui(folder, env, stop=False)
            walls.append(took)
            tpeaks.append(peak)
        for _ in range(args.pairs):
            _, answered, peak = tui(folder, env, stop=True)
            assert answered is not None
            answers.append(answered)
            tpeaks.append(peak)
        _, _, quiet_peak = tui(quiet, env, stop=False)
        base = statistics.median(rows["bare→pipe"])
        print("TUI (80x24), Enter to '✓ finished' on screen:")
        print(f"  {med(walls)}; extra over bare→pipe {statistics.median(walls) - base:.2f} s"
              "   goal < 2 s")  # fmt: skip
        print(f"  s to '■ stopped' on screen: {med(answers)}   goal < 0.5 s")
        print(f"  peak RSS of the app: {max(tpeaks) / MiB:.1f} MiB   goal < 50 MiB; with a "
              f"run that prints nothing {quiet_peak / MiB:.1f} MiB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
