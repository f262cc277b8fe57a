"""The comparison table's rows and rendering: figures taken from the report as they are,
every column kept at 80 columns, user text shown as written, states in words."""

from __future__ import annotations

from rich.console import Console

from workbench.views.table import COLUMNS, comparison_row, comparison_table, unavailable_row


def report(name: str, **over):
    rep = {
        "pipeline": name,
        "target": f"m.py:{name}",
        "params": {"batch_size": 64},
        "status": "finished",
        "message": None,
        "items": 1000,
        "duration_s": 2.0,
        "items_per_s": 500.0,
        "cpu_s": 1.5,
        "memory": {
            "samples": 12,
            "private_peak_bytes": 50 * 2**20,
            "rss_peak_bytes": 80 * 2**20,
            "file_peak_bytes": 20 * 2**20,
            "processes_seen": 2,
            "processes": [
                {"role": "runner", "peak": {"private_bytes": 30 * 2**20}},
                {"role": "multiprocessing child", "peak": {"private_bytes": 20 * 2**20}},
            ],
        },
    }
    rep.update(over)
    return rep


def render(rows, width=80):
    console = Console(width=width, record=True, color_system=None)
    console.print(comparison_table(rows, title="m.py"))
    return console.export_text()


def test_rows_hold_the_reports_figures():
    row = comparison_row(report("queue"), "/home/runs/r.json", ("rows",))
    assert row["items_per_s"] == 500.0 and row["cpu_s"] == 1.5 and row["processes"] == 2
    assert row["private_peak_bytes"] == 50 * 2**20 and row["file_peak_bytes"] == 20 * 2**20
    assert row["roles"] == {"runner": 1, "multiprocessing child": 1}
    assert row["private_peak_by_role"]["multiprocessing child"] == 20 * 2**20
    assert row["record"] == "/home/runs/r.json" and row["not_applied"] == ["rows"]


def test_a_run_without_a_memory_reading_shows_none_rather_than_zero():
    rep = report("short")
    rep["memory"] = {"samples": 0, "private_peak_bytes": 0, "processes_seen": 0}
    row = comparison_row(rep)
    assert row["private_peak_bytes"] is None and row["processes"] is None
    assert "no memory reading" in render([row])


def test_the_table_fits_80_columns_with_every_column():
    rows = [
        comparison_row(report("numpy_batches_parallel")),
        comparison_row(report("[bold]markup[/bold]", status="failed", message="boom [red]x")),
        unavailable_row("jsonl_tokens_torch", "m.py:jsonl_tokens_torch", "needs torch"),
    ]
    text = render(rows)
    assert all(len(line) <= 80 for line in text.splitlines())
    header = " ".join(text.splitlines()[1:3])
    for column in COLUMNS:
        for word in column.split("\n"):
            assert word in header
    assert "[bold]markup[/bold]" in text and "(failed)" in text and "boom [red]x" in text
    assert "(unavailable)" in text and "jsonl_tokens_torch: needs torch" in text
    assert "multiprocessing child 20.0 MiB" in text and "50.0 MiB" in text
