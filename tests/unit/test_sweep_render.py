"""The sweep's text renderings: the log2 axis, the marks and notes, the answer."""

from __future__ import annotations

from rich.console import Console

from tests.unit.test_sweep import point
from workbench.engine.sweep.search import OUT_OF_MEMORY, REFINE, SweepSettings, recommend
from workbench.views.curve import axis_labels, chart, columns
from workbench.views.sweep import answer_text, curve, points_table


def text(renderable, width=100) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_sizes_sit_on_a_log2_axis():
    cols = columns([8, 16, 32, 64, 48], 62)
    assert cols[8] == 1 and cols[64] == 60  # one column of margin each side
    steps = [cols[16] - cols[8], cols[32] - cols[16], cols[64] - cols[32]]
    assert max(steps) - min(steps) <= 1  # equal steps per doubling, to rounding
    assert cols[32] < cols[48] < cols[64]
    assert abs((cols[48] - cols[32]) / (cols[64] - cols[32]) - 0.585) < 0.06  # log2(1.5)
    labels = axis_labels(cols, 62).plain
    assert labels.split() == ["8", "16", "32", "48", "64"]
    assert columns([100], 40) == {100: 19}


def test_chart_marks_failures_and_the_budget():
    pts = [point(8, 10.0, rss=10), point(16, 20.0, rss=20), point(32, None, OUT_OF_MEMORY, rss=50)]
    rates = chart(
        pts, lambda p: p.items_per_s, width=40, height=4, title="t", fmt=str, mark=16
    ).plain
    assert "★" in rates and "✗" in rates
    mem = chart(
        pts,
        lambda p: p.rss_peak_bytes,
        width=40,
        height=4,
        title="m",
        fmt=str,
        limit=40,
        limit_label="budget",
    ).plain
    assert "budget 40" in mem and "┄" in mem and "✗" not in mem  # a peak is drawn


def test_table_marks_notes_and_answer():
    s = SweepSettings(margin=0.2)
    pts = [
        point(256, 100.0, rss=2**20),
        point(512, None, OUT_OF_MEMORY),
        point(480, 130.0, phase=REFINE),
    ]
    pts[1] = pts[1].__class__(**{**pts[1].__dict__, "error": "MemoryError: boom"})
    ans = recommend(pts, s)
    table = text(points_table(pts, ans))
    assert "★" in table and "◆" in table and "✗ OOM" in table
    assert "★ recommended" in table and "✗ 512: MemoryError: boom" in table
    assert "peak GPU" not in table
    answer = answer_text(ans).plain
    assert "recommended batch_size 256" in answer and "largest that fit     480" in answer
    assert "passed over 480: within 20% of 512, which failed" in answer


def test_sizes_fold_their_samples_and_the_table_fits_80_columns():
    from tests.unit.test_sweep import per_batch_cost, simulate

    s = SweepSettings(min_size=8, max_size=65536)
    pts = simulate(s, per_batch_cost(2e-3, 1e-6, 1e-9), noise=0.1, seed=3)
    ans = recommend(pts, s)
    wide = text(points_table(pts, ans, width=120), 120)
    assert "phase" in wide and "batches/s" in wide and "±" in wide
    rows = [line.split() for line in wide.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == len(ans.sizes) < len(pts)  # one row per size, not per run
    narrow = text(points_table(pts, ans, width=80), 80)
    assert "phase" not in narrow and "peak RSS" in narrow and "…" not in narrow
    assert max(len(line.rstrip()) for line in narrow.splitlines()) <= 80
    assert "o out of the race" in narrow and "box-plot notch" in narrow


def test_the_answer_says_one_item_per_batch_loudly_and_what_it_could_not_check():
    from tests.unit.test_sweep_items import NAMES, one_loss_per_batch

    pts = [one_loss_per_batch(8, 1.85e6, n) for n in (1, 2, 3)]
    pts += [one_loss_per_batch(512, 1.22e5, n) for n in (1, 2, 3)]
    pts = [p.__class__(**{**p.__dict__, "gpu_state": "no NVIDIA driver"}) for p in pts]
    ans = recommend(pts, SweepSettings(sizes=(8, 512), gpu_memory_budget=2**30), NAMES)
    out = answer_text(ans).plain
    assert out.startswith("⚠ one item per batch: the last stage step yields one item")
    assert "ranked instead by the items of stage src" in out
    assert "fix: say what a value holds: stage(fn, items=...)" in out
    assert "recommended batch_size 512" in out
    assert "largest that fit" not in out  # nothing failed
    assert "GPU budget of 1.00 GiB could not be checked: no NVIDIA driver" in out
    title = text(curve(pts, SweepSettings(sizes=(8, 512)), ans), 100)
    assert "items of stage src" in title
