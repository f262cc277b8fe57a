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

from workbench.cli.signals import SIGNAL_EXIT, SIGNALS, HeldSignals
from workbench.engine.follow import INTERVAL_S, Follower, Job, Starter, Update
from workbench.engine.protocol import Log
from workbench.engine.runner import start_run
from workbench.text import log_line
from workbench.views.text import log_text

S = TypeVar("S")


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
def _signals(
    follower: Follower[Any],
    console: Console,
    what: str,
    held: HeldSignals | None,
    replay: list[Callable[[], None]],
) -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP stop the job (a second Ctrl-C kills it). With ``held``
    (a run started before the follower), the signals stay held until the starter hands the
    follower that run: it then runs what ``replay`` holds, which takes the signals over and
    acts on the held ones, in order (a stop asked of a follower that has not started its
    first run would start none, and leave that run unfollowed)."""

    def handler(signum: int, frame: Any) -> None:
        reason = SIGNALS.get(signal.Signals(signum), "user")
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

    previous: dict[signal.Signals, Any] = {}

    def take_over() -> None:
        for sig in SIGNALS:
            with contextlib.suppress(ValueError, OSError):  # not the main thread: no handlers
                previous[sig] = signal.signal(sig, handler)
        if held is not None:
            previous.update(held.previous)
            for signum in held.pending:
                handler(signum, None)

    if held is None:
        take_over()
    else:
        replay.append(take_over)
    try:
        yield
    finally:
        for sig, old in (previous or (held.previous if held else {})).items():
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
    held: HeldSignals | None = None,
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
        held: the stop signals held since that runner started (``cli.signals``).

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

    replay: list[Callable[[], None]] = []
    first = starter or start_run

    def start(target: str, options: Any) -> Any:
        source = first(target, options)
        while replay:  # signals held since the run started: taken over, and acted on
            replay.pop(0)()
        return source

    follower: Follower[S] = Follower(job, on_update=updated, interval=interval, starter=start)
    with _signals(follower, console, what, held, replay):
        if live is not None:
            live.start()
        try:
            state = follower.run()
        finally:
            if live is not None:
                live.stop()
    return state, follower.stop_reason if follower.stop_reason in SIGNAL_EXIT else None
