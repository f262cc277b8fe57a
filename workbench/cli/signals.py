"""The signals a terminal sends a headless command, and holding them while a run starts.

``follow`` (``cli.follow``) turns Ctrl-C, SIGTERM and SIGHUP into stopping the job. ``pipebench
run`` starts its run before it imports ``follow`` (and Rich): ``HeldSignals``, set before
the run starts, keeps what arrives until ``follow`` takes over and acts on it, so a Ctrl-C in
those milliseconds stops the run properly, with its report, instead of ending pipebench.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Any

#: The signals that stop a job, and the stop reason each gives.
SIGNALS = {signal.SIGINT: "user", signal.SIGTERM: "sigterm", signal.SIGHUP: "sighup"}
#: Exit codes of a command ended by a signal (128 + the signal's number).
SIGNAL_EXIT = {"user": 130, "sigint": 130, "sigterm": 143, "sighup": 129}


class HeldSignals:
    """From its making (in the main thread) until ``follow`` takes over: the stop signals
    that arrived, in order, and the handlers they had before (restored after ``follow``)."""

    def __init__(self) -> None:
        self.pending: list[int] = []
        self.previous: dict[signal.Signals, Any] = {}
        for sig in SIGNALS:
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                self.previous[sig] = signal.signal(sig, self._hold)

    def _hold(self, signum: int, frame: Any) -> None:
        self.pending.append(signum)

    def release(self) -> None:
        """Give the signals back their handlers (the run did not start: nothing to stop)."""
        for sig, old in self.previous.items():
            signal.signal(sig, old)
