"""The kernels view: one kernel set timed live, its table and a log-log plot of time.

The screen follows a ``KernelsJob`` (the job ``pipebench kernels`` runs) with the one run
follower (``engine.follow.Follower``) in a thread worker, as the bridge follows a pipeline
run: the follower folds the events and calls back at most every ``follow.INTERVAL_S``; each
call posts ``Updated`` (a pending one is replaced by a newer one), the last ``Ended``.
Rows and the plot come from the same ``kernel_rows`` and ``kernel_series`` the headless
``pipebench kernels`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Static

from workbench.engine.follow import Follower, Starter, Update
from workbench.engine.kernels.runner import KernelOptions, KernelsJob
from workbench.engine.kernels.session import KernelRow, KernelState, kernel_rows, kernel_series
from workbench.engine.runner import start_run
from workbench.text import printable
from workbench.ui.widgets.run_header import STATUS_TEXT
from workbench.units import format_count
from workbench.views.kernels import MARK_STYLE, figure_cells, header, speed_columns
from workbench.views.loglog import loglog
from workbench.views.text import user_text

#: Measurement columns, the telling ones first (``render_kernels`` names and formats them).
TIMING = ("median", "IQR", "min", "n", "compile")


class KernelPlot(Widget):
    """Median time per call against size, log-log, one symbol per implementation."""

    DEFAULT_CSS = "KernelPlot { height: auto; }"

    series: reactive[dict[str, list[tuple[int, float]]]] = reactive(dict, layout=True)
    """implementation -> [(size, median seconds)], trusted rows only."""

    def render(self) -> Any:
        rows = max(6, min(16, self.app.size.height // 3))
        return loglog(self.series, width=max(24, self.size.width - 1), height=rows)


def columns_for(plan: dict[str, Any] | None) -> list[str]:
    """The measurement columns of a kernel: timings, speedups, rates."""
    speed = speed_columns(plan or {})
    return [TIMING[0], *speed[1:3], *TIMING[1:], speed[0], *speed[3:]]


def row_cells(
    row: KernelRow, plan: dict[str, Any], cols: list[str], note: int | None
) -> list[Text]:
    """One row of the table: size, impl, ✓/✗/?, the measurement columns, the note."""
    impl = row.impl + (" (ref)" if row.reference else "")
    style = "dim" if row.status == "skipped" else ""
    cells = [
        Text(f"{row.size:,}", justify="right", style=style),
        user_text(impl, style=style),
        Text(row.mark, style=MARK_STYLE.get(row.mark, "")),
    ]
    cells += [Text(c, justify="right", style=style) for c in figure_cells(row, plan, cols)]
    cells.append(Text(f"[{note}]" if note else ""))
    return cells


class KernelsScreen(Screen[None]):
    """One kernel set, every implementation at every size, filling in live."""

    CSS_PATH = "../styles/tools.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "stop", "Stop"),
        Binding("r", "rerun", "Run again"),
        Binding("escape,q", "close", "Close"),
    ]

    @dataclass
    class Updated(Message):
        """The run so far; a pending update is replaced by a newer one."""

        state: KernelState

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, KernelsScreen.Updated)

    @dataclass
    class Ended(Message):
        """Every process of the run is gone; ``state`` is final. ``error``: following the
        run failed (a pipebench bug), what it raised."""

        state: KernelState
        error: str | None = None

    def __init__(
        self,
        target: str,
        options: KernelOptions,
        *,
        title: str | None = None,
        starter: Starter = start_run,
    ) -> None:
        super().__init__()
        self.target = target
        self.options = options
        self.kernel = options.kernel
        self.state = KernelState(target, rounds=options.processes)
        self.follower: Follower[KernelState] | None = None
        self.ended = False
        self._title = title or target
        self._starter = starter
        self._columns: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(
            Text.assemble("kernels ", user_text(self._title), ": starting…"), id="kernels-head"
        )
        with VerticalScroll(id="kernels-body"):
            yield KernelPlot(id="kernels-plot")
            yield DataTable(id="kernels-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="kernels-notes")
            yield Static("", id="kernels-machine")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#kernels-table").border_title = "implementations by size"
        self.query_one("#kernels-machine").border_title = "where and how it was timed"
        self.query_one("#kernels-table").focus()
        self.start()

    # ---- the run ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.follower is not None and not self.ended

    def start(self) -> None:
        """Start the kernels job and follow it in a thread worker."""
        self.ended = False
        self.follower = Follower(
            KernelsJob(self.target, self.options),
            starter=self._starter,
            on_update=self._updated,
        )
        self.show(self.follower.state)
        self.follow(self.follower)

    def _updated(self, update: Update[KernelState]) -> None:
        """The follower's callback (in the worker's thread): post the state."""
        if update.ended:
            self.post_message(self.Ended(update.state))
        else:
            self.post_message(self.Updated(update.state))

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="kernels",
        description="following the kernels run",
    )
    def follow(self, follower: Follower[KernelState]) -> None:
        """Run the follower to the job's end (its last update posts ``Ended``)."""
        try:
            follower.run()
        except Exception as exc:  # a bug here must not leave the screen waiting forever
            self.post_message(self.Ended(follower.state, f"{type(exc).__name__}: {exc}"))

    def on_kernels_screen_updated(self, msg: Updated) -> None:
        msg.stop()
        if not self.ended:
            self.show(msg.state)

    def on_kernels_screen_ended(self, msg: Ended) -> None:
        msg.stop()
        self.ended = True
        self.show(msg.state)
        status = msg.state.status
        word = STATUS_TEXT.get(status, ("?", status))[1]
        why = msg.error or msg.state.message
        self.notify(
            printable(f"kernels {self._title} {word}" + (f": {why}" if why else "")),
            severity="error" if msg.error else "information" if status == "finished" else "warning",
            markup=False,
        )

    # ---- drawing ------------------------------------------------------------------------
    def _plan(self, state: KernelState) -> dict[str, Any]:
        return next(
            (p for p in state.plans if p["name"] == self.kernel),
            state.plans[0] if state.plans else {},
        )

    def show(self, state: KernelState) -> None:
        """Draw ``state``: the header, the table, the plot and the notes."""
        self.state = state
        plan = self._plan(state)
        kernel = plan.get("name") or self.kernel
        rows = kernel_rows(state, kernel)
        symbol, word = STATUS_TEXT.get(state.status, ("●", state.status))
        head = Text.assemble(
            (f"{symbol} {word}", "bold"),
            " · kernels ",
            user_text(self._title),
            f" · {len(rows)} result(s)",
        )
        if plan.get("doc"):
            head.append("\n").append_text(user_text(plan["doc"], "italic"))
        env = state.environments[0] if state.environments else None
        if env is not None:
            blas = ", ".join(str(lib.get("threads")) for lib in env.threads.get("blas") or [])
            head.append(
                f"\n{env.cpus} CPU(s) · threads {env.threads.get('requested')}"
                + (f" (BLAS {blas})" if blas else "")
                + (
                    f" · GEMM {format_count(state.gemm_gflops)} GFLOP/s"
                    if state.gemm_gflops
                    else ""
                )
                + " · more at the bottom",
                style="dim",
            )
        if state.message:
            head.append("\n").append_text(user_text(state.message, "italic"))
        self.query_one("#kernels-head", Static).update(head)
        self.query_one("#kernels-machine", Static).update(header(state))
        self.query_one(KernelPlot).series = kernel_series(state, kernel) if kernel else {}
        self._fill_table(plan, rows)

    def _fill_table(self, plan: dict[str, Any], rows: list[KernelRow]) -> None:
        table: DataTable[Text] = self.query_one("#kernels-table", DataTable)
        cols = columns_for(plan)
        if cols != self._columns:
            table.clear(columns=True)
            for name in ["size", "impl", "ok", *cols, "note"]:
                table.add_column(name, key=name)
            self._columns = cols
        else:
            table.clear()
        notes: list[Text] = []
        for row in rows:
            note = None
            if row.notes:
                notes.append(
                    user_text(
                        f"[{len(notes) + 1}] {row.impl} at {row.size:,}: " + "; ".join(row.notes)
                    )
                )
                note = len(notes)
            table.add_row(*row_cells(row, plan, cols, note), key=f"{row.size}:{row.impl}")
        for label, why in plan.get("unavailable", {}).items():
            notes.append(user_text(f"{label}: not run, {why}", style="dim"))
        notes.append(
            Text(
                "✓ agrees with the reference · ✗ wrong or failed · ? not checked · "
                "median, IQR, min: seconds per call · ×: times faster than that "
                "implementation · compile: Numba's first-call compile · thr: the threads its "
                "pools were pinned to (parallel ones at --parallel-threads)",
                style="dim",
            )
        )
        self.query_one("#kernels-notes", Static).update(Text("\n").join(notes))

    # ---- actions ------------------------------------------------------------------------
    def action_stop(self) -> None:
        if not self.running:
            self.notify("the kernels run is over", severity="warning")
            return
        assert self.follower is not None
        what = self.follower.request_stop("user")
        self.notify(
            "stopping the kernels run (the rows so far are kept; s again kills it)"
            if what == "stop"
            else "killing the kernels run"
        )

    def action_rerun(self) -> None:
        if self.running:
            self.notify("the kernels run is still going (s stops it)", severity="warning")
            return
        self.start()

    def action_close(self) -> None:
        self.dismiss(None)

    def on_unmount(self) -> None:
        if self.running:
            assert self.follower is not None
            self.follower.request_stop("user")  # killed after its grace if it does not end
