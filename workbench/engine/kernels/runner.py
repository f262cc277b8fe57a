"""Parent side of a kernels run: one runner child, or several fresh ones for --rigorous.

``KernelRun`` is what the CLI and the UI call: start it, read its events (each child's,
in order, each ending with its ``Exited``), stop or kill it. Rounds run one after the
other, never at once, so they do not compete for the CPU.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from workbench.engine.kernels.timing import TimingSettings
from workbench.engine.protocol import Event, Exited, Failure
from workbench.engine.runner import RunHandle, RunOptions, start_run

#: Fresh processes a --rigorous run takes at least.
RIGOROUS_PROCESSES = 3


@dataclass(frozen=True)
class KernelOptions:
    """Everything about a kernels run besides its target."""

    kernel: str | None = None
    impls: tuple[str, ...] = ()
    sizes: tuple[int, ...] = ()
    threads: str = "1"  # a count or "all"
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
        self._stopped = False
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> KernelRun:
        self._start_round(0)
        self._thread = threading.Thread(target=self._pump, name="pipebench-kernels", daemon=True)
        self._thread.start()
        return self

    def _start_round(self, index: int) -> None:
        opts = self.options
        run_options = RunOptions(
            mode="kernels",
            mode_options=opts.mode_options(index),
            max_seconds=opts.max_seconds,
            cwd=opts.cwd,
        )
        with self._lock:
            self.handle = start_run(self.target, run_options)

    def _pump(self) -> None:
        total = max(1, self.options.processes)
        index = 0
        while True:
            assert self.handle is not None
            failed = False
            for ev in self.handle.iter_events():
                if isinstance(ev, Failure):
                    failed = True
                self.events.put(ev)
            code = ev.returncode if isinstance(ev, Exited) else 1
            index += 1
            if index >= total or failed or code != 0 or self._stopped:
                break
            self._start_round(index)
        self._done.set()

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
