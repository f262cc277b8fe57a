"""What the run view shows for the tree's selection, as functions of the app they act on
(as ``workbench.ui.tools``): the selected pipeline's run going or latest in this session,
else what the item is; and, in the header, a run going for another item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.ui.widgets.catalog_tree import CatalogItem
from workbench.ui.widgets.selection_info import module_error
from workbench.views.catalog import import_fix

if TYPE_CHECKING:
    from workbench.ui.app import PipebenchApp


def follow(app: PipebenchApp) -> None:
    """Show in the run view what the tree has selected: the selected pipeline's run going or
    latest in this session (``app.latest``), else what the item is (a pipeline not run yet,
    a kernel set, a module, an import error in full with its fix)."""
    item = app.selected
    info = item.pipeline if item is not None else None
    active = app.active
    mine = (
        active if active is not None and info is not None and active.target == info.target else None
    )
    update = app.latest.get(info.target) if info is not None else None
    if mine is not None:
        app.shown_run_id = mine.run_id
        if update is not None and update.run_id != mine.run_id:
            update = None  # its first update is still to come
    if update is not None:
        app.shown_run_id = update.run_id
        app.last_update = update
        app.main.reset_panels()
        app.main.show_update(update)
    else:
        if mine is None:
            app.shown_run_id = None
        app.last_update = None
        app.main.show_subject(item, app.settings.get(info.target) if info else None)
    say_elsewhere(app)


def say_elsewhere(app: PipebenchApp) -> None:
    """The header says when the run going is of another item than the one shown ("● running:
    numpy_batches (s stops it)"), and which run starts next."""
    active = app.active
    text = None
    if active is not None and active.run_id != app.shown_run_id:
        stopping = active.bridge.follower.stopping
        text = f"{'■ stopping' if stopping else '● running'}: {active.pipeline}"
        if not stopping:
            text += " (s stops it)"
        queued = app.queued
        if queued is not None:
            text += f"; {queued.name} starts next"
    app.main.show_elsewhere(text)


def not_a_pipeline(app: PipebenchApp, item: CatalogItem) -> None:
    """``r`` (or another run key) on a module: why it cannot run, in one notice."""
    if item.reason:
        error = module_error(item)
        app.notify(
            f"{item.name} failed to import, so none of its pipelines can run: {error}\n"
            f"fix: {import_fix(error)}",
            title=f"{item.name} cannot run",
            severity="error",
        )
    else:
        app.notify(
            f"{item.name} is a module: select one of its pipelines (↓), then r",
            severity="warning",
        )
