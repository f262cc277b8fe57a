"""The runs table of the real app with foreign and damaged files among the run records."""

from __future__ import annotations

from pathlib import Path

from tests.functional.conftest import (
    EXAMPLES,
    async_test,
    make_app,
    notifications,
    select,
    wait_until,
)
from workbench.engine import records
from workbench.engine.catalog import ModuleInfo
from workbench.ui.widgets.runs_table import RunsTable


def record(i: int, batch: int) -> dict:
    return {
        "run_id": f"earlier{i}",
        "pipeline": "jsonl_tokens",
        "path": str(EXAMPLES / "jsonl_tokens.py"),
        "params": {"batch_size": batch},
        "status": "finished",
        "items_per_s": 1000.0 * batch,
        "duration_s": 1.0,
        "memory": {"rss_peak_bytes": 40_000_000},
        "started_at": f"2025-01-0{i}T10:00:00+00:00",
    }


@async_test
async def test_foreign_files_leave_the_runs_table_whole_and_warn_once(
    pipebench_home: Path, example_modules: list[ModuleInfo]
) -> None:
    paths = [records.save_run(record(i, b)) for i, b in ((1, 16), (2, 32), (3, 64))]
    runs = paths[0].parent
    (runs / "list.json").write_text("[]")
    (runs / "[b]null[@click=app.quit].json").write_text("null")
    (runs / "started.json").write_text('{"started_at": 5}')
    paths[1].write_text(paths[1].read_text()[:40])  # truncated
    app = make_app(EXAMPLES, example_modules)
    async with app.run_test(size=(110, 32)) as pilot:
        await select(pilot, "jsonl_tokens")
        table = app.main.query_one(RunsTable)
        await wait_until(pilot, lambda: table.row_count == 2, what="the runs table")
        assert [str(table.get_row_at(i)[1]) for i in range(2)] == ["64", "16"]
        assert "4 unreadable files skipped" in str(table.border_title)
        await wait_until(pilot, lambda: notifications(pilot), what="the warning")
        [warning] = notifications(pilot)
        assert "[b]null[@click=app.quit].json" in warning  # a file name is text, never markup
        assert "run #2" in warning and "more" in warning
        # Moving the cursor away and back reads the records again, without a second toast.
        await select(pilot, "jsonl_tokens_load_all")
        await select(pilot, "jsonl_tokens")
        await pilot.pause(0.3)
        assert len(notifications(pilot)) == 1
        assert table.row_count == 2


@async_test
async def test_a_home_others_can_write_to_is_refused_before_a_run(
    pipebench_home: Path, example_modules: list[ModuleInfo]
) -> None:
    pipebench_home.mkdir()
    pipebench_home.chmod(0o777)
    app = make_app(EXAMPLES, example_modules)
    async with app.run_test(size=(110, 32)) as pilot:
        await select(pilot, "jsonl_tokens")
        await pilot.press("r")
        await wait_until(
            pilot,
            lambda: any(
                n.startswith("could not start jsonl_tokens: pipebench refuses the pipebench home")
                for n in notifications(pilot)
            ),
            what="the refusal",
        )
        assert app.active is None and app.shown_run_id is None
        assert list(pipebench_home.iterdir()) == []  # nothing ran, nothing was written
