"""Records of resource contexts (entry, exit, deltas, outcome, nesting) kept by this process.

Light on purpose: user pipeline modules import it through ``workbench.authoring.resources``. It never
imports the engine, and reads ``torch.cuda`` only when the pipeline itself has imported torch
and initialised CUDA. In a pipebench run the engine's "contexts" sampler reads these records;
in plain Python they are simply kept (a bounded number) for whoever asks.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

try:
    import _signal  # the C functions behind ``signal``, without its enum conversions
except ImportError:  # pragma: no cover - another Python implementation
    _signal = signal  # type: ignore[assignment]

#: Closed records kept (the oldest go first); open ones are always kept.
MAX_CLOSED = 200
#: Totals kept per (kind, name), the largest first.
MAX_TOTALS = 50

_GENERATOR_FLAGS = 0x20 | 0x80 | 0x200  # CO_GENERATOR, CO_COROUTINE, CO_ASYNC_GENERATOR
_SKIPPED_MODULES = frozenset(
    {
        "contextlib",
        "workbench.authoring.resources",
        "workbench.authoring.recording",
        "workbench.authoring.autorecord",
    }
)
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


_statm: tuple[int, int] | None = None  # (pid, fd) of /proc/self/statm, kept open


def rss_bytes() -> int | None:
    """Resident set size of this process, or None where it cannot be read cheaply."""
    global _statm
    pid = os.getpid()
    try:
        if _statm is None or _statm[0] != pid:  # opened by this process (not a parent)
            _statm = (pid, os.open("/proc/self/statm", os.O_RDONLY))
        return int(os.pread(_statm[1], 128, 0).split()[1]) * _PAGE
    except (OSError, AttributeError):
        psutil = sys.modules.get("psutil")
        return int(psutil.Process().memory_info().rss) if psutil is not None else None


def cuda_torch() -> Any:
    """The torch module when the process has imported it and initialised CUDA, else None.

    Never imports torch and never initialises CUDA.
    """
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    try:
        return torch if cuda is not None and cuda.is_initialized() else None
    except Exception:
        return None


def cuda_allocated() -> int | None:
    """Bytes held by torch's CUDA tensors on all devices, or None when CUDA is not in use."""
    torch = cuda_torch()
    if torch is None:
        return None
    try:
        return sum(int(torch.cuda.memory_allocated(i)) for i in range(torch.cuda.device_count()))
    except Exception:
        return None


@dataclass
class ContextRecord:
    """One resource context: when it was entered and left, what it changed, how it ended."""

    id: int
    kind: str  # gpu_memory, experiment_log, sqlite_transaction, timed, context
    name: str
    parent: int | None
    depth: int
    thread: str
    start_s: float  # seconds since the registry's origin (the run's start in a run)
    end_s: float | None = None
    rss_before_bytes: int | None = None
    rss_after_bytes: int | None = None
    gpu_before_bytes: int | None = None  # torch.cuda allocated, when CUDA is in use
    gpu_after_bytes: int | None = None
    outcome: str = "open"  # ok, committed, rolled back, closed, stopped (...), an exception type
    exception: str | None = None  # the type of the exception the block ended with
    note: str | None = None
    exits: int = 0  # how many times the context was exited: 1 once it is closed
    detail: dict[str, Any] = field(default_factory=dict)
    owner: FrameType | None = field(default=None, repr=False)  # the frame of the ``with``

    @property
    def open(self) -> bool:
        return self.exits == 0

    @property
    def duration_s(self) -> float | None:
        return None if self.end_s is None else self.end_s - self.start_s

    def as_dict(self) -> dict[str, Any]:
        """The JSON form sent in the run's "contexts" section."""

        def delta(a: int | None, b: int | None) -> int | None:
            return None if a is None or b is None else b - a

        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "parent": self.parent,
            "depth": self.depth,
            "thread": self.thread,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "duration_s": self.duration_s,
            "rss_before_bytes": self.rss_before_bytes,
            "rss_after_bytes": self.rss_after_bytes,
            "rss_delta_bytes": delta(self.rss_before_bytes, self.rss_after_bytes),
            "gpu_before_bytes": self.gpu_before_bytes,
            "gpu_after_bytes": self.gpu_after_bytes,
            "gpu_delta_bytes": delta(self.gpu_before_bytes, self.gpu_after_bytes),
            "outcome": self.outcome,
            "exception": self.exception,
            "note": self.note,
            "exits": self.exits,
            "detail": dict(self.detail),
        }


#: Outcomes of a block that ended as the pipeline meant, or because the run was ended
#: (closed with the chain, interrupted, stopped): none is the block's failure.
EXPECTED_OUTCOMES = ("open", "ok", "committed", "closed", "interrupted")


