"""`pipebench run` on real pipelines in real runner child processes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.integration.helpers import EXAMPLES, pipebench


def test_jsonl_tokens_report(tmp_path, pipebench_home):
    r = pipebench(
        "run",
        f"{EXAMPLES}/jsonl_tokens.py:jsonl_tokens",
        "--batch-size",
        "50",
        "--param",
        "rows=30000",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    rep = r.report
    assert rep["status"] == "finished" and rep["error"] is None
    assert rep["pipeline"] == "jsonl_tokens" and rep["module"] == "jsonl_tokens"
    assert rep["params"] == {"batch_size": 50, "rows": 30000}
    assert [s["name"] for s in rep["stages"]] == ["read_jsonl", "tokenize", "to_features"]
    for s in rep["stages"]:
        assert s["items"] == 30000 and s["batches"] == 600
        assert s["items_per_s"] > 0 and 0 <= s["self_pct"] <= 100
    assert sum(s["bottleneck"] for s in rep["stages"]) == 1
    # Self times (plus the sink's share) account for the chain's wall time within 5%.
    total = sum(s["self_s"] for s in rep["stages"]) + rep["sink_s"]
    assert abs(total - rep["duration_s"]) <= 0.05 * rep["duration_s"]
    mem = rep["memory"]
    assert 0 < mem["rss_start_bytes"] <= mem["rss_peak_bytes"]
    assert mem["rss_end_bytes"] > 0 and mem["uss_peak_bytes"] > 0
    # The printed table names every stage and the bottleneck.
    for name in ("read_jsonl", "tokenize", "to_features", "bottleneck", "finished"):
        assert name in r.out
    # The run record is written too, the same report.
    records = list((pipebench_home / "runs").glob("*.json"))
    assert len(records) == 1
    assert json.loads(records[0].read_text())["run_id"] == rep["run_id"]


def test_peak_rss_agrees_with_the_kernel_high_water_mark(tmp_path):
    # A wrapper process runs pipebench and reports getrusage(RUSAGE_CHILDREN).ru_maxrss: the
    # kernel's own peak RSS over its descendants, the runner child being the largest.
    wrapper = (
        "import resource, subprocess, sys\n"
        "subprocess.run([sys.executable, '-m', 'workbench.cli.main', *sys.argv[1:]], check=True,"
        " stdout=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)\n"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            wrapper,
            "run",
            f"{EXAMPLES}/jsonl_tokens.py:jsonl_tokens_load_all",
            "--param",
            "rows=60000",
            "--json",
            "run.json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    kernel_peak = int(out.stdout.split()[-1])
    mem = json.loads((tmp_path / "run.json").read_text())["memory"]
    assert mem["rss_peak_bytes"] - mem["rss_start_bytes"] > 20 * 2**20  # the list shows
    assert abs(mem["rss_peak_bytes"] - kernel_peak) <= 0.05 * kernel_peak


def test_numpy_batches_under_a_memory_budget(tmp_path):
    r = pipebench(
        "run",
        f"{EXAMPLES}/numpy_batches.py:numpy_batches",
        "--batch-size",
        "256",
        "--param",
        "size=20000",
        "--memory-budget",
        "2GiB",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    assert r.report["status"] == "finished"
    assert r.report["stages"][-1]["items"] == 20000
    assert r.report["options"]["memory_budget_bytes"] == 2 * 1024**3


def test_memmap_twin(tmp_path):
    r = pipebench(
        "run",
        f"{EXAMPLES}/numpy_batches.py:numpy_batches_memmap",
        "--param",
        "size=20000",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    assert r.report["stages"][0]["items"] == 20000


def test_torch_dataloader_sources(tmp_path):
    pytest.importorskip("torch")
    r = pipebench(
        "run",
        f"{EXAMPLES}/jsonl_tokens.py:jsonl_tokens_torch",
        "--param",
        "rows=2000",
        "--batch-size",
        "100",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    assert r.report["stages"][0]["name"] == "DataLoader"
    assert r.report["stages"][0]["items"] == 2000 and r.report["stages"][0]["batches"] == 20
    r = pipebench(
        "run",
        f"{EXAMPLES}/numpy_batches.py:numpy_batches_torch",
        "--param",
        "size=5000",
        "--batch-size",
        "500",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    assert r.report["stages"][0]["items"] == 5000  # tensors count their leading dimension


def test_limits_stop_the_run(tmp_path):
    r = pipebench(
        "run",
        f"{EXAMPLES}/jsonl_tokens.py:jsonl_tokens",
        "--param",
        "rows=3000",
        "--batch-size",
        "10",
        "--max-batches",
        "7",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    assert (r.report["status"], r.report["stop_reason"]) == ("stopped", "max_batches")
    assert r.report["stages"][-1]["batches"] == 7


def test_module_name_target(tmp_path, write_module):
    r = pipebench(
        "run", "workbench.examples.jsonl_tokens:jsonl_tokens", "--param", "rows=500", cwd=tmp_path
    )
    assert r.code == 0, r.err
    assert r.report["items"] == 500


def test_list_shows_pipelines_and_unavailable_ones(tmp_path, write_module):
    write_module(
        "needs_gpu_lib",
        """
        from workbench import pipeline

        @pipeline(requires=["surely_not_a_module_xyz"])
        def fancy(batch_size: int = 4):
            return range(10)

        @pipeline
        def plain(batch_size: int = 4):
            return range(10)
    """,
    )
    write_module("broken", "def f(:\n")
    r = pipebench("list", str(tmp_path / "mods"), cwd=tmp_path)
    assert r.code == 0, r.err
    out = " ".join(r.out.split())
    assert "needs_gpu_lib.py:plain" in out and "needs_gpu_lib.py:fancy" in out
    assert "unavailable" in out and "surely_not_a_module_xyz" in out
    assert "broken.py" in out and "syntax error" in out


def test_list_defaults_to_the_bundled_examples(tmp_path):
    r = pipebench("list", cwd=tmp_path)
    assert r.code == 0, r.err
    assert "jsonl_tokens.py:jsonl_tokens" in r.out
    assert "numpy_batches.py:numpy_batches_memmap" in r.out


SLOW_FACTORY = """
import time
from workbench import pipeline


