"""Batch-size tuning from records and sweeps (``views.tuning``), the sweeps reader, the
import-error fixes (``views.catalog``) and the narrow tables' column choices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from workbench.cli.sweep import progress_line
from workbench.engine import records
from workbench.engine.protocol import Progress
from workbench.engine.records import is_cancelled
from workbench.engine.sections.cache_entries import make_row
from workbench.engine.session import RunState
from workbench.engine.sweep.run import SweepResult, SweepState
from workbench.engine.sweep.search import GROW, OK, SweepPoint, SweepSettings
from workbench.errors import UserError
from workbench.ui.widgets.caches_panel import fit_columns
from workbench.ui.widgets.runs_table import record_cells, record_status
from workbench.views.caches import cells
from workbench.views.catalog import import_error_text, import_fix
from workbench.views.tuning import tuning, tuning_notes, tuning_title, tuning_view

MiB = 2**20


def rec(
    run_id: str,
    batch: int,
    rate: float,
    private: int | None = None,
    *,
    status: str = "finished",
    rows: int = 1000,
    **extra: Any,
) -> dict[str, Any]:
    r: dict[str, Any] = {
        "run_id": run_id,
        "started_at": "2026-01-01T10:00:00+00:00",
        "pipeline": "p",
        "params": {"batch_size": batch, "rows": rows},
        "status": status,
        "items": 100,
        "batches": 10,
        "items_per_s": rate,
        "memory": {"private_peak_bytes": private, "rss_peak_bytes": (private or 0) + MiB},
    }
    r.update(extra)
    return r


def text(renderable: Any, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_each_size_is_the_median_of_its_results_and_the_best_fits_the_budget() -> None:
    runs = [
        rec("a", 64, 100.0, 10 * MiB),
        rec("b", 64, 300.0, 12 * MiB),
        rec("c", 64, 200.0, 11 * MiB),
        rec("d", 128, 400.0, 30 * MiB),  # fastest, but over the budget
        rec("e", 32, 150.0, 8 * MiB),
    ]
    t = tuning(runs, params={"rows": "1000"}, budget=20 * MiB)
    by = {p.batch_size: p for p in t.points}
    assert [p.batch_size for p in t.points] == [32, 64, 128]
    assert by[64].items_per_s == 200.0 and by[64].results == 3
    assert by[64].private_peak_bytes == 12 * MiB  # the largest peak
    assert t.over_budget == (128,)
    assert t.best is by[64]  # the fastest within the budget
    free = tuning(runs).best  # no budget: the fastest
    assert free is not None and free.batch_size == 128


def test_cancelled_runs_and_runs_with_other_parameters_never_count() -> None:
    runs = [
        rec("ok", 64, 100.0, MiB),
        # the report's field (new records)
        rec("c1", 256, 0.0, MiB, status="stopped", cancelled=True),
        # an older record: stopped with no item out
        rec("c2", 512, 0.0, MiB, status="stopped", items=0, batches=0),
        rec("other", 1024, 999.0, MiB, rows=5),
        rec("partial", 128, 80.0, 2 * MiB, status="stopped", cancelled=False),
    ]
    assert is_cancelled(runs[1]) and is_cancelled(runs[2]) and not is_cancelled(runs[4])
    t = tuning(runs, params={"rows": "1000", "batch_size": "7"})  # batch_size is ignored
    assert [p.batch_size for p in t.points] == [64, 128]  # a stopped run with batches counts
    assert t.cancelled == 2 and t.other_params == 1
    notes = text(tuning_view(t, width=80, height=30))
    assert "left out: 2 cancelled before their first batch, 1 with other parameters" in notes
    assert "(rows=5)" in notes  # which ones


def test_failed_sizes_are_marked_and_never_best() -> None:
    runs = [
        rec("ok", 64, 100.0, MiB),
        rec("oom", 128, 0.0, None, status="failed"),
        rec("over", 256, 500.0, 50 * MiB, status="budget_exceeded"),
    ]
    t = tuning(runs)
    by = {p.batch_size: p for p in t.points}
    assert by[128].failed and by[256].failed and not by[64].failed
    assert t.best is by[64]
    out = text(tuning_view(t, width=60, height=30))
    assert "✗" in out and "★" in out


def test_a_sweeps_run_counts_once_with_its_rate_after_warm_up() -> None:
    runs = [rec("s1", 64, 100.0, 9 * MiB), rec("s2", 128, 150.0, 20 * MiB)]
    sweep = {
        "kind": "sweep",
        "params": {"rows": 1000},
        "points": [
            {"batch_size": 64, "run_id": "s1", "outcome": "ok", "items_per_s": 120.0},
            {"batch_size": 128, "run_id": "s2", "outcome": "over_budget", "items_per_s": None},
            # its record is gone: the sweep's own figures
            {
                "batch_size": 32,
                "run_id": "gone",
                "outcome": "ok",
                "items_per_s": 90.0,
                "rss_peak_bytes": 5 * MiB,
            },
        ],
    }
    t = tuning(runs, [sweep], params={"rows": "1000"})
    by = {p.batch_size: p for p in t.points}
    assert by[64].items_per_s == 120.0 and by[64].results == 1 and by[64].from_sweep == 1
    assert by[128].failed
    assert by[32].items_per_s == 90.0 and by[32].private_peak_bytes is None
    assert t.sweeps == 1
    # A sweep at other parameters is left out.
    assert tuning(runs, [sweep], params={"rows": "5"}).sweeps == 0


def test_the_view_draws_the_budget_and_marks_the_best_on_a_log2_axis() -> None:
    runs = [rec(str(b), b, float(b), b * MiB) for b in (8, 16, 32, 64)]
    t = tuning(runs, budget=40 * MiB)
    assert t.best is not None and t.best.batch_size == 32
    out = text(tuning_view(t, width=60, height=40))
    assert "budget 40.0 MiB" in out and "┄" in out  # the budget line on the memory curve
    assert "peak RSS" in out  # tall enough for the third curve
    axis = [line for line in out.splitlines() if line.split() == ["8", "16", "32", "64"]]
    assert axis  # every size on the axis
    short = text(tuning_view(t, width=60, height=22))
    assert "items/s vs batch size" in short and "peak RSS  (" not in short  # RSS dropped
    title = text(tuning_title("p", {"rows": "1000", "batch_size": "8"}, t))
    assert "rows=1000" in title and "batch_size=8" not in title
    assert "best: batch_size 32" in title and "budget 40.0 MiB private" in title


def test_nothing_measured_says_how_to_measure() -> None:
    out = text(tuning_view(tuning([]), width=80, height=20))
    assert "nothing measured yet" in out and "sweep it (w)" in out


def test_sweeps_are_read_from_the_home_with_progress(pipebench_home: Path) -> None:
    records.save_to("sweeps", "a.json", {"kind": "sweep", "points": [], "pipeline": "p"})
    records.save_to("sweeps", "b.json", {"kind": "other", "points": []})
    folder = pipebench_home / "sweeps"
    (folder / "c.json").write_text("{not json")
    seen: list[tuple[int, int]] = []
    found = records.read_sweeps(progress=lambda done, total: seen.append((done, total)))
    assert [s["pipeline"] for s in found] == ["p"]
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
    folder.chmod(0o777)
    with pytest.raises(UserError):
        records.read_sweeps()


def test_history_reports_its_progress(pipebench_home: Path) -> None:
    for i in range(3):
        records.save_run(rec(f"r{i}", 8, 1.0) | {"started_at": f"2026-01-0{i + 1}T10:00:00+00:00"})
    seen: list[tuple[int, int]] = []
    history = records.read_history(progress=lambda d, t: seen.append((d, t)))
    assert len(history.runs) == 3 and seen[-1] == (3, 3)


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        (
            "importing /x/m.py failed: it needs the module 'pyarrow.parquet', which is not "
            "installed here",
            "pip install pyarrow",
        ),
        ("syntax error in /x/m.py, line 12: invalid syntax", "correct line 12 of /x/m.py"),
        ("importing /x/m.py did not finish within 60 s", "into the pipeline's factory"),
        ("importing /x/m.py raised ValueError: [bold]no[/bold]", "python FILE"),
    ],
)
def test_every_import_error_gets_a_fix(error: str, fix: str) -> None:
    assert fix in import_fix(error)
    shown = import_error_text("m.py", error)
    assert "✗" in shown.plain and error in shown.plain  # in full, as text (never markup)
    assert "then restart pipebench" in shown.plain


def test_caches_keep_their_figures_and_drop_columns_when_narrow() -> None:
    row = make_row(
        "tokenize_text_with_a_long_name",
        "memory",
        "lru_cache",
        hits=12_345,
        misses=400,
        entries=400,
        maxsize=512,
        bytes=454_000,
        seconds_saved=1.5,
    )
    wide, name_w = fit_columns([cells(row)], 100)
    assert wide == ("cache", "hits", "misses", "hit rate", "entries", "bytes", "saved", "kind")
    narrow, name_w = fit_columns([cells(row)], 55)
    assert narrow == ("cache", "hits", "misses", "hit rate", "entries", "bytes")
    assert name_w >= 8  # the name is cut before a figure is
    tight, name_w = fit_columns([cells(row)], 40)
    assert tight == narrow and name_w == 8


def test_a_cancelled_record_shows_no_figures() -> None:
    r = rec("c", 64, 0.0, MiB, status="stopped", cancelled=True)
    row = record_cells(3, r, best=False)
    assert record_status(r) == "cancelled" and row["status"] == "■ cancelled"
    assert row["items/s"] == "–" and row["peak private"] == "–"
    done = record_cells(4, rec("d", 64, 1234.0, 3 * MiB), best=True)
    assert done["items/s"] == "★ 1.23k" and done["peak private"] == "3.00 MiB"


def test_a_records_json_on_disk_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"a": 1}))
    assert records.read_json(path) == ({"a": 1}, None)
    path.write_text("null")
    assert records.read_json(path) == (None, None)


def test_the_headless_sweep_line_says_runs_done_and_the_run_going() -> None:
    settings = SweepSettings(min_size=64, max_size=1024)  # 5 sizes, 3 runs each at most
    result = SweepResult("s", "m.py:p", settings, 0.0)
    result.points.append(SweepPoint(64, GROW, OK, "stopped", 1000.0))
    run = RunState("m.py:p", options={"size": 128}, progress=Progress("writing", 3, 10, "rows"))
    line = text(progress_line(settings, SweepState(result, run), 12.5), width=100)
    assert "1/≤15 runs" in line and "━" in line and "12.5 s" in line
    assert "batch_size=128: writing: 3 of 10 rows (30%)" in line
    listed = SweepSettings(sizes=(8, 16))  # up to max_samples (5) runs each
    assert "0/≤10 runs" in text(
        progress_line(listed, SweepState(SweepResult("s", "t", listed, 0.0)), 1.0)
    )


def test_a_run_stopped_too_early_to_tell_is_left_out_and_said() -> None:
    """A run stopped by hand after 3 batches in 0.4 s says little of its size: it is no
    point (compare calls it too short), while one stopped after enough batches is."""
    runs = [
        rec("a", 64, 1000.0, status="stopped", duration_s=5.0),
        rec("b", 128, 9000.0, status="stopped", batches=3, duration_s=0.4),
    ]
    t = tuning(runs)
    assert [p.batch_size for p in t.points] == [64] and t.too_short == 1
    assert "1 stopped before 10 batches and 1 s" in tuning_notes(t).plain


def test_progress_words_are_text_and_odd_counts_are_said_plainly() -> None:
    from workbench.views.run import progress_text

    shown = progress_text(Progress("loading", 4, 30, "rows\x1b]0;PWNED\x07\x1b[2J[/x]")).plain
    assert "\x1b" not in shown and "\x07" not in shown and "[/x]" in shown
    assert shown.startswith("loading: 4 of 30 rows") and shown.endswith("(13%)")
    odd = progress_text(Progress("loading", 4, float("nan"), "rows")).plain
    assert odd == "loading: 4 rows" and "nan" not in odd


def test_history_at_80_columns_keeps_numbers_whole_and_wraps_a_long_name() -> None:
    from workbench.views.history import history_table

    long = "jsonl_tokens_streaming_with_torch_dataloader_and_prefetch"
    runs = [
        (1, rec("a", 4, 18_800_000.0, 18 * MiB, pipeline=long)),
        (2, rec("b", 4, 25_100.0, 17 * MiB, pipeline="short")),
    ]
    shown = text(history_table(runs, width=80), width=80)
    assert "18.8M" in shown and "25.1k" in shown and "MiB" in shown
    assert shown.splitlines()[0].lstrip().startswith("#")
    assert "jsonl_tokens_streaming_with_torch_" in shown  # wrapped, not cut
    assert "dataloader_and_prefetch" in shown
