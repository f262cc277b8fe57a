"""The run's header: pipeline and parameters, state, elapsed time and items/s."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from workbench.engine.session import RunState, throughput, window_of
from workbench.text import printable
from workbench.units import format_bytes, format_rate, format_seconds
from workbench.views.run import progress_text

#: A symbol and a word for every state, so that it reads without colour.
STATUS_TEXT = {
    "starting": ("◌", "starting"),
    "running": ("●", "running"),
    "finished": ("✓", "finished"),
    "stopped": ("■", "stopped"),
    "failed": ("✗", "FAILED"),
    "crashed": ("✗", "CRASHED"),
    "budget_exceeded": ("▲", "OVER MEMORY BUDGET"),
}


def status_label(status: str) -> str:
    symbol, word = STATUS_TEXT.get(status, ("?", status))
    return f"{symbol} {word}"


def params_text(params: dict[str, object] | None) -> str:
    return " ".join(f"{k}={v}" for k, v in (params or {}).items())


def rate_text(state: RunState, dim: object = "dim") -> Text:
    """Items per second as the header shows them: while the run goes, the live rate over
    its window (said how long) and the largest so far; once it has ended, the average."""
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
    out.append(
        f" over {format_seconds(span)}/{batches} batches · max {format_rate(state.rate_max)}",
        dim,  # type: ignore[arg-type]
    )
    return out


class RunHeader(Widget):
    """What runs, how it is going, and how fast."""

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
    """The run shown; None before the first run."""

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

    def _style(self, name: str) -> object:
        return self.get_component_rich_style(f"run-header--{name}")

    def render(self) -> RenderableType:
        state = self.state
        if state is None:
            return Text("pipebench: no run yet", style=self._style("dim"))  # type: ignore[arg-type]
        hello = state.hello
        text = Text(no_wrap=False)
        name = hello.pipeline if hello else state.target.rpartition(":")[2]
        text.append(printable(name), self._style("title"))  # type: ignore[arg-type]
        params = hello.params if hello else state.options.get("params")
        if params:
            text.append(f"  {printable(params_text(params))}")
        budget = state.options.get("memory_budget_bytes")
        if budget:
            text.append(f"  budget {format_bytes(budget)}", self._style("dim"))  # type: ignore[arg-type]
        text.append("\n")
        kind = (
            "active"
            if state.status in ("starting", "running")
            else "ok"
            if state.status in ("finished", "stopped")
            else "bad"
        )
        status = Text(no_wrap=True, overflow="ellipsis")
        status.append(status_label(state.status), self._style(kind))  # type: ignore[arg-type]
        if state.snapshot is not None:
            status.append(f"  {format_seconds(state.elapsed_s)}")
            status.append_text(rate_text(state, self._style("dim")))
        if state.snapshot is None and state.progress is not None and not state.ended:
            status.append("  ")
            status.append_text(progress_text(state.progress))
        status.truncate(max(self.size.width - 2, 10), overflow="ellipsis")
        text.append_text(status)
        stalled = state.stalled_s
        if stalled is not None:  # a line of its own: the rate must not push it out of sight
            where = state.running_stage
            text.append(
                f"\nno update for {format_seconds(stalled)}: the pipeline is inside one long call"
                + (f" in stage {printable(where)}" if where else ""),
                self._style("bad"),  # type: ignore[arg-type]
            )
        if state.message and state.status not in ("starting", "running"):
            text.append(
                f"\n{printable(state.message)}",
                self._style("bad" if kind == "bad" else "dim"),  # type: ignore[arg-type]
            )
        return text