def failed_outcome(outcome: str, exception: str | None = None) -> bool:
    """Whether a context's outcome is a failure of the block: it ended with an exception of
    its own (a rollback after one included), not normally, nor because the run ended."""
    if outcome in EXPECTED_OUTCOMES or outcome.startswith("stopped ("):
        return False
    return outcome != "rolled back" or exception not in (None, "GeneratorExit", "StopRun")


def describe_exit(exc: BaseException | None) -> tuple[str, str | None]:
    """The outcome and exception type of a block that ended with ``exc``.

    ``GeneratorExit`` is the chain closing a stage ("closed"); the runner's ``StopRun`` is a
    stop, a memory budget or a time limit ("stopped (reason)").
    """
    if exc is None:
        return "ok", None
    name = type(exc).__name__
    if isinstance(exc, GeneratorExit):
        return "closed", name
    if name == "StopRun":
        reason = exc.args[0] if exc.args else "stop"
        return f"stopped ({reason})", name
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", name
    return name, name


class Registry:
    """The open and recently closed contexts of this process; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.origin = time.monotonic()
        self.in_run = False
        self._next_id = 1
        self._open: dict[int, ContextRecord] = {}
        self._by_frame: dict[int, list[ContextRecord]] = {}
        self._closed: deque[ContextRecord] = deque(maxlen=MAX_CLOSED)
        self._totals: dict[tuple[str, str], list[float]] = {}  # count, seconds, failed
        self._n_closed = 0
        self._version = 0
        self._cache: tuple[tuple[int, int | None], dict[str, Any]] | None = None
        self.torch_peaks: dict[int, int] = {}  # device -> peak allocated seen before resets
        #: Called after a context is entered (the runner child starts its sections thread).
        self.listener: Callable[[], object] | None = None
        #: The run's stop reason while the runner closes its chain because of that stop: a
        #: context the close ends was ended by the stop ("stopped (reason)", not "closed").
        self.stopped_by: str | None = None

    # ---- the run ----------------------------------------------------------------------
    def begin_run(self, in_run: bool = True) -> None:
        """A pipebench run starts: times count from now, earlier closed records go (open
        ones stay). ``in_run=False`` does the same outside a run (tests, notebooks)."""
        with self._lock:
            self.origin = time.monotonic()
            self.in_run = in_run
            self._closed.clear()
            self._totals.clear()
            self._n_closed = 0
            self.stopped_by = None
            self._version += 1

    def now_s(self) -> float:
        return time.monotonic() - self.origin

    # ---- entering and leaving -------------------------------------------------------
    def enter(self, kind: str, name: str, owner: FrameType | None) -> ContextRecord:
        """Record a context being entered in ``owner`` (the frame holding the ``with``)."""
        rss, gpu = rss_bytes(), cuda_allocated()
        with self._lock:
            parent = self._parent_of(owner)
            rec = ContextRecord(
                id=self._next_id,
                kind=kind,
                name=name,
                parent=parent.id if parent else None,
                depth=parent.depth + 1 if parent else 0,
                thread=threading.current_thread().name,
                start_s=self.now_s(),
                rss_before_bytes=rss,
                gpu_before_bytes=gpu,
                owner=owner,
            )
            self._next_id += 1
            self._open[rec.id] = rec
            if owner is not None:
                self._by_frame.setdefault(id(owner), []).append(rec)
            self._version += 1
        if self.listener is not None:
            self.listener()
        return rec

    def exit(self, rec: ContextRecord, outcome: str, exception: str | None = None) -> None:
        """Record ``rec`` being left; a second exit is counted, not recorded again."""
        rss, gpu = rss_bytes(), cuda_allocated()
        with self._lock:
            rec.exits += 1
            self._version += 1
            if rec.exits > 1:
                return
            rec.end_s = self.now_s()
            rec.rss_after_bytes, rec.gpu_after_bytes = rss, gpu
            if outcome == "closed" and self.stopped_by:
                outcome = f"stopped ({self.stopped_by})"
            rec.outcome, rec.exception = outcome, exception
            self._open.pop(rec.id, None)
            if rec.owner is not None:
                owned = self._by_frame.get(id(rec.owner), [])
                if rec in owned:
                    owned.remove(rec)
                if not owned:
                    self._by_frame.pop(id(rec.owner), None)
                rec.owner = None
            self._closed.append(rec)
            self._n_closed += 1
            total = self._totals.setdefault((rec.kind, rec.name), [0, 0.0, 0])
            total[0] += 1
            total[1] += rec.duration_s or 0.0
            total[2] += failed_outcome(outcome, rec.exception)

    def changed(self) -> None:
        """A record's detail or note was updated in place."""
        with self._lock:
            self._version += 1

    def _parent_of(self, frame: FrameType | None) -> ContextRecord | None:
        """The innermost open context whose ``with`` is on the call stack of ``frame``.

        The walk up the stack stops after the first generator frame (unless contextlib
        drives it): what resumes a generator (a downstream stage pulling from it) is not
        what holds its contexts, so a stage's contexts never nest under another stage's.
        """
        f = frame
        while f is not None:
            owned = self._by_frame.get(id(f))
            if owned:
                return owned[-1]
            if f.f_code.co_flags & _GENERATOR_FLAGS:
                back = f.f_back
                if back is None or back.f_globals.get("__name__") != "contextlib":
                    return None
            f = f.f_back
        return None

    # ---- reading ----------------------------------------------------------------------
    def records(self) -> list[ContextRecord]:
        """Open and kept closed records, in the order they were entered."""
        with self._lock:
            return sorted([*self._open.values(), *self._closed], key=lambda r: r.id)

    def open_records(self) -> list[ContextRecord]:
        with self._lock:
            return sorted(self._open.values(), key=lambda r: r.id)

    def section(self, closed: int | None = None) -> dict[str, Any]:
        """The "contexts" section: records as dicts, counts and per-name totals. Every open
        record, and the last ``closed`` closed ones (all that are kept: None); ``dropped``
        counts the closed ones left out."""
        with self._lock:
            key = (self._version, closed)
            if self._cache is not None and self._cache[0] == key:
                data = self._cache[1]
            else:
                kept = list(self._closed)
                if closed is not None:
                    kept = kept[max(0, len(kept) - closed) :]
                recs = sorted([*self._open.values(), *kept], key=lambda r: r.id)
                totals = sorted(self._totals.items(), key=lambda kv: -kv[1][1])[:MAX_TOTALS]
                data = {
                    "records": [r.as_dict() for r in recs],
                    "open": len(self._open),
                    "total": len(self._open) + self._n_closed,
                    "dropped": self._n_closed - len(kept),
                    "totals": [
                        {
                            "kind": k,
                            "name": n,
                            "count": int(t[0]),
                            "total_s": t[1],
                            "failed": int(t[2]),
                        }
                        for (k, n), t in totals
                    ],
                }
                self._cache = (key, data)
        return {**data, "now_s": self.now_s(), "origin_ns": round(self.origin * 1e9)}

    def fold_torch_peak(self, device: int, peak: int) -> None:
        """Keep a torch peak that is about to be reset (the GPU sampler reports the max)."""
        with self._lock:
            if peak > self.torch_peaks.get(device, 0):
                self.torch_peaks[device] = peak


