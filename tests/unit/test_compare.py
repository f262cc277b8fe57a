"""Runs side by side: the figures, per item, their ratios to the base, N runs, old records,
and naming runs to compare."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from workbench.engine.compare import compare_reports, matches, resolve_run, select_runs
from workbench.errors import UserError
from workbench.views.compare import compare_view, format_ratio
from workbench.views.history import history_table

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
    items=6400,
    pipeline="demo",
    path="/m/demo.py",
    status="finished",
    stop_reason=None,
    private_growth=0,
    compile_s=0.0,
) -> dict:
    """A schema 2 report: ``items`` out of the last stage in batches of ``batch``."""
    batches = items // batch
    duration = items / rate
    return {
        "schema": 2,
        "run_id": run_id,
        "pipeline": pipeline,
        "module": "demo",
        "path": path,
        "target": f"{path}:{pipeline}",
        "params": {"batch_size": batch, "rows": 1000},
        "status": status,
        "cancelled": False,
        "stop_reason": stop_reason,
        "started_at": "2026-01-01T00:00:00+00:00",
        "items_per_s": rate,
        "batches_per_s": batches / duration,
        "items": items,
        "batches": batches,
        "duration_s": duration,
        "cpu_s": duration * 0.9,
        "to_first_batch_s": 0.5,
        "stages": [
            {
                "name": "read",
                "items": items,
                "batches": batches,
                "self_s": read_self,
                "compile_s": compile_s,
                "self_pct": 60.0,
                "mean_batch_s": 0.01,
            },
            {
                "name": "tokenize",
                "items": items,
                "batches": batches,
                "self_s": 0.5,
                "compile_s": 0.0,
                "self_pct": 40.0,
                "mean_batch_s": 0.005,
            },
        ],
        "memory": {
            "rss_peak_bytes": rss,
            "uss_peak_bytes": rss // 2,
            "rss_start_bytes": 20 * MIB,
            "private_start_bytes": 10 * MIB,
            "private_peak_bytes": 10 * MIB + private_growth,
            "file_peak_bytes": 5 * MIB,
        },
        **({"gpu": {"peak_bytes": gpu, "peak_reserved_bytes": None}} if gpu is not None else {}),
        **(
            {
                "caches": {
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
            }
            if hit_rate is not None
            else {}
        ),
    }


def schema1(rep: dict) -> dict:
    """``rep`` as pipebench wrote it before schema 2: no top-level batches, CPU, compile
    time, private or file-backed memory."""
    old = {k: v for k, v in rep.items() if k not in ("schema", "batches", "batches_per_s", "cpu_s")}
    old.pop("cancelled")
    old["stages"] = [{k: v for k, v in s.items() if k != "compile_s"} for s in rep["stages"]]
    old["memory"] = {
        k: v
        for k, v in rep["memory"].items()
        if k in ("rss_peak_bytes", "uss_peak_bytes", "rss_start_bytes")
    }
    return old


A = make_report("aaaa11112222", 1000.0, 2.0, 100 * MIB, gpu=2**30, hit_rate=0.5, batch=64)
B = make_report(
    "bbbb33334444",
    2500.0,
    1.0,
    150 * MIB,
    gpu=3 * 2**30,
    hit_rate=0.8,
    batch=256,
    items=25600,
    private_growth=2 * MIB,
)


def fig(figures, section, label):
    return next(f for f in figures if f.section == section and f.label == label)


def test_ratios_and_verdicts():
    figures = compare_reports([A, B])
    rate = fig(figures, "run", "items/s")
    assert rate.ratio() == 2.5 and rate.verdict() == "better" and rate.key == "items_per_s"
    rss = fig(figures, "memory", "peak RSS")
    assert rss.ratio() == 1.5 and rss.verdict() == "worse"
    assert fig(figures, "gpu", "peak GPU memory").ratio() == 3.0
    hit = fig(figures, "cache lookup", "hit rate")
    assert hit.values == (50.0, 80.0) and hit.ratio() == pytest.approx(1.6)
    assert fig(figures, "gpu", "peak reserved (torch)").ratio() is None
    assert fig(figures, "run", "items per batch").values == (64, 256)


def test_per_item_figures_make_runs_of_different_lengths_comparable():
    """A 4x longer run has 4x the self time; per item it is the same stage."""
    short = make_report("s", 1000.0, 2.0, 100 * MIB, items=6400)
    long = make_report("l", 1000.0, 8.0, 100 * MIB, items=25600)
    per_item = fig(compare_reports([short, long]), "stage read", "self per item")
    assert per_item.values == (pytest.approx(2.0 / 6400), pytest.approx(8.0 / 25600))
    assert per_item.verdict() == "same" and per_item.key == "self_per_item[read]"


def test_self_per_item_leaves_compilation_out():
    jit = make_report("j", 1000.0, 2.0, 100 * MIB, compile_s=1.5)
    f = fig(compare_reports([A, jit]), "stage read", "self per item")
    assert f.values[1] == pytest.approx(0.5 / 6400)
    assert fig(compare_reports([A, jit]), "stage read", "compile").values == (0.0, 1.5)


def test_growth_under_a_mib_reads_as_none():
    """A few pages that come and go in any run (16 KiB above the start) are not the
    pipeline's memory: 0 per item, so a gate against such a base says it cannot tell."""
    from workbench.engine.compare import memory_per_item

    churn = dict(
        A,
        memory=dict(
            A["memory"], private_start_bytes=MIB * 12, private_peak_bytes=MIB * 12 + 16 * 1024
        ),
    )
    assert memory_per_item(churn) == 0.0


