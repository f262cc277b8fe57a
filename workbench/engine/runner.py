"""Parent side of a run: spawn the runner child, read its events, stop or kill it.

A run's events (the child's own, its stdout/stderr as ``Log`` lines, and a final
``Exited``) arrive on one queue, in order per source, ``Exited`` always last.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import IO, Any

import psutil

from workbench.engine.child import CONFIG_ENV, RunConfig
from workbench.engine.protocol import Event, Exited, Log, ProtocolError, decode

#: How long a child gets to end by itself after a stop request before it is killed.
GRACE_S = 3.0


@dataclass(frozen=True)
class RunOptions:
    """Everything about a run besides its target."""

    params: dict[str, str] = field(default_factory=dict)
    max_batches: int | None = None
    max_seconds: float | None = None
    memory_budget: int | None = None
    snapshot_s: float = 0.1
    grace_s: float = GRACE_S
    cwd: str | None = None
    mode: str = "pipeline"  # see child.MODES
    mode_options: dict[str, Any] = field(default_factory=dict)


class RunHandle:
    """One runner child process and the stream of its events."""

    def __init__(self, target: str, options: RunOptions | None = None):
        self.target = target
        self.options = options or RunOptions()
        self.events: queue.Queue[Event] = queue.Queue()
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._killed_by: str | None = None
        self._stop_requested = False
        self._stderr_tail: deque[str] = deque(maxlen=20)
        self._readers: list[threading.Thread] = []
        self._exited = threading.Event()

    # ---- lifecycle ------------------------------------------------------------------
    def start(self) -> RunHandle:
        opts = self.options
        read_fd, write_fd = os.pipe()
        config = RunConfig(
            target=self.target,
            params=dict(opts.params),
            events_fd=write_fd,
            snapshot_s=opts.snapshot_s,
            max_batches=opts.max_batches,
            max_seconds=opts.max_seconds,
            memory_budget=opts.memory_budget,
            parent_pid=os.getpid(),
            mode=opts.mode,
            options=dict(opts.mode_options),
            # PDEATHSIG fires when the spawning *thread* exits: only safe from the main one.
            pdeathsig=threading.current_thread() is threading.main_thread(),
        )
        env = dict(os.environ)
        env[CONFIG_ENV] = json.dumps(asdict(config))
        env["PYTHONUNBUFFERED"] = "1"
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "workbench.engine.child"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd,),
                env=env,
                cwd=opts.cwd,
                # Its own session: a Ctrl-C in the terminal reaches pipebench, which stops
                # the run properly, and the whole group (DataLoader workers) can be killed.
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
        self.started_at = time.monotonic()
        assert self.proc.stdout and self.proc.stderr
        self._readers = [
            self._thread(self._read_events, os.fdopen(read_fd, "rb")),
            self._thread(self._read_output, self.proc.stdout, "stdout"),
            self._thread(self._read_output, self.proc.stderr, "stderr"),
        ]
        self._thread(self._watch)
        return self

    def _thread(self, target: Any, *args: Any) -> threading.Thread:
        t = threading.Thread(
            target=target, args=args, daemon=True, name=f"pipebench-{target.__name__.strip('_')}"
        )
        t.start()
        return t

    def stop(self) -> None:
        """Ask the child to stop (its chain is closed, finally blocks run); kill it if it
        has not ended within the grace period."""
        if self.proc is None or self.proc.poll() is not None or self._stop_requested:
            return
        self._stop_requested = True
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGINT)
        timer = threading.Timer(self.options.grace_s, self._kill, args=("stop_timeout",))
        timer.daemon = True
        timer.start()

    def kill(self) -> None:
        self._kill("user_kill")

    def _kill(self, why: str) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self._killed_by = self._killed_by or why
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the final ``Exited`` event to be queued; True if it was."""
        return self._exited.wait(timeout)

    @property
    def running(self) -> bool:
        return not self._exited.is_set()

    def iter_events(self, poll_s: float | None = None) -> Iterator[Event]:
        """Events as they come, ending with ``Exited``."""
        while True:
            ev = self.events.get(timeout=poll_s)
            yield ev
            if isinstance(ev, Exited):
                return

    # ---- threads --------------------------------------------------------------------
    def _read_events(self, f: IO[bytes]) -> None:
        with f:
            for line in f:
                try:
                    self.events.put(decode(line))
                except ProtocolError as exc:
                    self.events.put(Log("pipebench", f"ignored a bad event line: {exc}"))

    def _read_output(self, f: IO[bytes], stream: str) -> None:
        with f:
            for raw in f:
                text = raw.decode("utf-8", "replace").rstrip("\n")
                if stream == "stderr":
                    self._stderr_tail.append(text)
                self.events.put(Log(stream, text))

    def _watch(self) -> None:
        """Enforce the hard limits the child could not (stuck in C code), then report the
        exit once every reader has drained."""
        assert self.proc is not None
        opts = self.options
        try:
            ps: psutil.Process | None = psutil.Process(self.proc.pid)
        except psutil.Error:
            ps = None
        over_since: float | None = None
        while self.proc.poll() is None:
            now = time.monotonic()
            if opts.memory_budget and ps is not None:
                try:
                    rss = ps.memory_info().rss
                except psutil.Error:
                    rss = 0
                if rss > opts.memory_budget:
                    over_since = over_since or now
                    if now - over_since > opts.grace_s:
                        self._kill("memory_budget")
                else:
                    over_since = None
            if opts.max_seconds is not None and now - self.started_at > (
                opts.max_seconds + opts.grace_s + 2.0
            ):
                self._kill("max_seconds")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(0.1)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # leave no worker of it behind
        for t in self._readers:
            # A grandchild that inherited stdout can hold the pipes open: do not wait forever.
            t.join(timeout=2.0)
        code = self.proc.returncode
        sig = signal.Signals(-code).name if code < 0 else None
        self.events.put(Exited(code, sig, self._killed_by, tuple(self._stderr_tail)))
        self._exited.set()


def start_run(target: str, options: RunOptions | None = None) -> RunHandle:
    """Spawn a runner child for ``target`` and return its handle."""
    return RunHandle(target, options).start()
