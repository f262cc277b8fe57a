"""`pipebench sweep` on a pipeline with a known cost model, in real runner children.

The cost model sleeps (so a busy CPU barely moves it): per batch 20 ms plus 20 µs per
item, so throughput gains 30% to 95% with each doubling up to 2048; the source holds
``kib_per_item`` KiB per item, so RSS is about 20 MiB + batch_size * kib_per_item KiB; it
raises MemoryError above ``oom_above``. Each size runs 0.8 to 1 s: dozens of batches.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

from tests.integration.helpers import pipebench
from workbench.engine.sweep.run import run_sweep
from workbench.engine.sweep.search import (
    GROW,
    OK,
    OUT_OF_MEMORY,
    OVER_BUDGET,
    REFINE,
    SweepSettings,
)

COST_MODEL = '''
"""A pipeline with a known cost model."""
import time

from workbench import pipeline


def source(batch_size, kib_per_item, oom_above):
    if oom_above and batch_size > oom_above:
        raise MemoryError(f"cannot allocate a batch of {batch_size}")
    held = bytearray(b"\\x01") * (batch_size * kib_per_item * 1024)  # written: resident
    while True:
        time.sleep(0.02 + 2e-5 * batch_size)
        yield [len(held)] * batch_size


def passthrough(batches):
    yield from batches


@pipeline
def costmodel(batch_size: int = 16, kib_per_item: int = 0, oom_above: int = 0):
    """Sleep-based costs per batch and per item; memory grows with the batch size."""
    return source(batch_size, kib_per_item, oom_above), passthrough
'''

MIB = 2**20


def by_size(data):
    return {p["batch_size"]: p for p in data["points"]}


def test_auto_finds_the_fastest_size_within_the_memory_budget(tmp_path, write_module):
    mod = write_module("costmodel", COST_MODEL)
    # 512 holds 128 MiB (about 150 MiB RSS): fits 200 MiB; 768 and 1024 do not.
    r = pipebench(
        "sweep",
        f"{mod}:costmodel",
        "--auto",
        "--min",
        "16",
        "--max",
        "4096",
        "--param",
        "kib_per_item=256",
        "--memory-budget",
        "200MiB",
        "--seconds-per-run",
        "1",
        "--json",
        "sweep.json",
        cwd=tmp_path,
        timeout=150,
    )
    assert r.code == 0, r.err + r.out
    data = json.loads((tmp_path / "sweep.json").read_text())
    points = by_size(data)
    full = len([16, 32, 64, 128, 256, 512, 1024, 2048, 4096])
    assert data["runs"] == len(points) <= full == data["full_power_of_two_runs"]
    assert [p["batch_size"] for p in data["points"] if p["phase"] == GROW] == [
        16,
        32,
        64,
        128,
        256,
        512,
        1024,
    ]
    assert points[1024]["outcome"] == OVER_BUDGET and points[1024]["items_per_s"] is None
    rec = data["recommended"]
    assert rec["batch_size"] in points and points[rec["batch_size"]]["outcome"] == OK
    assert 256 <= rec["batch_size"] <= 1024  # within one power of two of 512
    assert rec["batch_size"] == 512
    assert rec["rss_peak_bytes"] <= 200 * MIB
    for p in data["points"]:  # nothing over the budget counts as fitting
        if p["rss_peak_bytes"] > 200 * MIB:
            assert p["outcome"] == OVER_BUDGET
    # Throughput rises with the batch size as the model says (2x apart at least 16 → 64).
    assert points[64]["items_per_s"] > 1.6 * points[16]["items_per_s"]
    assert data["largest_fit"]["batch_size"] >= rec["batch_size"]
    assert "recommended batch_size 512" in r.out and "largest that fit" in r.out
    # Every point is a run record too, visible to `pipebench history`.
    h = pipebench("history", "costmodel", cwd=tmp_path, json_name=None)
    assert h.code == 0 and h.out.count("costmodel") >= len(points)


def test_failed_sizes_are_points_and_the_list_goes_on(tmp_path, write_module):
    mod = write_module("costmodel", COST_MODEL)
    # 1024 raises MemoryError; 384 (96 MiB held) passes the 100 MiB budget; the rest fit.
    r = pipebench(
        "sweep",
        f"{mod}:costmodel",
        "--batch-sizes",
        "64,1024,384,128,256",
        "--param",
        "kib_per_item=256",
        "--param",
        "oom_above=512",
        "--memory-budget",
        "100MiB",
        "--seconds-per-run",
        "0.8",
        "--json",
        "sweep.json",
        cwd=tmp_path,
        timeout=120,
    )
    assert r.code == 0, r.err + r.out
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert [p["batch_size"] for p in data["points"]] == [64, 1024, 384, 128, 256]
    points = by_size(data)
    assert points[1024]["outcome"] == OUT_OF_MEMORY and "MemoryError" in points[1024]["error"]
    assert points[384]["outcome"] == OVER_BUDGET and points[384]["status"] == "budget_exceeded"
    assert all(points[s]["outcome"] == OK for s in (64, 128, 256))
    assert data["recommended"]["batch_size"] == 256  # 33% below 384, which failed
    assert "MemoryError" in r.out and "passed the memory budget" in r.out


def test_auto_refines_after_an_out_of_memory_and_streams_points(tmp_path, write_module):
    mod = write_module("costmodel", COST_MODEL)
    settings = SweepSettings(
        min_size=64, max_size=2048, seconds_per_run=0.8, params={"oom_above": "300"}
    )
    seen, started = [], []
    result = run_sweep(
        f"{mod}:costmodel",
        settings,
        on_point=seen.append,
        on_start=lambda size, phase: started.append((size, phase)),
    )
    sizes = [(p.batch_size, p.phase, p.outcome) for p in result.points]
    assert sizes == [
        (64, GROW, OK),
        (128, GROW, OK),
        (256, GROW, OK),
        (512, GROW, OUT_OF_MEMORY),
        (192, REFINE, OK),
        (384, REFINE, OUT_OF_MEMORY),
    ]
    assert seen == result.points  # streamed one by one, in order
    assert started == [(p.batch_size, p.phase) for p in result.points]
    assert len(result.points) <= 6  # a full power-of-two sweep 64..2048 is 6 runs
    assert result.answer is not None and result.answer.recommended is not None
    assert result.answer.recommended.batch_size == 256
    assert result.pipeline == "costmodel" and not result.interrupted


def test_cancel_stops_the_run_going_and_keeps_what_was_measured(tmp_path, write_module):
    mod = write_module("costmodel", COST_MODEL)
    cancel = threading.Event()
    # 4096 fails at once (MemoryError); 16 would run 20 s but is cancelled after 0.3 s.
    settings = SweepSettings(sizes=(4096, 16), seconds_per_run=20.0, params={"oom_above": "1000"})

    def on_state(size, state):
        if size == 16 and state.elapsed_s > 0.3:
            cancel.set()

    t0 = time.monotonic()
    result = run_sweep(f"{mod}:costmodel", settings, on_state=on_state, cancel=cancel)
    assert time.monotonic() - t0 < 15
    assert result.interrupted
    assert [(p.batch_size, p.outcome) for p in result.points] == [(4096, OUT_OF_MEMORY)]
    assert result.answer is not None and result.answer.recommended is None


def test_bad_input_is_one_line_and_exit_2(tmp_path, write_module):
    mod = write_module(
        "nobatch",
        """
        from workbench import pipeline

        @pipeline
        def nobatch(rows: int = 10):
            return range(rows),
        """,
    )
    r = pipebench("sweep", f"{mod}:nobatch", "--batch-sizes", "8,16", cwd=tmp_path, json_name=None)
    assert r.code == 2 and "has no parameter 'batch_size'" in r.err
    assert len(r.err.strip().splitlines()) == 1
    r = pipebench(
        "sweep", f"{mod}:nobatch", "--min", "64", "--max", "8", cwd=tmp_path, json_name=None
    )
    assert r.code == 2 and "--min 64 is above --max 8" in r.err
    r = pipebench("sweep", f"{mod}:nobatch", "--batch-sizes", "8,x", cwd=tmp_path, json_name=None)
    assert r.code == 2 and "'x' is not a whole number" in r.err


def test_ctrl_c_ends_the_sweep_with_what_it_measured(tmp_path, write_module):
    mod = write_module("costmodel", COST_MODEL)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workbench.cli.main",
            "sweep",
            f"{mod}:costmodel",
            "--min",
            "16",
            "--seconds-per-run",
            "1",
            "--json",
            "int.json",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "stopped with Ctrl-C" in out
    data = json.loads((tmp_path / "int.json").read_text())
    assert data["interrupted"] and data["runs"] == len(data["points"])
    if data["points"]:
        assert data["recommended"]["batch_size"] in {p["batch_size"] for p in data["points"]}
