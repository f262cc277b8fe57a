"""``pipebench lines`` end to end, with real runner children: the hot line found and ranked
first, hits per line equal to the items, a generator profiled across its yields, the
function view, a ``--function`` helper, and the cost of looking."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import pipebench

N = 200
MODULE = f"""
from workbench import pipeline


def numbers(n):
    for i in range(n):
        yield i


def hot(items):
    for x in items:
        a = x + 1
        b = sum(i * i for i in range(4000))  # HOT
        c = a * 2
        yield a + b + c


def running(items):
    total = 0
    for x in items:
        total += x % 7
        yield total
    done = total  # after the last yield


def crunch(n):
    t = 0
    for i in range(n):
        t += i * i
    return t


def calls(items):
    for x in items:
        y = crunch(3000)
        yield x + y


@pipeline
def chain(n: int = {N}):
    return numbers(n), hot, running


@pipeline
def helper(n: int = {N}):
    return range(n), calls
"""


@pytest.fixture
def module(write_module) -> Path:
    return write_module("hotmod", MODULE)


def line_of(path: Path, marker: str) -> int:
    return next(i for i, text in enumerate(path.read_text().splitlines(), 1) if marker in text)


def function(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in report["functions"] if f["name"] == name)


def hits(fn: dict[str, Any]) -> dict[int, int]:
    return {r["line"]: r["hits"] for r in fn["lines"] if r["ran"]}


def test_hot_line_first_hits_per_item_and_generator_across_yields(tmp_path, module):
    r = pipebench(
        "lines",
        f"{module}:chain",
        "--stage",
        "hot",
        "--stage",
        "running",
        "--top",
        "1",
        "--json",
        "lines.json",
        cwd=tmp_path,
    )
    assert r.code == 0, r.out + r.err
    report = json.loads((tmp_path / "lines.json").read_text())
    assert report["stages"] == ["hot", "running"]

    hot = function(report, "hot")
    hot_line = line_of(module, "# HOT")
    assert hot["hottest"][0] == hot_line
    row = next(x for x in hot["lines"] if x["line"] == hot_line)
    assert row["rank"] == 1 and row["pct"] >= 80.0, hot["lines"]
    body = hits(hot)
    for line in (hot_line - 1, hot_line, hot_line + 1, hot_line + 2):  # a, b, c, yield
        assert body[line] == N
    assert body[hot_line - 2] == N + 1  # the for line: one more, to find the end

    run = function(report, "running")  # resumed after every yield, and once more at the end
    first = line_of(module, "total = 0")
    assert hits(run) == {first: 1, first + 1: N + 1, first + 2: N, first + 3: N, first + 4: 1}

    # --top 1: the hot line is the only (and first) row of hot's table.
    table = r.out.split("hot  stage hot", 1)[1]
    assert "sum(i * i for i in range(4000))" in table.split("running  stage running")[0]
    assert "#1" in table
    # The cost of looking, measured here: both runs, same items.
    cost = report["cost_of_looking"]
    assert cost["baseline_items_per_s"] > 0 and cost["profiled_items_per_s"] > 0
    assert cost["baseline_items"] == cost["profiled_items"] == N
    assert "cost of looking:" in r.out and "slower" in r.out
    assert report["runs"]["baseline"]["status"] == "finished"
    assert report["runs"]["profiled"]["status"] == "finished"


def test_function_view_finds_the_hot_function(tmp_path, module):
    r = pipebench(
        "lines",
        f"{module}:helper",
        "--stage",
        "calls",
        "--functions",
        "--json",
        "f.json",
        cwd=tmp_path,
    )
    assert r.code == 0, r.out + r.err
    report = json.loads((tmp_path / "f.json").read_text())
    by_own = sorted(report["calls"], key=lambda c: -c["own_s"])
    assert by_own[0]["name"] == "crunch" and by_own[0]["calls"] == N
    by_cum = sorted(report["calls"], key=lambda c: -c["cum_s"])
    assert [c["name"] for c in by_cum[:2]] == ["calls", "crunch"]
    assert "by own time" in r.out and "crunch" in r.out
    assert report["cost_of_looking"]["profiled_items"] == N


def test_a_named_function_is_profiled_line_by_line(tmp_path, module):
    r = pipebench(
        "lines",
        f"{module}:helper",
        "--stage",
        "calls",
        "--function",
        "hotmod:crunch",
        "--json",
        "h.json",
        cwd=tmp_path,
    )
    assert r.code == 0, r.out + r.err
    report = json.loads((tmp_path / "h.json").read_text())
    crunch = function(report, "crunch")
    assert crunch["stage"] is None
    assert hits(crunch)[line_of(module, "return t")] == N
    assert hits(function(report, "calls"))[line_of(module, "y = crunch(3000)")] == N


def test_with_no_stage_named_the_bottleneck_is_profiled(tmp_path, module):
    # 1000 items: enough self time in hot (~0.3 ms an item) to name it the bottleneck.
    r = pipebench(
        "lines", f"{module}:chain", "--param", "n=1000", "--top", "2", "--json", "b.json",
        cwd=tmp_path,
    )  # fmt: skip
    assert r.code == 0, r.out + r.err
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["stages"] == ["hot"]  # the baseline ran first and found it
    assert report["runs"]["baseline"]["bottleneck"] == "hot"
    assert "the bottleneck of the unprofiled run" in r.out


PRINTS = r"""
from workbench import pipeline


def numbers(n):
    for i in range(n):
        yield i


def loud(items):
    print("loading [/data] then [bold]x[/bold] \x1b[2Jcleared\x1b]0;title\x07")
    for x in items:
        yield x * 2


@pipeline
def noisy(n: int = 50):
    return numbers(n), loud
