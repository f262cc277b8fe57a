"""Resource context managers that do their job and report it to the run.

``gpu_memory``, ``experiment_log``, ``sqlite_transaction`` and ``timed`` release what they
hold whatever happens, and record their entry and exit time, duration, RSS change, GPU change,
outcome and nesting (``workbench.authoring.recording``). ``track`` makes a user's own context manager
report the same way. Outside a pipebench run they work the same; the records are kept locally
(``records()``). torch is imported only when CUDA is asked for or already in use.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from workbench.authoring.recording import (
    REGISTRY,
    ContextRecord,
    cuda_allocated,
    describe_exit,
    owner_frame,
    shielded,
)

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["experiment_log", "gpu_memory", "records", "sqlite_transaction", "timed", "track"]


class ReportingContext:
    """Base of the reporting contexts: records entry and exit exactly once around
    ``_open`` (acquire) and ``_close`` (release). Subclasses set ``kind``."""

    kind = "context"

    def __init__(self, name: str):
        self.name = name
        self.record: ContextRecord | None = None

    def _open(self) -> Any:
        return self

    def _close(self, exc: BaseException | None, tb: TracebackType | None) -> tuple[bool, str]:
        """Release; return (suppress the exception, outcome)."""
        return False, describe_exit(exc)[0]

    def __enter__(self) -> Any:
        if self.record is not None:
            raise RuntimeError(f"{self.name}: a reporting context can be entered only once")
        owner = owner_frame()
        try:
            with shielded():
                self.record = REGISTRY.enter(self.kind, self.name, owner)
                return self._open()
        except BaseException as exc:  # failed to acquire, or stopped while acquiring
            if self.record is not None and self.record.open:
                self._leave(exc, exc.__traceback__)
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        with shielded():
            return self._leave(exc, tb)

    def _leave(self, exc: BaseException | None, tb: TracebackType | None) -> bool:
        assert self.record is not None
        outcome, exc_name = describe_exit(exc)
        suppress = False
        try:
            suppress, outcome = self._close(exc, tb)
        except BaseException as close_exc:
            outcome, exc_name = f"exit raised {type(close_exc).__name__}", exc_name
            raise
        finally:
            REGISTRY.exit(self.record, outcome, exc_name)
        return suppress


class timed(ReportingContext):  # noqa: N801 - used like a function
    """Time a block, or every call of a function when used as a decorator.

    ``with timed("epoch 1"):`` or ``@timed("step")`` or bare ``@timed``. A decorated
    generator function is timed from its first item to its end. ``elapsed_s`` holds the
    duration once the block is left (and the time so far while it runs).
    """

    kind = "timed"

    def __new__(cls, name: Any = None) -> Any:
        if callable(name):  # bare @timed
            return cls(getattr(name, "__qualname__", repr(name)))(name)
        return super().__new__(cls)

    def __init__(self, name: str | None = None):
        super().__init__(name or "timed")

    @property
    def elapsed_s(self) -> float | None:
        rec = self.record
        if rec is None:
            return None
        return rec.duration_s if rec.duration_s is not None else REGISTRY.now_s() - rec.start_s

    def __call__(self, fn: F) -> F:
        name = self.name
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                with timed(name):
                    return (yield from fn(*args, **kwargs))

            return gen_wrapper  # type: ignore[return-value]
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with timed(name):
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with timed(name):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class Tracked(ReportingContext):
    """A user's context manager that reports like pipebench's own (see ``track``)."""

    def __init__(self, cm: Any, name: str):
        super().__init__(name)
        self.cm = cm

    def _open(self) -> Any:
        return self.cm.__enter__()

    def _close(self, exc: BaseException | None, tb: TracebackType | None) -> tuple[bool, str]:
        suppress = bool(self.cm.__exit__(type(exc) if exc else None, exc, tb))
        outcome = describe_exit(exc)[0]
        return suppress, f"suppressed {type(exc).__name__}" if suppress and exc else outcome


def track(obj: Any, name: str | None = None) -> Any:
    """Make a user's own context manager report to the run, by wrapping it once.

    ``track(cm)`` wraps one context manager object; ``track(factory)`` (a class or a
    ``@contextmanager`` function, also as a decorator) returns a factory whose context
    managers all report. The wrapped ``__enter__`` value is what the ``with`` gets.
    """
    if hasattr(obj, "__enter__") and hasattr(obj, "__exit__") and not isinstance(obj, type):
        func = getattr(obj, "func", None)  # a @contextmanager function's context manager
        return Tracked(obj, name or getattr(func, "__qualname__", None) or type(obj).__name__)
    if callable(obj):
        label = name or getattr(obj, "__qualname__", None) or repr(obj)

        @functools.wraps(obj)
        def factory(*args: Any, **kwargs: Any) -> Tracked:
            return Tracked(obj(*args, **kwargs), label)

        return factory
    raise TypeError(f"track() needs a context manager or a factory of them, not {obj!r}")


class gpu_memory(ReportingContext):  # noqa: N801
    """Empty the CUDA cache on entry and on exit, and record allocated, reserved and peak
    memory before and after (the peak is the block's own, nested blocks included).

    ``device``: a torch device, "cuda", "cuda:1", an index, or None for the current CUDA
    device. With no CUDA (CPU torch, no driver, a CPU device) it says so in the record and
    the block runs as usual.
    """

    kind = "gpu_memory"
    _open_blocks: list[gpu_memory] = []  # open blocks, for the peaks of nested ones

    def __init__(self, device: Any = None):
        super().__init__(f"gpu_memory({'cuda' if device is None else device})")
        self.device = device
        self.index: int | None = None
        self.torch: Any = None

    def _resolve(self) -> str | None:
        """Set ``torch`` and ``index`` when CUDA can be used; else say why not."""
        wants_cuda = (
            self.device is None
            or isinstance(self.device, int)
            or (str(self.device).startswith("cuda"))
        )
        torch: Any = sys.modules.get("torch")
        if torch is None and not wants_cuda:
            return f"device {self.device}: no CUDA memory to manage"
        if torch is None:
            try:
                import torch  # the block asked for CUDA
            except ImportError:
                return "torch is not installed: no CUDA memory to manage"
        dev = torch.device(
            "cuda"
            if self.device is None
            else (f"cuda:{self.device}" if isinstance(self.device, int) else self.device)
        )
        if dev.type != "cuda":
            return f"device {dev}: not CUDA, nothing to empty"
        if torch.version.cuda is None:
            return "torch has no CUDA (a CPU build): nothing to empty"
        if not torch.cuda.is_available():
            return "torch has no CUDA (no usable device): nothing to empty"
        self.torch = torch
        self.index = dev.index if dev.index is not None else torch.cuda.current_device()
        return None

    def _figures(self) -> dict[str, int]:
        cuda, i = self.torch.cuda, self.index
        return {
            "allocated": int(cuda.memory_allocated(i)),
            "reserved": int(cuda.memory_reserved(i)),
            "peak": int(cuda.max_memory_allocated(i)),
            "peak_reserved": int(cuda.max_memory_reserved(i)),
        }

    def _fold_peaks(self) -> None:
        """Give every open block on this device the peak so far, then reset it."""
        now = self._figures()
        for block in gpu_memory._open_blocks:
            if block.index == self.index and block.record is not None:
                d = block.record.detail
                d["peak_allocated_bytes"] = max(d.get("peak_allocated_bytes", 0), now["peak"])
                d["peak_reserved_bytes"] = max(
                    d.get("peak_reserved_bytes", 0), now["peak_reserved"]
                )
        REGISTRY.fold_torch_peak(self.index or 0, now["peak"])
        self.torch.cuda.reset_peak_memory_stats(self.index)

    def _open(self) -> Any:
        assert self.record is not None
        why_not = self._resolve()
        d = self.record.detail
        if why_not is not None:
            d["cuda"] = False
            self.record.note = why_not
            return self
        self.torch.cuda.empty_cache()
        self._fold_peaks()
        before = self._figures()
        if self.record.gpu_before_bytes is None:  # this block initialised CUDA
            self.record.gpu_before_bytes = cuda_allocated()
        d.update(
            cuda=True,
            device=f"cuda:{self.index}",
            allocated_before_bytes=before["allocated"],
            reserved_before_bytes=before["reserved"],
            peak_allocated_bytes=before["allocated"],
            peak_reserved_bytes=before["reserved"],
        )
        gpu_memory._open_blocks.append(self)
        self.record.note = "CUDA cache emptied on entry"
        REGISTRY.changed()
        return self

    def _close(self, exc: BaseException | None, tb: TracebackType | None) -> tuple[bool, str]:
        assert self.record is not None
        if self.torch is None:
            return False, describe_exit(exc)[0]
        d = self.record.detail
        try:
            after = self._figures()
            d["peak_allocated_bytes"] = max(d.get("peak_allocated_bytes", 0), after["peak"])
            d["peak_reserved_bytes"] = max(d.get("peak_reserved_bytes", 0), after["peak_reserved"])
            d.update(
                allocated_after_bytes=after["allocated"], reserved_after_bytes=after["reserved"]
            )
            REGISTRY.fold_torch_peak(self.index or 0, after["peak"])
        finally:
            if self in gpu_memory._open_blocks:
                gpu_memory._open_blocks.remove(self)
            self.torch.cuda.empty_cache()
            d["reserved_after_empty_bytes"] = int(self.torch.cuda.memory_reserved(self.index))
            d["emptied_on_exit"] = True
            self.record.note = "CUDA cache emptied on entry and exit"
        return False, describe_exit(exc)[0]


class experiment_log(ReportingContext):  # noqa: N801
    """A file log for an experiment: yields a ``logging.Logger`` writing to ``path``.

    The file handler is always removed and closed on exit, whatever happened; the last line
    says how the block ended. In a pipebench run the lines also go to the run's log (the
    runner's stderr) unless ``echo=False``.
    """

    kind = "experiment_log"
    FORMAT = "%(asctime)s %(levelname)s %(message)s"

    def __init__(
        self,
        path: str | Path,
        name: str | None = None,
        level: int = logging.INFO,
        echo: bool | None = None,
    ):
        self.path = Path(path)
        super().__init__(f"experiment_log({self.path.name})")
        self.logger = logging.getLogger(name or f"experiment.{self.path.stem}")
        self.level = level
        self.echo = echo
        self.handlers: list[logging.Handler] = []
        self.lines = 0
        self._saved: tuple[int, bool] | None = None

    def _count(self, record: logging.LogRecord) -> bool:
        self.lines += 1
        return True

    def _open(self) -> logging.Logger:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        log = self.logger
        self._saved = (log.level, log.propagate)
        handler = logging.FileHandler(self.path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(self.FORMAT))
        handler.addFilter(self._count)
        self.handlers.append(handler)
        if self.echo or (self.echo is None and REGISTRY.in_run):
            echo = logging.StreamHandler(sys.stderr)
            echo.setFormatter(logging.Formatter(f"{self.path.name}: %(levelname)s %(message)s"))
            self.handlers.append(echo)
        log.setLevel(self.level)
        log.propagate = False
        for h in self.handlers:
            log.addHandler(h)
        log.info("experiment started: logging to %s", self.path)
        return log

    def _close(self, exc: BaseException | None, tb: TracebackType | None) -> tuple[bool, str]:
        outcome = describe_exit(exc)[0]
        log = self.logger
        try:
            if self.handlers:
                log.log(
                    logging.INFO if exc is None else logging.WARNING,
                    "experiment ended: %s",
                    outcome,
                )
        finally:
            for h in self.handlers:
                log.removeHandler(h)
                h.close()
            if self._saved is not None:
                log.setLevel(self._saved[0])
                log.propagate = self._saved[1]
            assert self.record is not None
            removed = not any(h in log.handlers for h in self.handlers)
            self.record.detail.update(
                path=str(self.path), lines=self.lines, handler_removed=removed
            )
            self.record.note = f"{self.lines} lines; handler {'removed' if removed else 'LEFT'}"
        return False, outcome


class sqlite_transaction(ReportingContext):  # noqa: N801
    """One SQLite transaction: yields a ``sqlite3.Connection`` inside ``BEGIN``; commits
    when the block succeeds, rolls back when it raises or the run ends early, and closes the
    connection either way. The outcome is "committed" or "rolled back"."""

    kind = "sqlite_transaction"

    def __init__(self, path: str | Path, timeout: float = 30.0):
        self.path = Path(path)
        super().__init__(f"sqlite_transaction({self.path.name})")
        self.timeout = timeout
        self.conn: Any = None

    def _open(self) -> Any:
        import sqlite3

        self.conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        self.conn.execute("BEGIN")
        return self.conn

    def _close(self, exc: BaseException | None, tb: TracebackType | None) -> tuple[bool, str]:
        conn, outcome = self.conn, "rolled back"
        if conn is None:
            return False, "not connected"
        try:
            if exc is None:
                try:
                    if conn.in_transaction:
                        conn.execute("COMMIT")
                    outcome = "committed"
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            elif conn.in_transaction:
                conn.execute("ROLLBACK")
        finally:
            changes = conn.total_changes
            conn.close()  # closing with a transaction still open rolls it back
            assert self.record is not None
            self.record.detail.update(path=str(self.path), changes=changes)
            self.record.note = f"{changes} row changes {outcome}"
        return False, outcome


def records() -> list[dict[str, Any]]:
    """The contexts this process recorded (open ones and the last closed ones), as dicts."""
    return [r.as_dict() for r in REGISTRY.records()]
