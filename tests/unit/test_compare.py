"""Two reports side by side: the figures, their ratios, and naming runs to compare."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from workbench.engine.compare import compare_reports, matches, resolve_run, select_runs
from workbench.errors import UserError
from workbench.views.compare import compare_view, format_ratio, history_table

MIB = 2**20


def make_report(
    run_id: str,
    rate: float,
    read_self: float,
    rss: int,
    *,
    gpu=None,
    hit_rate=None,
    batch=64,
    pipeline="demo",
    path="/m/demo.py",
) -> dict:
    rep = {
        "run_id": run_id,
        "pipeline": pipeline,
        "module": "demo",
        "path": path,
        "target": f"{path}:{pipeline}",
        "params": {"batch_size": batch, "rows": 1000},
        "status": "finished",
        "started_at": "2026-01-01T00:00:00+00:00",
        "items_per_s": rate,
        "items": 1000,
        "duration_s": 1000 / rate,
        "stages": [
            {
                "name": "read",
                "items_per_s": rate,
                "self_s": read_self,
                "self_pct": 60.0,
                "mean_batch_s": 0.01,
            },
            {
                "name": "tokenize",
                "items_per_s": rate,
                "self_s": 0.5,
                "self_pct": 40.0,
                "mean_batch_s": 0.005,
            },
        ],
        "memory": {"rss_peak_bytes": rss, "uss_peak_bytes": rss // 2, "rss_start_bytes": 20 * MIB},
    }
    if gpu is not None:
        rep["gpu"] = {"peak_bytes": gpu, "peak_reserved_bytes": None}
    if hit_rate is not None:
        rep["caches"] = {
            "caches": [
                {
                    "name": "lookup",
                    "hits": 10,
                    "misses": 10,
                    "hit_rate": hit_rate,
                    "bytes": 1000,
                    "seconds_saved": 1.0,
                }
            ]
        }
    return rep


A = make_report("aaaa11112222", 1000.0, 2.0, 100 * MIB, gpu=2**30, hit_rate=0.5, batch=64)
B = make_report("bbbb33334444", 2500.0, 1.0, 150 * MIB, gpu=3 * 2**30, hit_rate=0.8, batch=256)


def fig(figures, section, label):
    return next(f for f in figures if f.section == section and f.label == label)


def test_ratios_and_verdicts():
    figures = compare_reports(A, B)
    rate = fig(figures, "run", "items/s")
    assert rate.ratio == 2.5 and rate.verdict == "better"
    read = fig(figures, "stage read", "self time")
    assert read.ratio == 0.5 and read.verdict == "better"
    rss = fig(figures, "memory", "peak RSS")
    assert rss.ratio == 1.5 and rss.verdict == "worse"
    assert fig(figures, "gpu", "peak GPU memory").ratio == 3.0
    hit = fig(figures, "cache lookup", "hit rate")
    assert hit.a == 50.0 and hit.b == 80.0 and hit.ratio == pytest.approx(1.6)
    assert fig(figures, "stage tokenize", "self time").verdict == "same"
    assert fig(figures, "gpu", "peak reserved (torch)").ratio is None


def test_stages_of_only_one_run_and_missing_sections():
    b = dict(B, stages=[{"name": "read", "items_per_s": 5.0}], caches=None)
    b.pop("gpu")
    figures = compare_reports(A, b)
    tok = fig(figures, "stage tokenize", "items/s")
    assert tok.a == 2500.0 / 2.5 and tok.b is None and tok.ratio is None
    assert fig(figures, "gpu", "peak GPU memory").b is None  # A has a GPU section
    assert not [f for f in compare_reports(dict(A, gpu=None), b) if f.section == "gpu"]


def test_compare_view_prints_the_ratios():
    console = Console(width=100, record=True, color_system=None)
    console.print(compare_view(A, B))
    text = console.export_text()
    for needle in (
        "×2.50",
        "×0.50",
        "×1.50",
        "×3.00",
        "×1.60",
        "better",
        "worse",
        "parameters that differ: batch_size",
    ):
        assert needle in text, needle
    assert format_ratio(fig(compare_reports(A, B), "run", "items/s")) == "×2.50"


def test_resolve_run_by_number_id_prefix_and_file(tmp_path):
    runs = [A, B]
    assert resolve_run("1", runs)["run_id"] == A["run_id"]
    assert resolve_run("#2", runs)["run_id"] == B["run_id"]
    assert resolve_run("-1", runs)["run_id"] == B["run_id"]
    assert resolve_run("bbbb", runs)["run_id"] == B["run_id"]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(A))
    assert resolve_run(str(path), [])["run_id"] == A["run_id"]
    with pytest.raises(UserError, match="no run #3"):
        resolve_run("3", runs)
    with pytest.raises(UserError, match="no recorded run"):
        resolve_run("zzzz", runs)
    with pytest.raises(UserError, match="names 2 runs"):
        resolve_run("", runs)
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(UserError, match="not a run report: not JSON"):
        resolve_run(str(tmp_path / "bad.json"), [])
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(UserError, match="not a run report"):
        resolve_run(str(tmp_path / "other.json"), [])


def test_matches_a_target():
    assert matches(A, "demo")
    assert matches(A, "/m/demo.py") and matches(A, "/m/demo.py:demo")
    assert not matches(A, "/m/demo.py:other") and not matches(A, "other")
    other = dict(A, pipeline="other")
    runs = [(1, A), (2, other)]
    assert select_runs(runs, "demo") == [(1, A)]  # the pipeline, not its module
    assert select_runs(runs, "/m/demo.py") == runs
    assert select_runs([(2, other)], "demo") == [(2, other)]  # no such pipeline: the module


def test_history_table_numbers_and_columns():
    console = Console(width=80, record=True, color_system=None)
    console.print(history_table([(1, A), (2, B)], width=80))
    text = console.export_text()
    assert " 1.00k " in text and " 2.50k " in text and " 64 " in text and " 256 " in text
    assert "3.00 GiB" in text
    assert "the same in every run listed: rows=1000" in text
    assert "run id" not in text  # only from 110 columns up
    wide = Console(width=140, record=True, color_system=None)
    wide.print(history_table([(1, A), (2, B)], width=140))
    assert "aaaa11112222" in wide.export_text()


def test_history_at_80_columns_keeps_pipeline_names_whole_and_wraps_parameters():
    long_name = "jsonl_tokens_load_all"
    paths = ("/d/a", "/data/corpus/b_with_a_long_name_to_wrap.jsonl")
    runs = [
        (1, dict(A, pipeline=long_name, params={"batch_size": 64, "rows": 1000, "path": paths[0]})),
        (2, dict(B, params={"batch_size": 256, "rows": 250_000, "path": paths[1]})),
    ]
    for width in (80, 105):
        console = Console(width=width, record=True, color_system=None)
        console.print(history_table(runs, width=width))
        text = console.export_text()
        assert all(len(line) <= width for line in text.splitlines())
        assert any(f" {long_name} " in line for line in text.splitlines())  # whole, one line
        flat = "".join(text.split())  # the parameters may wrap over lines, but are all there
        for param in ("rows=1000", f"path={paths[0]}", "rows=250000", f"path={paths[1]}"):
            assert param in flat
        if width == 105:
            assert "other params" in text  # room for them in a column
        if width == 80:
            assert "#2 rows=250000 path=" in text  # under the table, one line per run
