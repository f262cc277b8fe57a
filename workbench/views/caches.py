"""The caches table printed under the stage table by ``pipebench run`` (section ``caches``)."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from workbench.engine.sections.cache_entries import CacheRow
from workbench.engine.sections.caches import CachesSection
from workbench.units import format_bytes, format_seconds
from workbench.views.text import user_text

COLUMNS = ("cache", "kind", "hits", "misses", "hit rate", "entries", "bytes", "saved")


def _count(n: int | None) -> str:
    return "–" if n is None else f"{n:,}"


def cells(row: CacheRow) -> tuple[str, ...]:
    """One cache's figures as text, in ``COLUMNS`` order (shared with the TUI panel)."""
    if not row.available:  # the reason goes in a note under the table
        return (row.name, row.kind or "", "–", "–", "n/a", "–", "–", "–")
    rate = row.hit_rate
    entries = row.entries
    entries_text = _count(entries)
    if entries is not None and row.maxsize:
        entries_text += f"/{row.maxsize:,}"
    nbytes = row.bytes
    bytes_text = "–" if nbytes is None else format_bytes(nbytes)
    if nbytes is not None and row.bytes_basis == "estimate":
        bytes_text = "≈" + bytes_text
    if row.bytes_limit is not None:
        bytes_text += f" / {format_bytes(row.bytes_limit)}"
    saved = row.seconds_saved
    return (
        row.name,
        row.kind or "",
        _count(row.hits),
        _count(row.misses),
        "–" if rate is None else f"{100 * rate:.1f}%",
        entries_text,
        bytes_text,
        "–" if saved is None else format_seconds(saved),
    )


def notes(rows: Sequence[CacheRow]) -> list[str]:
    """Warnings worth a line: unavailable caches, unreadable entries, invalidations."""
    out = []
    for r in rows:
        if not r.available:
            out.append(f"{r.name} unavailable: {r.reason}")
        if r.load_failures:
            out.append(
                f"{r.name}: {r.load_failures} unreadable entr"
                f"{'y' if r.load_failures == 1 else 'ies'} counted as misses"
            )
        if r.invalidations:
            out.append(f"{r.name}: results dropped by joblib (the function's code changed)")
    return out


def caches_table(data: CachesSection | None) -> Table | None:
    """The table of a run's caches, or None when it used none."""
    rows = data.caches if data is not None else ()
    if not rows:
        return None
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        expand=False,
        caption_justify="left",
        padding=(0, 0, 0, 1),
    )
    for i, name in enumerate(COLUMNS):
        table.add_column(
            name,
            justify="left" if i < 2 else "right",
            no_wrap=True,
            overflow="ellipsis" if i == 0 else "fold",
            max_width=24 if i == 0 else None,
        )
    for row in rows:
        table.add_row(*cells(row), style=None if row.available else "dim")
    caption = Text(
        "bytes: ≈ estimated from result sizes (memory), else on disk · saved: the "
        "compute time of the hits (measured misses or joblib's record)"
    )
    for line in notes(rows):
        caption.append("\n! ", style="yellow")
        caption.append_text(user_text(line, "yellow"))
    table.caption = caption
    return table
