"""Pilot tests of the real app running the bundled examples in real runner children."""

from __future__ import annotations

from pathlib import Path

from tests.functional.conftest import (
    EXAMPLES,
    async_test,
    make_app,
    notifications,
    run_to_end,
    select,
    set_params,
    wait_until,
)
from workbench.engine.catalog import ModuleInfo
from workbench.engine.records import load_runs
from workbench.ui.widgets.runs_table import RunsTable
from workbench.ui.widgets.stage_table import StageTable


def screen_text(app: object) -> str:
    strips = app.screen._compositor.render_strips()  # type: ignore[attr-defined]
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)


@async_test
async def test_select_and_run_example_until_finished(pipebench_home: Path) -> None:
    app = make_app(EXAMPLES)  # real discovery, in a worker
    async with app.run_test(size=(100, 30)) as pilot:
        await select(pilot, "jsonl_tokens")
        await set_params(pilot, rows="20000")
        assert app.settings[app.selected.pipeline.target].params == {"rows": "20000"}
        status = await run_to_end(pilot)
        assert status == "finished"
        state = app.last_update.state
        assert state.hello is not None and state.hello.params["rows"] == 20000
        assert state.snapshot is not None and state.snapshot.stages[-1].items == 20000
        text = screen_text(app)
        for stage in ("read_jsonl", "tokenize", "to_features", "◀ bottleneck", "✓ finished"):
            assert stage in text
        # The run joined the runs table, from its record on disk.
        records = load_runs(pipeline="jsonl_tokens")
        assert [r["status"] for r in records] == ["finished"]
        assert records[0]["params"] == {"batch_size": 64, "rows": 20000}
        table = app.main.query_one(RunsTable)
        await wait_until(pilot, lambda: table.row_count == 1, what="the runs table")
        assert str(table.get_row_at(0)[1]) == "64"


@async_test
async def test_batch_size_keys_rerun(
    pipebench_home: Path, example_modules: list[ModuleInfo]
) -> None:
    app = make_app(EXAMPLES, example_modules)
    async with app.run_test(size=(100, 30)) as pilot:
        await select(pilot, "jsonl_tokens")
        await set_params(pilot, rows="2000")
        assert await run_to_end(pilot) == "finished"
        assert await run_to_end(pilot, "plus") == "finished"
        assert app.last_update.state.hello.params["batch_size"] == 128
        assert await run_to_end(pilot, "minus") == "finished"
        assert await run_to_end(pilot, "minus") == "finished"
        assert app.last_update.state.hello.params["batch_size"] == 32
        # b: a bad value is refused with a one-line notification, the dialog stays.
        await pilot.press("b")
        await wait_until(pilot, lambda: app.screen.query("#batch-size"))
        app.screen.query_one("#batch-size").value = "lots"
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("not a batch size" in n for n in notifications(pilot)))
        assert app.screen.query("#batch-size")
        app.screen.query_one("#batch-size").value = "16"
        assert await run_to_end(pilot, "enter") == "finished"
        assert app.last_update.state.hello.params["batch_size"] == 16
        sizes = [r["params"]["batch_size"] for r in load_runs(pipeline="jsonl_tokens")]
        assert sizes == [64, 128, 64, 32, 16]
        table = app.main.query_one(RunsTable)
        await wait_until(pilot, lambda: table.row_count == 5, what="5 runs in the table")


@async_test
async def test_runs_table_survives_restart(
    pipebench_home: Path, example_modules: list[ModuleInfo]
) -> None:
    async with make_app(EXAMPLES, example_modules).run_test(size=(100, 30)) as pilot:
        await select(pilot, "jsonl_tokens")
        await set_params(pilot, rows="2000", batch_size="100")
        assert await run_to_end(pilot) == "finished"
    app = make_app(EXAMPLES, example_modules)  # a new session: nothing in memory
    async with app.run_test(size=(100, 30)) as pilot:
        await select(pilot, "jsonl_tokens")
        table = app.main.query_one(RunsTable)
        await wait_until(pilot, lambda: table.row_count == 1, what="the recorded run")
        assert str(table.get_row_at(0)[1]) == "100"


@async_test
async def test_bad_parameter_value_is_refused(
    pipebench_home: Path, example_modules: list[ModuleInfo]
) -> None:
    app = make_app(EXAMPLES, example_modules)
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "jsonl_tokens")
        await set_params(pilot, rows="many")
        assert any(
            "parameter rows of jsonl_tokens takes int, not 'many'" in n
            for n in notifications(pilot)
        )
        assert app.screen.query("#memory-budget")  # still open, to be corrected
        app.screen.query_one("#param-rows").value = "2000"
        app.screen.query_one("#memory-budget").value = "lots"
        await pilot.press("enter")
        assert any("not a size" in n for n in notifications(pilot))
        await pilot.press("escape")
        assert app.screen is app.main
        assert app.settings == {}
        assert app.main.query_one(StageTable).state is None


@async_test
async def test_kernel_sets_open_the_kernels_view(
    pipebench_home: Path, example_modules: list[ModuleInfo]
) -> None:
    """r on a kernel set times it in the kernels view (not as a pipeline run); Esc closes
    the view and stops its run."""
    from workbench.ui.screens.kernels import KernelsScreen

    kernel_sets = [k.name for m in example_modules for k in getattr(m, "kernels", ())]
    if not kernel_sets:
        return  # the examples declare none (yet): nothing to list
    app = make_app(EXAMPLES, example_modules)
    async with app.run_test(size=(100, 30)) as pilot:
        await select(pilot, kernel_sets[0])
        assert app.selected is not None and app.selected.kind == "kernels"
        await pilot.press("r")
        await wait_until(
            pilot, lambda: isinstance(app.screen, KernelsScreen), what="the kernels view"
        )
        screen = app.screen
        assert isinstance(screen, KernelsScreen) and app.active is None
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main, what="the main screen")
        follower = screen.follower
        assert follower is not None and follower.stop_reason == "user"
        await wait_until(
            pilot,
            lambda: follower.source is None or not follower.source.running,
            timeout=10,
            what="the kernels run to stop",
        )


@async_test
async def test_help_and_command_palette(
    pipebench_home: Path, example_modules: list[ModuleInfo]
) -> None:
    from textual.command import CommandPalette

    from workbench.ui.screens.help import HelpScreen

    app = make_app(EXAMPLES, example_modules)
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "jsonl_tokens")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("q")  # closes the help, does not quit
        assert app.screen is app.main and app.is_running
        titles = [c.title for c in app.get_system_commands(app.main)]
        for title in ("Run", "Stop", "Double batch size", "Halve batch size", "Parameters…"):
            assert title in titles
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main)
