"""The run's header: pipeline and parameters, state, elapsed time and items/s; or, when the
item selected in the tree has no run to show, what it is and what can be done with it."""

from __future__ import annotations

from pathlib import Path

from rich.console import RenderableType
from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from workbench.engine.loader import parse_target
from workbench.engine.session import RunState, throughput, window_of
from workbench.units import format_bytes, format_rate, format_seconds
from workbench.views.run import progress_text
from workbench.views.text import user_text

#: A symbol and a word for every state, so that it reads without colour.
STATUS_TEXT = {
    "starting": ("◌", "starting"),
    "running": ("●", "running"),
    "finished": ("✓", "finished"),
    "stopped": ("■", "stopped"),
    "cancelled": ("■", "cancelled"),
    "failed": ("✗", "FAILED"),
    "crashed": ("✗", "CRASHED"),
    "budget_exceeded": ("▲", "OVER MEMORY BUDGET"),
}
#: The status a run is shown with: a stop before the first batch is a cancel.
CANCELLED = "cancelled"


def shown_status(state: RunState) -> str:
    """``state.status``, or "cancelled" for a run stopped before its first batch."""
    return CANCELLED if state.cancelled else state.status


def status_label(status: str) -> str:
    symbol, word = STATUS_TEXT.get(status, ("?", status))
    return f"{symbol} {word}"


def cancel_phase(state: RunState) -> str:
    """When a cancelled run was stopped, from the run's own message: "while the module
    loaded", "while the pipeline's factory ran", else "before its first batch"."""
    message = state.message or ""
    if "while the module loaded" in message:
        return "while the module loaded"
    if "factory ran" in message:
        return "while the pipeline's factory ran"
    return "before its first batch"


#: The most characters of a name the header shows (a name of thousands took the screen).
HEADER_LIMIT = 120


def module_label(target: str) -> str:
    """The module a target names, as the tree shows it: a file's name, or a dotted name."""
    at = target.find(".py:")
    if at >= 0:  # a path: the name after it may hold anything, a ':' included
        return Path(target[: at + 3]).name
    return parse_target(target).module


def params_text(params: dict[str, object] | None) -> str:
    return " ".join(f"{k}={v}" for k, v in (params or {}).items())


def rate_text(state: RunState, dim: Style | str = "dim", *, short: bool = False) -> Text:
    """Items per second as the header shows them: while the run goes, the live rate over
    its window (said how long, unless ``short``) and the largest so far; once it has ended,
    the average."""
    out = Text()
    if state.ended:
        out.append(f"  {format_rate(throughput(state))} items/s (average)")
        return out
    window = window_of(state)
    if state.rate is None or window is None:
        out.append(f"  {format_rate(throughput(state))} items/s (average so far)")
        return out
    span, batches = window
    out.append(f"  {format_rate(state.rate)} items/s")
    over = "" if short else f" over {format_seconds(span)}/{batches} batches"
    out.append(f"{over} · max {format_rate(state.rate_max)}", dim)
    return out


class RunHeader(Widget):
    """What runs, how it is going, and how fast; or what the tree's selection is."""

    DEFAULT_CSS = """
    RunHeader { height: auto; }
    RunHeader > .run-header--title { text-style: bold; }
    RunHeader > .run-header--dim { color: $text-muted; }
    RunHeader > .run-header--ok { color: $success; text-style: bold; }
    RunHeader > .run-header--active { color: $accent; text-style: bold; }
    RunHeader > .run-header--bad { color: $error; text-style: bold; }
    """
    COMPONENT_CLASSES = {
        "run-header--title",
        "run-header--dim",
        "run-header--ok",
        "run-header--active",
        "run-header--bad",
    }

    state: reactive[RunState | None] = reactive(None, repaint=False)
    """The run shown; None when the selection has no run to show."""
    subject: reactive[Text | None] = reactive(None, layout=True)
    """What the selection is, shown while ``state`` is None (None: nothing selected)."""
    elsewhere: reactive[str | None] = reactive(None, layout=True)
    """A run going for another item than the one shown ("● running numpy_batches"), or None."""

    _shape: tuple[object, ...] = ()

    def watch_state(self, state: RunState | None) -> None:
        # The status line does not wrap, so only the title, the message and a stall change height.
        shape = (
            (None,)
            if state is None
            else (state.hello is not None, state.status, state.message, state.stalled_s is None)
        )
        self.refresh(layout=shape != self._shape)
        self._shape = shape

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"run-header--{name}")

    def render(self) -> RenderableType:
        state = self.state
        if state is None:
            text = self.subject.copy() if self.subject is not None else None
            if text is None:
                text = Text("pipebench: no run yet", style=self._style("dim"))
            if self.elsewhere:
                text.append(f"\n{self.elsewhere}", self._style("active"))
            return text
        hello = state.hello
        text = Text(no_wrap=False)
        name = hello.pipeline if hello else state.target.rpartition(":")[2]
        text.append_text(user_text(name, self._style("title"), limit=HEADER_LIMIT))
        module = module_label(state.target)
        if module and module.removesuffix(".py") != name:  # which of the modules' "p"
            text.append_text(user_text(f"  {module}", self._style("dim"), limit=HEADER_LIMIT))
        params = hello.params if hello else state.options.get("params")
        if params:
            text.append_text(user_text(f"  {params_text(params)}"))
        budget = state.options.get("memory_budget_bytes")
        if budget:
            text.append(f"  budget {format_bytes(budget)}", self._style("dim"))
        text.append("\n")
        status_name = shown_status(state)
        kind = (
            "active"
            if status_name in ("starting", "running")
            else "ok"
            if status_name in ("finished", "stopped", CANCELLED)
            else "bad"
        )
        status = Text(no_wrap=True, overflow="ellipsis")
        status.append(status_label(status_name), self._style(kind))
        if state.cancelled:
            status.append(f" {cancel_phase(state)}: not a result")
        elif state.snapshot is not None:
            status.append(f"  {format_seconds(state.elapsed_s)}")
            rate = rate_text(state, self._style("dim"))
            if status.cell_len + rate.cell_len > self.size.width - 2:
                rate = rate_text(state, self._style("dim"), short=True)  # the panel says over what
            status.append_text(rate)
        if state.snapshot is None and state.progress is not None and not state.ended:
            status.append("  ")
            status.append_text(progress_text(state.progress))
        status.truncate(max(self.size.width - 2, 10), overflow="ellipsis")
        text.append_text(status)
        stalled = state.stalled_s
        if stalled is not None:  # a line of its own: the rate must not push it out of sight
            where = state.running_stage
            text.append(
                f"\nno update for {format_seconds(stalled)}: the pipeline is inside one long call",
                self._style("bad"),
            )
            if where:
                text.append_text(user_text(f" in stage {where}", self._style("bad")))
        if state.message and state.status not in ("starting", "running") and not state.cancelled:
            text.append("\n")
            text.append_text(
                user_text(state.message, self._style("bad" if kind == "bad" else "dim"))
            )
        if self.elsewhere:
            text.append(f"\n{self.elsewhere}", self._style("active"))
        return text
