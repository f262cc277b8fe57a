"""The comparison table of ``pipebench table``: every pipeline of a module, run with the same
parameters, side by side by speed, memory and CPU (seed 000's table, measured).

Each row comes from one run's report (``comparison_row``), so the figures are the ones its
record holds: nothing is estimated here.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from workbench.units import format_bytes, format_rate, format_seconds
from workbench.views.run import STATUS_STYLE
from workbench.views.text import user_text

#: The columns, in order (headers on two lines so that the table fits 80 columns).
COLUMNS = (
    "pipeline",
    "items/s",
    "time",
    "peak\nprivate",
    "peak\nRSS",
    "file-\nbacked",
    "CPU",
    "procs",
)
CAPTION = (
    "items/s: items out of the last stage per second of the run · time: the chain's wall "
    "time · peak private: anonymous + shared memory of the run's whole process tree (what "
    "the kernel cannot drop) · peak RSS: all resident pages of the tree · file-backed: peak "
    "of its file-backed pages (the kernel can drop them) · CPU: user + system seconds of the "
    "tree · procs: how many processes the tree had (memory read by pipebench from /proc)"
)


def comparison_row(
    report: dict[str, Any], record: str | None = None, not_applied: tuple[str, ...] = ()
) -> dict[str, Any]:
    """One pipeline's row from its run report: the figures the table shows, in bytes and
    seconds, with the record that holds the whole report."""
    mem = report.get("memory") or {}
    if not mem.get("samples"):  # ended before the first /proc reading: nothing measured
        mem = {}
    roles = Counter(str(p.get("role") or "?") for p in mem.get("processes") or [])
    peaks: dict[str, int] = {}
    for p in mem.get("processes") or []:  # per role: the largest private peak of its processes
        role, peak = str(p.get("role") or "?"), (p.get("peak") or {}).get("private_bytes")
        if peak is not None:
            peaks[role] = max(peaks.get(role, 0), int(peak))
    return {
        "pipeline": report.get("pipeline"),
        "target": report.get("target"),
        "params": report.get("params"),
        "status": report.get("status"),
        "message": report.get("message"),
        "items": report.get("items"),
        "duration_s": report.get("duration_s"),
        "items_per_s": report.get("items_per_s"),
        "private_peak_bytes": mem.get("private_peak_bytes"),
        "rss_peak_bytes": mem.get("rss_peak_bytes"),
        "file_peak_bytes": mem.get("file_peak_bytes"),
        "cpu_s": report.get("cpu_s"),
        "processes": mem.get("processes_seen"),
        "roles": dict(roles),
        "private_peak_by_role": peaks,
        "not_applied": list(not_applied),
        "record": record,
    }


def unavailable_row(pipeline: str, target: str, reason: str) -> dict[str, Any]:
    """The row of a pipeline that was not run: it cannot run here."""
    return {"pipeline": pipeline, "target": target, "status": "unavailable", "message": reason}


def comparison_table(rows: list[dict[str, Any]], title: str | None = None) -> Group:
    """The table of ``rows`` (``comparison_row``/``unavailable_row``), the caption saying
    what each column measured, and a line per row that needs one (a failure, parameters a
    pipeline does not take, the memory of processes besides the runner)."""
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        expand=False,
        padding=0,
        title=title,
    )
    longest = max((len(str(r.get("pipeline") or "")) for r in rows), default=8)
    for i, header in enumerate(COLUMNS):
        table.add_column(
            header,
            justify="left" if i == 0 else "right",
            no_wrap=i > 0,
            overflow="fold",
            vertical="bottom",
            min_width=min(24, longest) if i == 0 else None,
        )
    notes = Text()
    for row in rows:
        status = str(row.get("status") or "")
        name = user_text(row.get("pipeline"))
        if status != "finished":  # the status in words, not only in colour
            name.append(f" ({status})", style=STATUS_STYLE.get(status, "dim"))
        if status == "unavailable":
            table.add_row(name, *["–"] * (len(COLUMNS) - 1), style="dim")
        else:
            n = row.get("processes")
            table.add_row(
                name,
                format_rate(row.get("items_per_s")),
                format_seconds(row.get("duration_s")),
                format_bytes(row.get("private_peak_bytes")),
                format_bytes(row.get("rss_peak_bytes")),
                format_bytes(row.get("file_peak_bytes")),
                format_seconds(row.get("cpu_s")),
                "–" if n is None else str(n),
            )
        lines: list[Text] = []
        if row.get("message") and status not in ("finished", "stopped"):
            lines.append(user_text(row["message"]))
        if status != "unavailable" and row.get("processes") is None:
            lines.append(Text("no memory reading: the run ended before the first one"))
        if row.get("not_applied"):
            lines.append(user_text(f"takes no {', '.join(row['not_applied'])}: not applied"))
        by_role = row.get("private_peak_by_role") or {}
        if len(by_role) > 1:  # the processes besides the runner, by what they are
            roles = row.get("roles") or {}
            lines.append(
                Text(
                    "peak private of one process, by role: "
                    + ", ".join(
                        f"{r}{f' (largest of {roles[r]})' if roles.get(r, 1) > 1 else ''} "
                        f"{format_bytes(b)}"
                        for r, b in by_role.items()
                    )
                )
            )
        for line in lines:
            notes.append_text(user_text(row.get("pipeline"), "bold"))
            notes.append(": ")
            notes.append_text(line)
            notes.append("\n")
    notes.rstrip()
    parts: list[Any] = [table, Text(CAPTION, style="dim")]
    if notes.plain:
        parts.append(notes)
    return Group(*parts)
