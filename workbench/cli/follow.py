"""Following a job in the foreground, as every headless command does.

``follow()`` runs an ``engine.follow.Follower`` in the main thread with a live view on a
terminal (Rich ``Live``, transient), the pipeline's output echoed above it in bulk (at most
``LINES_PER_UPDATE`` lines an update, then one "N lines not shown" line), and the signals a
terminal sends: Ctrl-C stops the job (a second one kills it), SIGTERM and SIGHUP stop it
too (again and again: they never kill), so a ``timeout 3 pipebench run ...`` or a closed SSH session still ends the run
properly and leaves its report and record.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from workbench.engine.follow import INTERVAL_S, Follower, Job, Starter, Update
from workbench.engine.protocol import Log
from workbench.engine.runner import start_run
from workbench.text import log_line
from workbench.views.text import log_text

S = TypeVar("S")

#: Exit codes of a command ended by a signal (128 + the signal's number).
SIGNAL_EXIT = {"user": 130, "sigint": 130, "sigterm": 143, "sighup": 129}
_SIGNALS = {signal.SIGINT: "user", signal.SIGTERM: "sigterm", signal.SIGHUP: "sighup"}


def echo(console: Console, update: Update[Any]) -> None:
    """Print an update's output lines (and how many were not shown) in one go."""
    notes = [e for e in update.notes if isinstance(e, Log)]
    if not update.lines and not update.skipped and not notes:
        return
    out = Text()
    for note in notes:
        out.append("» ", style="dim")
        out.append_text(log_text(log_line(note.text), "dim"))
        out.append("\n")
    if update.skipped:
        out.append(f"│ … {update.skipped:,} lines not shown\n", style="dim italic")
    for _stream, line in update.lines:
        out.append("│ ", style="dim")
        out.append_text(log_text(line))
        out.append("\n")
    out.rstrip()
    console.print(out, soft_wrap=True, highlight=False, markup=False)


@contextlib.contextmanager
def _signals(follower: Follower[Any], console: Console, what: str) -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP stop the job (a second Ctrl-C kills it)."""

    def handler(signum: int, frame: Any) -> None:
        reason = _SIGNALS.get(signal.Signals(signum), "user")
        if reason != "user" and follower.stopping:
            # Only a second Ctrl-C means "kill it now": SIGTERM and SIGHUP often come twice
            # (coreutils `timeout` signals pipebench, then its whole process group).
            return
        done = follower.request_stop(reason)
        if done == "stop" and reason == "user":
            console.print(
                Text(f"stopping {what} (Ctrl-C again to kill it)…", style="yellow"),
                highlight=False,
            )
        elif done == "stop":
            console.print(Text(f"{reason.upper()}: stopping {what}…", style="yellow"))

    previous = {}
    for sig in _SIGNALS:
        with contextlib.suppress(ValueError, OSError):  # not the main thread: no handlers
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def follow(
    job: Job[S],
    console: Console,
    *,
    view: Callable[[S], RenderableType] | None = None,
    what: str = "the run",
    echo_output: bool = True,
    on_update: Callable[[Update[S]], object] | None = None,
    interval: float = INTERVAL_S,
    starter: Starter | None = None,
) -> tuple[S, str | None]:
    """Follow ``job`` to its end in the foreground.

    Args:
        job: what to run (``engine.follow.RunJob`` or another job).
        console: where the live view and the output go.
        view: the live view of the state, shown on a terminal only.
        what: how messages name the job ("the run", "the sweep").
        echo_output: print the pipeline's output lines.
        on_update: also called with every update (after the view and the echo).
        starter: starts each run (default ``engine.runner.start_run``); ``pipebench run``
            passes the runner it started before importing the rest of pipebench.

    Returns:
        The final state, and the stop reason when a signal or the user stopped the job
        ("user", "sigterm", "sighup"), else None.
    """
    live = Live(console=console, refresh_per_second=4, transient=True) if (
        view is not None and console.is_terminal
    ) else None  # fmt: skip

    def updated(update: Update[S]) -> None:
        if echo_output:
            echo(console, update)
        if live is not None and view is not None:
            live.update(view(update.state))
        if on_update is not None:
            on_update(update)

    follower: Follower[S] = Follower(
        job, on_update=updated, interval=interval, starter=starter or start_run
    )
    with _signals(follower, console, what):
        if live is not None:
            live.start()
        try:
            state = follower.run()
        finally:
            if live is not None:
                live.stop()
    return state, follower.stop_reason if follower.stop_reason in SIGNAL_EXIT else None
