"""``workbench.progress``: a pipeline says what long preparation it is doing, and how far.

A factory that makes its data before the first batch (writing a corpus, downloading a
shard) calls ``progress("writing the corpus", done, total, unit="rows")`` as it goes. In a
pipebench run the runner child forwards it (at most a few times a second) to the screen and
the headless live view; anywhere else it does nothing, so a pipeline module stays an ordinary
module. Light on purpose: no engine import, no I/O of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Set by the runner child: called with (what, done, total, unit).
_sink: Callable[[str, float, float | None, str], object] | None = None
_last = 0.0
#: Seconds between two reports that reach the sink (the first and the last always do).
INTERVAL_S = 0.2


def progress(what: str, done: float, total: float | None = None, *, unit: str = "") -> None:
    """Report the progress of a long step before (or between) batches.

    Args:
        what: what is being done, e.g. "writing the corpus".
        done: how much is done so far, in ``unit``.
        total: how much there is in all, or None when unknown.
        unit: the unit of ``done`` and ``total`` ("rows", "MB"), or "" for a plain count.
    """
    global _last
    sink = _sink
    if sink is None:
        return
    now = time.monotonic()
    finished = total is not None and done >= total
    if not finished and now - _last < INTERVAL_S and done != 0:
        return
    _last = now
    sink(str(what), float(done), None if total is None else float(total), str(unit))


def set_sink(sink: Callable[[str, float, float | None, str], object] | None) -> None:
    """Where reports go (the runner child sets this); None: nowhere."""
    global _sink
    _sink = sink