"""


def test_what_a_profiled_stage_prints_is_shown_as_data(tmp_path, write_module):
    """Markup and escape sequences a stage prints are shown as text, once (the profiled
    run's output; its baseline prints the same), and the profile is still printed."""
    module = write_module("noisy", PRINTS)
    r = pipebench("lines", f"{module}:noisy", "--stage", "loud", cwd=tmp_path)
    assert r.code == 0, r.out + r.err
    assert r.out.count("loading [/data] then [bold]x[/bold] cleared") == 1, r.out
    assert "\x1b[2J" not in r.out and "\x1b]0;" not in r.out and "\x07" not in r.out
    assert "loud  stage loud" in r.out and "cost of looking:" in r.out


def test_sigterm_during_the_profile_starts_no_baseline(tmp_path, module):
    """SIGTERM ends `pipebench lines` as Ctrl-C does: the profile stopped, what it
    measured printed, no unprofiled run started after it, exit 143."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli.main", "lines", f"{module}:chain",
         "--param", "n=100000000", "--stage", "hot", "--json", "t.json"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(3.0)  # the profiled run started and counted items
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, out + err
    report = json.loads((tmp_path / "t.json").read_text())
    assert report["runs"]["profiled"]["status"] == "stopped"
    assert report["runs"]["profiled"]["stop_reason"] == "sigterm"
    assert report["runs"]["baseline"] is None and report["cost_of_looking"] is None
    assert report["stages"] == ["hot"] and function(report, "hot")["total_s"] > 0
    assert "cost of looking: not measured" in out and "Traceback" not in out + err


UPSTREAM = """
import numpy as np
from workbench import pipeline


def arrays(n, rng):
    for _ in range(n):
        yield rng.random(100_000)


def upstream_work(batches):  # twice the stage's work: left in, it would triple the stage
    for b in batches:
        np.sort(b * 3.0)
        yield np.sort(b)


def stage_work(batches):
    for b in batches:
        yield np.sort(b * 2.0)


@pipeline
def sorts(n: int = 30):
    # Made before the chain: numpy imports numpy.random on first use, and making a
    # generator calls Python code (list appends, a lock): neither is the stages' work.
    rng = np.random.default_rng(0)
    return arrays(n, rng), upstream_work, stage_work
"""

#: How far a stage's cumulative time in the function view, and its line total in the line
#: view, may be from its self time measured by the probe in the same run. The two views
#: are two runs, seconds apart on a shared machine, so each is held to its own run's
#: measure; left in, the upstream (twice the stage's work) would make the stage's ~3x.
AGREE = 0.15


def self_times(report: dict[str, Any]) -> dict[str, float]:
    return {s["name"]: s["self_s"] for s in report["runs"]["profiled"]["stages"]}


def test_the_function_view_takes_upstream_time_out_as_the_line_view_does(tmp_path, write_module):
    path = write_module("sorts", UPSTREAM)
    lines_run = pipebench("lines", str(path), "--all", "--json", "l.json", cwd=tmp_path)
    assert lines_run.code == 0, lines_run.out + lines_run.err
    calls_run = pipebench(
        "lines", str(path), "--all", "--functions", "--json", "f.json", cwd=tmp_path
    )
    assert calls_run.code == 0, calls_run.out + calls_run.err
    lines = json.loads((tmp_path / "l.json").read_text())
    calls = json.loads((tmp_path / "f.json").read_text())
    for name in ("stage_work", "upstream_work"):
        line_total = sum(r["time_s"] for r in function(lines, name)["lines"])
        cum = next(c["cum_s"] for c in calls["calls"] if c["name"] == name)
        by_lines = line_total / self_times(lines)[name]
        by_calls = cum / self_times(calls)[name]
        assert abs(by_lines - 1) <= AGREE, (name, line_total, self_times(lines))
        assert abs(by_calls - 1) <= AGREE, (name, cum, self_times(calls))
    # User code only: none of pipebench's probe calls or frames.
    names = {c["name"] for c in calls["calls"]}
    paths = {c["path"] for c in calls["calls"]}
    assert not any("_getframe" in n or "get_ident" in n for n in names), names
    assert not any("/workbench/" in p for p in paths), paths
    assert not any(
        n.startswith(("<method 'append' of 'list", "<method 'pop' of 'list")) for n in names
    )


NUMBA = """
import numpy as np
from numba import njit
from workbench import pipeline


@njit
def norm(a):
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] * a[i]  # LOOP
    return s ** 0.5


def norms(batches):
    for b in batches:
        yield norm(b)


@pipeline
def vectors(n: int = 20):
    return (np.ones(50) for _ in range(n)), norms
"""


def test_a_numba_function_says_it_is_compiled_and_its_python_twin_profiles(tmp_path, write_module):
    path = write_module("nbmod", NUMBA)
    compiled = pipebench(
        "lines", str(path), "--stage", "norms", "--function", "nbmod:norm", cwd=tmp_path
    )
    assert compiled.code == 2
    err = [line for line in compiled.err.splitlines() if line.strip()]
    assert len(err) == 1 and "builtin" not in err[0], compiled.err
    assert "nbmod:norm is compiled by Numba" in err[0]
    assert "--function nbmod:norm.py_func" in err[0]
    twin = pipebench(
        "lines",
        str(path),
        "--stage",
        "norms",
        "--function",
        "nbmod:norm.py_func",
        "--json",
        "t.json",
        cwd=tmp_path,
    )
    assert twin.code == 0, twin.out + twin.err
    report = json.loads((tmp_path / "t.json").read_text())
    assert hits(function(report, "norm"))[line_of(path, "# LOOP")] == 20 * 50
    assert any("ran as Python for this profile" in n for n in report["notes"])