def test_memory_per_item_is_the_growth_at_peak_per_item_of_a_batch():
    f = fig(compare_reports([A, B]), "memory", "private per item")
    assert f.values == (0.0, 8192.0)  # 2 MiB above the start, 256 items a batch
    assert f.key == "memory_per_item"


def test_cpu_per_item_and_a_zero_reading_is_not_a_measure():
    f = fig(compare_reports([A, B]), "run", "CPU per item")
    assert f.values[0] == pytest.approx(A["cpu_s"] / A["items"])
    unsampled = dict(A, cpu_s=0.0, memory=dict(A["memory"], rss_peak_bytes=0))
    figures = compare_reports([A, unsampled])
    assert fig(figures, "run", "CPU per item").values[1] is None
    assert fig(figures, "memory", "peak RSS").values[1] is None


def test_n_runs_each_against_the_first():
    c = make_report("cccc", 500.0, 4.0, 50 * MIB, batch=16)
    rate = fig(compare_reports([A, B, c]), "run", "items/s")
    assert rate.values == (1000.0, 2500.0, 500.0)
    assert rate.ratio(1) == 2.5 and rate.ratio(2) == 0.5 and rate.ratio(0) is None
    assert [rate.verdict(i) for i in (1, 2)] == ["better", "worse"]


def test_stages_of_only_one_run_and_missing_sections():
    b = dict(B, stages=[{"name": "read", "self_s": 1.0}], caches=None)
    b.pop("gpu")
    figures = compare_reports([A, b])
    tok = fig(figures, "stage tokenize", "self per item")
    assert tok.values[0] == pytest.approx(0.5 / 6400) and tok.values[1] is None
    assert tok.ratio() is None
    assert fig(figures, "gpu", "peak GPU memory").values[1] is None  # A has a GPU section
    assert not [f for f in compare_reports([dict(A, gpu=None), b]) if f.section == "gpu"]


def test_a_schema_1_record_compares_with_the_figures_it_lacks_as_na():
    old = schema1(A)
    figures = compare_reports([old, B])
    assert fig(figures, "run", "batches").values == (100, 100)  # from its last stage's row
    assert fig(figures, "run", "batches/s").values[0] == pytest.approx(100 / A["duration_s"])
    assert fig(figures, "memory", "peak private").values[0] is None
    assert fig(figures, "memory", "private per item").values[0] is None
    assert fig(figures, "run", "CPU per item").values[0] is None
    assert fig(figures, "stage read", "self per item").values[0] == pytest.approx(2.0 / 6400)
    console = Console(width=80, record=True, color_system=None)
    console.print(compare_view([old, B]))
    text = console.export_text()
    assert "A is a schema 1 record" in text
    assert any("peak private" in ln and "N/A" in ln for ln in text.splitlines())


def test_compare_view_prints_the_ratios_in_words():
    console = Console(width=80, record=True, color_system=None)
    console.print(compare_view([A, B]))
    text = console.export_text()
    for needle in ("×2.50", "×1.50", "×3.00", "×1.60", "better", "worse"):
        assert needle in text, needle
    assert "parameters that differ: batch_size" in text
    assert "per item of a batch" in text  # says what per item means
    assert "warning" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    assert format_ratio(fig(compare_reports([A, B]), "run", "items/s")) == "×2.50"


def test_four_runs_fit_80_columns_with_ratio_and_mark_under_each_value():
    c = make_report("cccc", 500.0, 4.0, 50 * MIB, batch=16)
    d = make_report("dddd", 1000.0, 2.0, 100 * MIB, batch=64)
    console = Console(width=80, record=True, color_system=None)
    console.print(compare_view([A, B, c, d]))
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    lines = text.splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.strip().startswith("items/s"))
    assert lines[i].split()[1:] == ["1.00k", "2.50k", "500", "1.00k"]
    assert lines[i + 1].split() == ["×2.50", "+", "×0.500", "-", "×1.00", "="]
    assert "+ better, - worse, = same" in " ".join(text.split())


def test_compare_view_warns_of_different_pipelines_and_short_partial_runs():
    other = make_report("oooo", 1000.0, 2.0, 100 * MIB, pipeline="other")
    stopped = make_report("ssss", 1000.0, 0.01, 100 * MIB, items=320, status="stopped")
    stopped["stop_reason"] = "user"
    console = Console(width=100, record=True, color_system=None)
    console.print(compare_view([A, other, stopped]))
    text = console.export_text()
    assert "warning: different pipelines: A, C demo (module demo); B other" in text
    assert "C is partial: it was stopped by the user after 5 batches in 320 ms" in text


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
    # A pipeline called anything is found by its name, as recorded or as shown
    odd = [(3, dict(A, pipeline="[/x]")), (4, dict(A, pipeline="a/b\tc"))]
    assert select_runs(odd, "[/x]") == odd[:1]
    assert select_runs(odd, "a/b    c") == odd[1:]


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
