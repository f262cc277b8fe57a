"""Parent side of a kernels run: one runner child, or several fresh ones for --rigorous.

``KernelRun`` is what the CLI and the UI call: start it, read its events (each child's,
in order, each ending with its ``Exited``), stop or kill it. Rounds run one after the
other, never at once, so they do not compete for the CPU.

When an implementation's first call holds the GIL past its limit, the runner ends itself
(``limit.py``'s hard limit); ``KernelRun`` then reports that row as skipped and starts a
fresh runner for the same round, told which rows were sent already, so the rest are
measured. The readers see one round: the ended runner's ``Exited`` and the fresh one's
``KernelEnvironment`` are not passed on, a ``Log`` line says what happened.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.engine.kernels.limit import read_watchdog
from workbench.engine.kernels.rowinfo import RowInfo, pack, unpack
from workbench.engine.kernels.timing import TimingSettings
from workbench.engine.protocol import (
    Event,
    Exited,
    Failure,
    KernelEnvironment,
    KernelResult,
    Log,
)
from workbench.engine.runner import RunHandle, RunOptions, start_run
from workbench.units import format_seconds

#: Fresh processes a --rigorous run takes at least.
RIGOROUS_PROCESSES = 3


@dataclass(frozen=True)
class KernelOptions:
    """Everything about a kernels run besides its target."""

    kernel: str | None = None
    impls: tuple[str, ...] = ()
    sizes: tuple[int, ...] = ()
    threads: str = "1"  # a count or "all"
    parallel_threads: str = "all"  # for implementations marked parallel
    processes: int = 1  # fresh processes, one after the other (--rigorous: at least 3)
    gemm: bool = True
    timing: TimingSettings = field(default_factory=TimingSettings)
    max_seconds: float | None = None  # per process
    cwd: str | None = None

    def mode_options(self, round_: int) -> dict[str, object]:
        return {
            "kernel": self.kernel,
            "impls": list(self.impls),
            "sizes": list(self.sizes),
            "threads": self.threads,
            "parallel_threads": self.parallel_threads,
            "round": round_,
            "gemm": self.gemm,
            **asdict(self.timing),
        }

    def as_dict(self) -> dict[str, object]:
        d = self.mode_options(0)
        d.pop("round")
        d["processes"] = self.processes
        return d


class KernelRun:
    """A kernels run of ``options.processes`` runner children, one after the other.

    Events come from ``iter_events()`` (or the ``events`` queue) as they happen; the run
    is over after the last child's ``Exited``. A child that fails to load (bad input) or
    is stopped ends the run: no further round is started.
    """

    def __init__(self, target: str, options: KernelOptions | None = None):
        self.target = target
        self.options = options or KernelOptions()
        self.events: queue.Queue[Event] = queue.Queue()
        self.handle: RunHandle | None = None
        self.rounds_done = 0
        self.restarts = 0  # fresh runners started after a first call was ended
        self._stopped = False
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._dir = ""  # made by start(), removed when the run is over
        self._watchdog = ""
        # The round being followed: rows sent, first calls ended, plans; whether its
        # runner is a fresh one after a restart; how its last runner ended.
        self._sent: set[tuple[str, int, str]] = set()
        self._timed_out: list[tuple[str, int, str, float]] = []
        self._plans: dict[str, dict[str, Any]] = {}
        self._resumed = False
        self._failed = False
        self._code = 0

    def start(self) -> KernelRun:
        self._dir = tempfile.mkdtemp(prefix="pipebench-kernels-")
        self._watchdog = os.path.join(self._dir, "first-call")
        self._start_round(0)
        self._thread = threading.Thread(target=self._pump, name="pipebench-kernels", daemon=True)
        self._thread.start()
        return self

    def _start_round(self, index: int, resume: dict[str, Any] | None = None) -> None:
        opts = self.options
        mode_options = {**opts.mode_options(index), "watchdog": self._watchdog}
        if resume:
            mode_options.update(resume, gemm=False)
        run_options = RunOptions(
            mode="kernels",
            mode_options=mode_options,
            max_seconds=opts.max_seconds,
            cwd=opts.cwd,
        )
        with self._lock:
            self.handle = start_run(self.target, run_options)

    def _pump(self) -> None:
        total = max(1, self.options.processes)
        index = 0
        try:
            while True:
                plans, ended = self._follow_round(index)
                if ended is not None and not self._stopped:
                    self._restart(index, plans, ended)
                    continue
                index += 1
                if index >= total or self._failed or self._code != 0 or self._stopped:
                    break
                self._start_round(index)
        finally:
            with contextlib.suppress(OSError):
                shutil.rmtree(self._dir)
            self._done.set()

    def _follow_round(
        self, index: int
    ) -> tuple[dict[str, dict[str, Any]], tuple[dict[str, Any], Exited] | None]:
        """Pass on one runner's events; returns the plans it announced and, when its hard
        first-call limit ended it, the row it was on and its ``Exited``."""
        if not self._resumed:
            self._sent, self._timed_out, self._plans = set(), [], {}
        assert self.handle is not None
        failed = False
        last: Event | None = None
        for ev in self.handle.iter_events():
            last = ev
            if isinstance(ev, Failure):
                failed = True
            elif isinstance(ev, KernelResult):
                self._sent.add((ev.kernel, ev.size, ev.impl))
                ended_after = unpack(ev.check)[1].ended_after_s
                if ended_after is not None:  # the soft limit ended it: a fresh runner must know
                    self._timed_out.append((ev.kernel, ev.size, ev.impl, ended_after))
            elif isinstance(ev, KernelEnvironment):
                if not self._plans:
                    self._plans = {p["name"]: p for p in ev.kernels}
                if self._resumed:
                    continue  # the round goes on: one environment per round
            if isinstance(ev, Exited):
                hit = read_watchdog(self._watchdog) if ev.returncode != 0 else None
                if hit is not None and not failed:
                    return self._plans, (hit[0], ev)
            self.events.put(ev)
        self._resumed = False
        self._failed = failed
        self._code = last.returncode if isinstance(last, Exited) else 1
        self.rounds_done = index + 1
        return self._plans, None

    def _restart(
        self, index: int, plans: dict[str, dict[str, Any]], ended: tuple[dict[str, Any], Exited]
    ) -> None:
        """Report the row whose first call was ended as skipped; start a fresh runner for
        the rest of the round."""
        row, _exited = ended
        kernel, size, impl = str(row["kernel"]), int(row["size"]), str(row["impl"])
        limit = float(row.get("limit_s") or self.options.timing.first_call_limit_s)
        threads = (plans.get(kernel) or {}).get("threads", {}).get(impl)
        parallel = impl in (plans.get(kernel) or {}).get("parallel", ())
        why = (
            f"skipped: its first call ran past the {format_seconds(limit)} limit "
            "(compile time included; --first-call-limit) in code that held the GIL, so the "
            "runner was ended and a fresh one measured the rest"
        )
        self.events.put(
            KernelResult(
                kernel=kernel,
                size=size,
                impl=impl,
                round=index,
                status="skipped",
                check=pack(None, RowInfo(threads=threads, parallel=parallel, ended_after_s=limit)),
                skipped=why,
                reference=bool(row.get("reference")),
            )
        )
        self.events.put(
            Log(
                "pipebench",
                f"{kernel}: {impl} at size {size:,} held the GIL past the first-call limit; "
                "started a fresh runner for the rest",
            )
        )
        self._sent.add((kernel, size, impl))
        self._timed_out.append((kernel, size, impl, limit))
        self._resumed = True
        self.restarts += 1
        with contextlib.suppress(OSError):
            os.remove(self._watchdog)
        self._start_round(
            index,
            {
                "done": sorted(self._sent),
                "timed_out": list(self._timed_out),
            },
        )

    def iter_events(self, poll_s: float | None = None) -> Iterator[Event]:
        """Every event of every round, ending after the last round's ``Exited``."""
        while True:
            try:
                ev = self.events.get(timeout=poll_s if poll_s is not None else 0.2)
            except queue.Empty:
                if self._done.is_set() and self.events.empty():
                    return
                continue
            yield ev

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def stop(self) -> None:
        """Stop the current round (the rows measured so far are kept); start no more."""
        self._stopped = True
        with self._lock:
            if self.handle is not None:
                self.handle.stop()

    def kill(self) -> None:
        self._stopped = True
        with self._lock:
            if self.handle is not None:
                self.handle.kill()


def start_kernels(target: str, options: KernelOptions | None = None) -> KernelRun:
    """Start a kernels run of ``target`` (``path.py[:kernel]``) and return it."""
    return KernelRun(target, options).start()
