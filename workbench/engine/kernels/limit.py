"""A time limit on an implementation's first call, that holds even in code that keeps the GIL.

Two layers, because the first call can be anything:

- *soft*, at the limit: ``SIGALRM`` raises ``FirstCallTimeout`` in the call. It ends pure
  Python (the common case: a pure Python kernel at a size it was never meant for), a
  Numba compilation and anything waiting in a system call, and the kernels run goes on
  in the same process.
- *hard*, a grace period later: ``faulthandler``'s watchdog, a C thread that needs no
  GIL, ends the runner (``_exit(1)``) when the call is still running: compiled code that
  holds the GIL (Numba's ``nopython`` loops, a long C routine) never returns to the
  interpreter, so no Python-level signal handler can run. Before arming it, the row being
  run is written to the watchdog file; the parent (``runner.KernelsJob``) reads it, reports
  that row as skipped and starts a fresh runner for the rest.

A forked helper for the first call was the other way; it was not taken: forking a
process whose OpenMP, TBB or BLAS pools have threads can deadlock the fork, and the
compilation and result would then live in the wrong process.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

#: First line of a watchdog file's traceback once the hard limit fired (faulthandler's).
TIMEOUT_MARK = "Timeout ("


class FirstCallTimeout(BaseException):  # noqa: N818 - reads as what happened
    """The first call passed its limit. A ``BaseException``, so that user code catching
    ``Exception`` around its work cannot swallow it."""


def grace_s(limit_s: float) -> float:
    """How long after the soft limit the hard one ends the process."""
    return max(1.0, 0.2 * limit_s)


def _raise_timeout(signum: int, frame: Any) -> None:
    raise FirstCallTimeout


@contextlib.contextmanager
def first_call_limit(
    limit_s: float | None, watchdog: str | None = None, row: dict[str, Any] | None = None
) -> Iterator[None]:
    """Run the block under the soft limit (main thread only) and, with ``watchdog`` (a
    file path), the hard one. ``row`` is written to the watchdog file as one JSON line
    before arming it. Raises ``FirstCallTimeout`` when the soft limit fires."""
    if not limit_s or limit_s <= 0:
        yield
        return
    soft = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    previous: Any = None
    f = None
    try:
        if watchdog:
            f = open(watchdog, "w", encoding="utf-8")  # noqa: SIM115 - held while armed
            f.write(json.dumps({**(row or {}), "limit_s": limit_s}) + "\n")
            f.flush()
            faulthandler.dump_traceback_later(limit_s + grace_s(limit_s), exit=True, file=f)
        if soft:
            previous = signal.signal(signal.SIGALRM, _raise_timeout)
            signal.setitimer(signal.ITIMER_REAL, limit_s)
        yield
    finally:
        if soft:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous or signal.SIG_DFL)
        if f is not None:
            faulthandler.cancel_dump_traceback_later()
            f.seek(0)
            f.truncate()
            f.close()


def read_watchdog(path: str) -> tuple[dict[str, Any], str] | None:
    """The row whose first call the hard limit ended, and faulthandler's traceback of
    where it was; None when the file says the limit did not fire."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    head, _, rest = text.partition("\n")
    if TIMEOUT_MARK not in rest:
        return None
    try:
        row = json.loads(head)
    except ValueError:
        return None
    return (row, rest) if isinstance(row, dict) else None


def current_path(watchdog: str) -> str:
    """The file that names the row being run, next to the watchdog file."""
    return os.path.join(os.path.dirname(watchdog), "current-row")


@contextlib.contextmanager
def current_row(watchdog: str | None, row: dict[str, Any]) -> Iterator[None]:
    """Name ``row`` in ``current_path(watchdog)`` while the block runs: if the runner dies in
    it (``os._exit``, a segfault in native code, the OOM killer), the parent knows which
    implementation it was running and can go on with a fresh runner for the rest."""
    if not watchdog:
        yield
        return
    path = current_path(watchdog)
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(row))
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)


def read_current(watchdog: str) -> dict[str, Any] | None:
    """The row the runner was running when it died, or None (it died between rows)."""
    try:
        with open(current_path(watchdog), encoding="utf-8") as f:
            row = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return row if isinstance(row, dict) else None
