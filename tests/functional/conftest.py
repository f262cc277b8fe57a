"""Helpers for driving the real app with Pilot: real runner children, real records."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from workbench.engine.catalog import ModuleInfo, discover
from workbench.ui.app import PipebenchApp
from workbench.ui.widgets.catalog_tree import CatalogTree

EXAMPLES = Path(__file__).resolve().parents[2] / "pipelines"


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test function in its own event loop (no asyncio plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


@pytest.fixture(scope="session")
def example_modules(tmp_path_factory: pytest.TempPathFactory) -> list[ModuleInfo]:
    """The examples as discovered once (discovery imports them in a child process, and
    importing one may create its data folder: under a PIPEBENCH_HOME of its own, since
    this runs before the per-test one is set)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIPEBENCH_HOME", str(tmp_path_factory.mktemp("discover-home")))
        return discover(EXAMPLES)


def make_app(root: Path, modules: list[ModuleInfo] | None = None) -> PipebenchApp:
    """The real app; runs start real runner children. ``modules`` skips discovery."""
    return PipebenchApp(root, modules=modules, interval=0.05)


async def wait_until(
    pilot: Pilot[Any], check: Callable[[], object], timeout: float = 20.0, what: str = "the app"
) -> None:
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def app_of(pilot: Pilot[Any]) -> PipebenchApp:
    app = pilot.app
    assert isinstance(app, PipebenchApp)
    return app


async def select(pilot: Pilot[Any], name: str) -> None:
    """Put the tree's cursor on the pipeline called ``name``."""
    app = app_of(pilot)
    await wait_until(pilot, lambda: app.selected is not None, what="the catalog")
    tree = app.main.query_one(CatalogTree)
    for line in range(tree.last_line + 1):
        node = tree.get_node_at_line(line)
        if node is not None and node.data is not None and node.data.name == name:
            tree.cursor_line = line
            break
    else:
        raise AssertionError(f"no {name} in the tree")
    await wait_until(
        pilot,
        lambda: app.selected is not None and app.selected.name == name,
        what=f"{name} to be selected",
    )


async def set_params(pilot: Pilot[Any], budget: str | None = None, **values: str) -> None:
    """Type parameter values (and a memory budget) in the p dialog and save them."""
    app = app_of(pilot)
    await pilot.press("p")
    await wait_until(pilot, lambda: app.screen.query("#memory-budget"), what="the dialog")
    for name, value in values.items():
        app.screen.query_one(f"#param-{name}", Input).value = value
    if budget is not None:
        app.screen.query_one("#memory-budget", Input).value = budget
    app.screen.query_one("#memory-budget", Input).focus()
    await pilot.press("enter")
    await pilot.pause()


async def run_to_end(pilot: Pilot[Any], key: str | None = "r", timeout: float = 30.0) -> str:
    """Press ``key`` (None: it was pressed already) and wait for the run it starts to end;
    returns its final status."""
    app = app_of(pilot)
    before = app.shown_run_id
    if key is not None:
        await pilot.press(key)
    await wait_until(pilot, lambda: app.shown_run_id != before, what="the run to start")
    await wait_until(
        pilot,
        lambda: (
            app.active is None
            and app.last_update is not None
            and app.last_update.run_id == app.shown_run_id
            and app.last_update.ended
        ),
        timeout=timeout,
        what="the run to end",
    )
    assert app.last_update is not None
    return app.last_update.state.status


def notifications(pilot: Pilot[Any]) -> list[str]:
    return [n.message for n in app_of(pilot)._notifications]
