"""What pipebench recorded in a module by itself, and its notes on the chain: the run view's
lines for the sections ``instrumented`` and ``notes`` (see ``engine.autofind``)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from workbench.engine.sections.autofind import ChainNote, InstrumentedSection
from workbench.views.text import user_text


def instrumented_view(data: InstrumentedSection | None) -> Text | None:
    """One line naming what was recorded without code changes (and how to turn it off),
    or saying it was turned off; None when there is nothing to say."""
    if data is None:
        return None
    if not data.enabled:
        return Text(
            "--no-instrument: the module's own context managers and cached_property values "
            "were left as they are (not recorded)",
            style="dim",
        )
    if not data.found:
        return None
    out = Text("recorded without code changes (--no-instrument turns it off): ", style="dim")
    for i, item in enumerate(data.found):
        if i:
            out.append(", ", style="dim")
        out.append_text(user_text(item.name, "dim"))
        kind, detail = item.kind, item.detail
        what = f"{kind}: {detail}" if kind == "decorated with a context manager" else kind
        out.append(" (", style="dim")
        out.append_text(user_text(what, "dim"))
        out.append(")", style="dim")
    return out


def notes_view(data: Sequence[ChainNote] | None) -> Text | None:
    """The notes on the chain, one per line ("note: ..."); None when there are none."""
    if not data:
        return None
    out = Text()
    for i, note in enumerate(data):
        if i:
            out.append("\n")
        out.append("note: ", style="yellow" if note.log else "dim")
        out.append_text(user_text(note.text, "" if note.log else "dim"))
    return out
