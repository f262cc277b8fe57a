"""Runs marked in the real app's runs table and compared: N runs side by side, the first
marked the base, with the warnings of a partial run; unmarking moves the later marks up."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from textual.widgets import Static

from tests.functional.conftest import EXAMPLES, async_test, make_app, select, wait_until
from tests.unit.test_compare import MIB, make_report
from workbench.engine import records
from workbench.engine.catalog import ModuleInfo
from workbench.ui.screens.compare import CompareScreen
from workbench.ui.screens.main import MainScreen
from workbench.ui.widgets.runs_table import RunsTable


def plain(renderable: object, width: int = 96) -> str:
    """A Rich renderable as plain text."""
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(renderable)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def saved(i: int, batch: int, **kw: object) -> None:
    rep = make_report(
        f"run{i}",
        1000.0 * i,
        2.0,
        100 * MIB,
        batch=batch,
        pipeline="jsonl_tokens",
        path=str(EXAMPLES / "jsonl_tokens.py"),
        **kw,  # type: ignore[arg-type]
    )
    rep["started_at"] = f"2025-01-0{i}T10:00:00+00:00"
    records.save_run(rep)


@async_test
async def test_mark_three_runs_and_compare_them_against_the_first(
    pipebench_home: Path, example_modules: list[ModuleInfo]
) -> None:
    saved(1, 16)
    saved(2, 32)
    saved(3, 64, items=192, status="stopped", stop_reason="user")  # 3 batches: partial
    app = make_app(EXAMPLES, example_modules)
    async with app.run_test(size=(100, 40)) as pilot:
        await select(pilot, "jsonl_tokens")
        table = app.main.query_one(RunsTable)
        await wait_until(pilot, lambda: table.row_count == 3, what="the runs table")
        table.focus()
        await pilot.press("m", "down", "m", "down", "m")  # newest first: 3 A, 2 B, 1 C
        assert [str(table.get_row_at(i)[0]) for i in range(3)] == ["3 A", "2 B", "1 C"]
        await pilot.press("up", "up", "m")  # unmark A: B and C move up
        assert [str(table.get_row_at(i)[0]) for i in range(3)] == ["3", "2 A", "1 B"]
        await pilot.press("m")  # marked again, now last
        assert [str(table.get_row_at(i)[0]) for i in range(3)] == ["3 C", "2 A", "1 B"]
        await pilot.press("C")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen), what="compare")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert [r["run_id"] for r in screen.runs] == ["run2", "run1", "run3"]
        assert "A = run 2, B = run 1, C = run 3" in str(
            screen.query_one("#compare-box").border_title
        )
        shown = plain(screen.query_one("#compare-text", Static).content)
        header = next(ln for ln in shown.splitlines() if ln.startswith("figure"))
        assert header.split() == ["figure", "A", "B", "C"]
        flat = " ".join(shown.split())
        assert "warning: C is partial: it was stopped by the user after 3 batches" in flat
        assert "self per item" in shown and "private per item" in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