#: The registry of this process.
REGISTRY = Registry()


def owner_frame() -> FrameType | None:
    """The frame that holds the ``with`` (or the call) being recorded: the first frame up
    the stack that is not pipebench's or contextlib's."""
    f: FrameType | None = sys._getframe(1)
    while f is not None and f.f_globals.get("__name__") in _SKIPPED_MODULES:
        f = f.f_back
    return f


class _Shield:
    """Hold SIGINT/SIGTERM handlers back while a context is entered or left.

    A stop (the runner's ``StopRun``, or a Ctrl-C in plain Python) that lands in the middle
    of pipebench's own bookkeeping would leave a resource acquired but not recorded, or
    released but not recorded. Inside this block such a signal is only noted; its handler
    runs at the end, so the stop is raised just after the context is fully entered or left.
    Main thread only; elsewhere (where Python never runs signal handlers) it does nothing.
    The handlers are swapped through ``_signal``, the C module: ``signal.signal`` costs
    about ten times more, and this runs twice per context.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.held: dict[int, Any] = {}  # signal number -> the handler held back
        self.pending: list[tuple[int, Any]] = []

    def _note(self, signum: int, frame: Any) -> None:
        self.pending.append((signum, frame))

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if self.depth == 0:
            for signum in _SHIELDED:
                handler = _signal.getsignal(signum)
                if callable(handler):
                    self.held[signum] = handler
                    _signal.signal(signum, self._note)
        self.depth += 1

    def __exit__(self, *exc: object) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self.depth -= 1
        if self.depth:
            return
        held, self.held = self.held, {}
        for signum, handler in held.items():
            _signal.signal(signum, handler)
        pending, self.pending = self.pending, []
        for signum, frame in pending:
            handler = held.get(signum)
            if handler is not None:
                handler(signum, frame)  # may raise StopRun / KeyboardInterrupt


_SHIELDED: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)
_SHIELD = _Shield()


def shielded() -> _Shield:
    """The process's signal shield (see ``_Shield``), as a context manager."""
    return _SHIELD
