"""`pipebench compare` and `pipebench history` on runs recorded by the real CLI, on known
reports and on foreign records; the regression gate's exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.helpers import Result, pipebench
from tests.unit.test_compare import A, B, schema1
from workbench.engine import records
from workbench.units import format_bytes

MODULE = '''
import time

from workbench import pipeline, stage


def source(n, batch_size):
    for _ in range(n):
        yield list(range(batch_size))


def work(batches, delay, fail_at, hold_mib):
    held = []
    for i, batch in enumerate(batches):
        if i == fail_at:
            raise ValueError("bad row")
        if hold_mib and i == 5:  # after the run's start reading of memory
            held.append(b"\\x01" * (hold_mib << 20))  # private pages, touched
        time.sleep(delay)
        yield batch


@pipeline
def steady(batch_size: int = 8, n: int = 20, delay: float = 0.06, fail_at: int = -1,
           hold_mib: int = 0):
    """n batches of batch_size items, delay seconds each."""
    return source(n, batch_size), stage(lambda b: work(b, delay, fail_at, hold_mib), name="work")


@pipeline
def other(batch_size: int = 8, n: int = 20):
    return source(n, batch_size), stage(lambda b: work(b, 0.06, -1, 0), name="work")
'''

#: The runs recorded once for this module, by history number.
RUNS = {
    1: ("steady", []),
    2: ("steady", ["--param", "delay=0.12"]),  # half the rate
    3: ("steady", ["--param", "hold_mib=64"]),  # 64 MiB more private memory at the peak
    4: ("steady", ["--max-batches", "3"]),  # too short to tell
    5: ("steady", ["--param", "fail_at=12"]),  # failed: partial
    6: ("other", []),  # another pipeline
}


def cli(*args: str, home: Path, cwd: Path) -> Result:
    env = dict(os.environ, PIPEBENCH_HOME=str(home))
    argv = [sys.executable, "-m", "workbench.cli.main", *args]
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    return Result(proc.returncode, proc.stdout, proc.stderr, None)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(home, folder): the runs of ``RUNS`` recorded by ``pipebench run``, in order."""
    folder = tmp_path_factory.mktemp("compare")
    home = folder / "pbhome"
    path = folder / "steady.py"
    path.write_text(textwrap.dedent(MODULE))
    for number, (name, extra) in RUNS.items():
        r = cli("run", f"{path}:{name}", *extra, "--json", f"{number}.json", home=home, cwd=folder)
        assert r.code in (0, 1), r.err
    assert len(list((home / "runs").glob("*.json"))) == len(RUNS)
    return home, folder


def test_real_runs_side_by_side_per_item_and_n_at_once(recorded):
    home, folder = recorded
    r = cli("compare", "1", "2", "3", home=home, cwd=folder)
    assert r.code == 0, r.err
    assert "warning" not in r.out
    lines = r.out.splitlines()
    header = next(ln for ln in lines if ln.startswith("figure"))
    assert header.split() == ["figure", "A", "B", "C"]
    i = next(i for i, ln in enumerate(lines) if ln.strip().startswith("items/s"))
    rates = [float(x) for x in lines[i].split()[1:]]
    assert rates[1] == pytest.approx(rates[0] / 2, rel=0.15)  # twice the delay
    under = lines[i + 1].split()
    assert under[0].startswith("×0.") and under[1] == "-"  # worse, in text
    assert any(ln.strip().startswith("self per item") for ln in lines)
    assert "per item of a batch" in " ".join(r.out.split())  # says what per item means


def test_the_gate_fails_past_a_threshold_and_passes_within(recorded):
    home, folder = recorded
    r = cli("compare", "1", "2", "--fail-if", "items_per_s:-5%", home=home, cwd=folder)
    assert r.code == 1, r.out
    line = next(ln for ln in r.out.splitlines() if ln.startswith("FAIL"))
    assert line.startswith("FAIL items_per_s: ") and "(limit -5%)" in line
    base, new = (json.loads((folder / f"{n}.json").read_text())["items_per_s"] for n in (1, 2))
    assert f"{100 * (new - base) / base:+.1f}%" in line  # both values and the change
    assert "gate: failed: 1 check past the limit" in r.out

    r = cli("compare", "1", "3", "--fail-if", "peak_private:+10%", home=home, cwd=folder)
    assert r.code == 1 and "FAIL peak_private: " in r.out, r.out
    # The base's private memory does not grow while it runs: no percentage of 0.
    r = cli("compare", "1", "3", "--fail-if", "memory_per_item:+100%", home=home, cwd=folder)
    assert r.code == 0 and "N/A  memory_per_item: cannot tell (the base is 0; " in r.out, r.out
    r = cli("compare", "3", "1", "--fail-if", "memory_per_item:+100%", home=home, cwd=folder)
    assert r.code == 0 and "ok   memory_per_item: " in r.out, r.out  # less is no regression
    held = json.loads((folder / "3.json").read_text())["memory"]
    grown = held["private_peak_bytes"] - held["private_start_bytes"]
    assert grown >= 64 * 2**20  # the 64 MiB came after the start reading
    assert f"memory_per_item: {format_bytes(grown / 8)} → " in r.out  # 8 items a batch

    r = cli(
        "compare",
        "1",
        "1",
        "--fail-if",
        "items_per_s:-5%",
        "--fail-if",
        "self_per_item:+5%",
        "--fail-if",
        "peak_private:+10%",
        home=home,
        cwd=folder,
    )
    assert r.code == 0, r.out
    assert "gate: passed: 4 checks in limits" in r.out  # self_per_item: both stages


