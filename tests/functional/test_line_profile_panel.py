"""The line profile panel alone, driven by Pilot: source with a timing gutter, the hottest
line marked in text, ``t`` sorts by time, ``f`` asks for (then shows) the function view."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

from tests.functional.conftest import async_test
from workbench.engine.lines.session import Cost, StageCost
from workbench.engine.protocol_tools import CallStat, LineProfile, LineStat, ProfiledFunction

SOURCE = (
    "def hot(items):",
    "    for x in items:",
    "        a = x + 1",
    "        b = sum(i * i for i in range(3000))",
    "        yield a + b",
)
LINES = LineProfile(
    view="lines",
    stages=("hot",),
    functions=(
        ProfiledFunction(
            name="hot",
            module="m",
            path="/x/m.py",
            first_line=10,
            source=SOURCE,
            lines=(
                LineStat(11, 301, 0.002, 0.5),
                LineStat(12, 300, 0.001),
                LineStat(13, 300, 0.9),
                LineStat(14, 300, 0.003),
            ),
            stage="hot",
        ),
    ),
    notes=("a note",),
)
CALLS = LineProfile(
    view="functions",
    stages=("hot",),
    calls=(
        CallStat("hot", "/x/m.py", 10, 301, 301, 0.01, 0.95),
        CallStat("crunch", "/x/m.py", 3, 300, 300, 0.9, 0.9),
    ),
)


class PanelApp(App[None]):
    """A tiny app holding the panel and keeping what it asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.requested: list[tuple[str, ...]] = []

    def compose(self) -> ComposeResult:
        from workbench.ui.widgets.line_profile_panel import LineProfilePanel

        yield LineProfilePanel(id="lp")

    def on_line_profile_panel_function_view_requested(self, event: Any) -> None:
        self.requested.append(event.stages)


def column(table: DataTable[Any], key: str) -> list[str]:
    return [str(c) for c in table.get_column(key)]


@async_test
async def test_lines_panel_gutter_sort_and_function_view() -> None:
    from workbench.ui.widgets.line_profile_panel import LineProfilePanel

    app = PanelApp()
    async with app.run_test(size=(100, 30)) as pilot:
        panel = app.query_one(LineProfilePanel)
        panel.show_profile(LINES)
        panel.show_cost(Cost(1000.0, 250.0, 300, 300, (StageCost("hot", 1e-3, 4e-3),)))
        panel.focus()
        await pilot.pause()
        table = panel.query_one(DataTable)
        # Source order: every source line, the hot one (line 13) marked #1 in text.
        assert column(table, "line") == ["10", "11", "12", "13", "14"]
        hot = column(table, "hot")
        assert hot[3] == "#1" and hot[0] == ""
        assert column(table, "hits")[3] == "300"
        assert column(table, "%")[3].startswith("99.3")
        assert "sum(i * i" in column(table, "source")[3]
        status = str(panel.query_one(".lp-status", Static).render())
        assert "4.00× slower" in status and "a note" in status

        await pilot.press("t")  # hottest first
        assert panel.sort_by_time
        assert column(table, "line")[0] == "13"
        assert column(table, "line") == ["13", "14", "11", "12"]  # lines that ran

        await pilot.press("f")  # no function profile yet: the app is asked for one
        assert app.requested == [("hot",)]
        assert panel.view == "lines"

        panel.show_profile(CALLS)
        await pilot.pause()
        assert panel.view == "functions"
        functions = column(table, "function")
        assert functions[0].startswith("#1 hot")  # sorted by cumulative time (t is on)
        await pilot.press("t")  # by own time: the hot function first
        assert column(table, "function")[0].startswith("#1 crunch")
        await pilot.press("f")  # back to the lines
        assert panel.view == "lines"
        title = panel.query_one(".lp-title", Static).render()
        assert "hot" in str(title if isinstance(title, Text) else title)