def ticks():
    while True:
        time.sleep(0.01)
        yield [1]


@pipeline
def slow_prep():
    time.sleep(1.5)  # preparing data, longer than the time limit
    return (ticks(),)
"""


def test_the_time_limit_counts_from_the_chain_not_the_data_preparation(tmp_path, write_module):
    mod = write_module("slow_prep", SLOW_FACTORY)
    r = pipebench("run", str(mod), "--max-seconds", "1", cwd=tmp_path)
    assert r.code == 0, r.err
    rep = r.report
    assert rep["status"] == "stopped" and rep["stop_reason"] == "max_seconds"
    assert not rep["cancelled"] and rep["batches"] > 20  # about 1 s of the chain ran
    assert 0.9 <= rep["duration_s"] < 2.5


def test_listing_isolates_each_module(tmp_path):
    """One module hangs at import, one exits, one starts a process in its own session: each
    is listed with its own reason, the good ones are described, nothing is left running."""
    import psutil

    from workbench.engine.catalog import discover

    (tmp_path / "a_hangs.py").write_text("import time\ntime.sleep(1e6)\n")
    (tmp_path / "b_exits.py").write_text("import os\nos._exit(0)\n")
    (tmp_path / "c_spawns.py").write_text(
        "import subprocess\nsubprocess.Popen(['sleep', '3612'], start_new_session=True)\n"
    )
    good = "from workbench import pipeline\n@pipeline\ndef {n}(batch_size: int = 1):\n    return (iter(range(3)),)\n"
    (tmp_path / "d_good.py").write_text(good.format(n="good"))
    infos = {m.name: m for m in discover(tmp_path, timeout=5)}
    assert "did not finish within 5 s" in infos["a_hangs"].error
    assert "ended its process" in infos["b_exits"].error
    assert infos["c_spawns"].error is None and infos["d_good"].error is None
    assert [p.name for p in infos["d_good"].pipelines] == ["good"]
    assert not [
        p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "3612"]
    ]


MARKUP_NAMES = """
from workbench import pipeline, timed


def numbers(n):
    for i in range(n):
        yield [i]


def stage(batches):
    for b in batches:
        with timed("split on [/\\\\s]+ \\x1b]0;TITLE\\x07 [link=file:///etc/passwd]L[/link]"):
            pass
        yield b


@pipeline
def named(batch_size: int = 1, n: int = 20):
    return numbers(n), stage
"""


def test_a_context_named_with_markup_and_escapes_is_shown_as_text(tmp_path, write_module):
    """The contexts table and its caption (repeated names) show the pipeline's names as
    text: '[/...' crashed the report, an escape reached the terminal."""
    mod = write_module("markup_names", MARKUP_NAMES)
    r = pipebench("run", str(mod), cwd=tmp_path)
    assert r.code == 0, r.err
    assert "\x1b" not in r.out and "\x07" not in r.out
    assert "[/\\s]+" in r.out and "Traceback" not in r.out + r.err
    assert r.report is not None and r.report["status"] == "finished"