def test_too_short_partial_and_different_runs_cannot_tell(recorded):
    home, folder = recorded
    r = cli("compare", "1", "4", "--fail-if", "items_per_s:-5%", home=home, cwd=folder)
    assert r.code == 0, r.out
    assert "warning: B is too short to tell: 3 batches in " in r.out
    assert "gate: cannot tell: B is too short to tell" in " ".join(r.out.split())
    r = cli("compare", "1", "4", "--fail-if", "items_per_s:-5%", "--strict", home=home, cwd=folder)
    assert r.code == 1 and "exit 1 (--strict)" in r.out
    r = cli(
        "compare", "1", "4", "--min-batches", "3", "--min-seconds", "0.1", home=home, cwd=folder
    )
    assert r.code == 0 and "too short" not in r.out  # the rule is the user's to set

    r = cli("compare", "1", "5", "--fail-if", "items_per_s:-5%", home=home, cwd=folder)
    assert r.code == 0, r.out
    assert "B is partial: it failed in stage work after 12 batches in " in " ".join(r.out.split())

    r = cli("compare", "1", "6", "--fail-if", "items_per_s:-50%", home=home, cwd=folder)
    text = " ".join(r.out.split())
    assert r.code == 0 and "warning: different pipelines: A steady (module steady); B other" in text
    assert "gate: cannot tell: different pipelines" in text


def test_a_schema_1_record_compares_with_na_and_the_gate_says_so(recorded, tmp_path):
    home, folder = recorded
    (tmp_path / "old.json").write_text(json.dumps(schema1(A)))
    r = cli(
        "compare",
        str(tmp_path / "old.json"),
        str(folder / "1.json"),
        "--fail-if",
        "peak_private:+10%",
        "--json",
        "-",
        home=home,
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    out = json.loads(r.out)  # --json -: the JSON alone on stdout, the tables on stderr
    fig = {f["key"]: f for f in out["figures"] if f["key"]}
    assert fig["peak_private"]["values"][0] is None and fig["peak_private"]["values"][1] > 0
    assert fig["peak_rss"]["values"][0] == A["memory"]["rss_peak_bytes"]
    assert [c["kind"] for c in out["caveats"]].count("old record") == 1
    assert out["gate"]["result"] == "cannot tell" and out["gate"]["exit_code"] == 0
    assert out["gate"]["checks"][0]["outcome"] == "N/A"
    assert "N/A  peak_private: cannot tell (N/A in A; limit +10%)" in r.err


def test_bad_gate_input_is_one_line_and_exit_2(recorded):
    home, folder = recorded
    for args, says in (
        (["1", "2", "--fail-if", "speed:-5%"], "no figure 'speed'"),
        (["1", "2", "--fail-if", "items_per_s:-5"], "is no percentage"),
        (["1", "2", "--fail-if", "self_per_item[nope]:+5%"], "no stage 'nope' in these runs"),
        (["1"], "give two or more runs"),
        ([str(n) for n in range(1, 7)] * 2, "at most 8 fit side by side"),
    ):
        r = cli("compare", *args, home=home, cwd=folder)
        assert r.code == 2 and says in r.err, (args, r.err)
        assert len(r.err.strip().splitlines()) == 1 and r.out == ""


def test_help_lists_every_gate_figure(recorded):
    from workbench.engine.gate import GATE_FIGURES

    home, folder = recorded
    r = cli("compare", "--help", home=home, cwd=folder)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in GATE_FIGURES:
        assert f"  {name} " in r.out and f"`{name}`" in readme, name


def test_compare_two_report_files_prints_the_ratios(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(A))
    (tmp_path / "b.json").write_text(json.dumps(B))
    r = pipebench("compare", "a.json", "b.json", "--json", "cmp.json", cwd=tmp_path, json_name=None)
    assert r.code == 0, r.err
    lines = r.out.splitlines()

    def row(*words):
        return next(ln for ln in lines if all(w in ln for w in words))

    assert "×2.50" in row("items/s", "1.00k", "2.50k") and "better" in row("items/s", "2.50k")
    assert "×1.50" in row("peak RSS", "100 MiB", "150 MiB") and "worse" in row("peak RSS")
    assert "×3.00" in row("peak GPU memory", "1.00 GiB", "3.00 GiB")
    assert "×1.60" in row("hit rate", "50.0%", "80.0%")
    out = json.loads((tmp_path / "cmp.json").read_text())
    ratios = {(f["section"], f["figure"]): f["ratio"] for f in out["figures"]}
    assert ratios[("run", "items/s")] == 2.5
    assert ratios[("memory", "peak RSS")] == 1.5
    assert out["runs"] == [A["run_id"], B["run_id"]] and out["gate"]["result"] is None


def test_history_lists_records_and_compare_takes_their_numbers(tmp_path):
    other = dict(A, run_id="cccc55556666", pipeline="other", started_at="2026-01-03T00:00:00")
    for rep in (A, dict(B, started_at="2026-01-02T00:00:00"), other):
        records.save_run(rep)
    r = pipebench("history", cwd=tmp_path, json_name=None)
    assert r.code == 0, r.err
    assert "3 runs" in r.out and "other" in r.out
    r = pipebench("history", "demo", cwd=tmp_path, json_name=None)
    assert "2 runs" in r.out and "other" not in r.out.replace("other params", "")
    r = pipebench("compare", "1", "2", cwd=tmp_path, json_name=None)
    assert r.code == 0 and "×2.50" in r.out
    r = pipebench("compare", "aaaa", "-1", cwd=tmp_path, json_name=None)
    assert r.code == 0 and "B: other" in r.out
    r = pipebench("compare", "1", "9", cwd=tmp_path, json_name=None)
    assert r.code == 2 and "no run #9: 3 runs are recorded" in r.err
