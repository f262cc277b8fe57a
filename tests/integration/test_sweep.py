"""`pipebench sweep` on pipelines with a known cost model, in real runner children.

The cost model sleeps (so a busy CPU barely moves it): per batch 20 ms plus 20 µs per
item, so throughput gains 30% to 95% with each doubling up to 2048; the source holds
``kib_per_item`` KiB per item, so RSS is about 20 MiB + batch_size * kib_per_item KiB; it
raises MemoryError above ``oom_above``. Each sample runs 0.3 to 0.5 s: dozens of batches.
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import threading
import time

from tests.integration.helpers import pipebench
from workbench.engine.sweep.answer import NO_GPU
from workbench.engine.sweep.run import run_sweep
from workbench.engine.sweep.search import (
    FILL,
    GROW,
    OK,
    OUT_OF_MEMORY,
    OVER_BUDGET,
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

ONE_LOSS = '''
"""The last stage yields one loss per batch: items out of the chain are batches."""
import time

from workbench import pipeline


def src(batch_size):
    while True:
        time.sleep(0.002 + 2e-5 * batch_size)  # per batch and per item
        yield list(range(batch_size))


def loss(batches):
    for b in batches:
        yield float(sum(b))


@pipeline
def one_loss(batch_size: int = 8):
    """One float per batch out of the chain."""
    return src(batch_size), loss
'''

MIB = 2**20


def by_size(data):
    return {z["batch_size"]: z for z in data["sizes"]}


def test_auto_finds_the_fastest_size_within_the_memory_budget(tmp_path, write_module):
    mod = write_module("costmodel", COST_MODEL)
    # 512 holds 128 MiB (about 150 MiB RSS): fits 200 MiB; 1024 does not.
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
        "0.5",
        "--json",
        "sweep.json",
        cwd=tmp_path,
        timeout=150,
    )
    assert r.code == 0, r.err + r.out
    data = json.loads((tmp_path / "sweep.json").read_text())
    sizes = by_size(data)
    assert data["runs"] == len(data["points"]) <= 9 * 3 == data["full_power_of_two_runs"]
    grown = [z["batch_size"] for z in data["sizes"] if z["phase"] == GROW]
    assert grown == [16, 64, 256, 1024]  # x4, stopped by the budget
    assert data["growth_stopped"] == "1024 passed a memory budget"
    assert sizes[1024]["outcome"] == OVER_BUDGET and sizes[1024]["samples"] == 1
    assert 512 in sizes and sizes[512]["phase"] == FILL
    rec = data["recommended"]
    assert rec["batch_size"] == 512 and rec["samples_ok"] >= 3
    assert rec["rss_peak_bytes"] <= 200 * MIB
    # Every sample is kept, and each size's figure is the median of its samples.
    runs_of = {b: [p for p in data["points"] if p["batch_size"] == b] for b in sizes}
    for b, z in sizes.items():
        assert [p["sample"] for p in runs_of[b]] == list(range(1, z["samples"] + 1))
        assert z["run_ids"] == [p["run_id"] for p in runs_of[b]]
        if z["outcome"] == OK:
            assert z["items_per_s"] == statistics.median(z["sample_items_per_s"])
            assert z["low"] <= z["items_per_s"] <= z["high"]
    for p in data["points"]:  # nothing over the budget counts as fitting
        if p["rss_peak_bytes"] > 200 * MIB:
            assert p["outcome"] == OVER_BUDGET
    assert sizes[64]["items_per_s"] > 1.6 * sizes[16]["items_per_s"]
    assert data["largest_fit"]["batch_size"] == 512  # something failed: named
    assert "recommended batch_size 512" in r.out and "largest that fit" in r.out
    assert not data["items"]["one_item_per_batch"] and data["items"]["warning"] is None
    # Every sample is a run record too, visible to `pipebench history`.
    h = pipebench("history", "costmodel", cwd=tmp_path, json_name=None)
    assert h.code == 0 and h.out.count("costmodel") >= len(data["points"])


def test_listed_sizes_are_sampled_in_interleaved_rounds(tmp_path, write_module):
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
        "0.4",
        "--samples",
        "2",
        "--max-samples",
        "2",
        "--json",
        "sweep.json",
        cwd=tmp_path,
        timeout=120,
    )
    assert r.code == 0, r.err + r.out
    data = json.loads((tmp_path / "sweep.json").read_text())
    order = [p["batch_size"] for p in data["points"]]
    # Failed sizes run once; 64 (30% of 256, even ±10%) is out of the race after one.
    assert order == [64, 1024, 384, 128, 256, 128, 256]
    assert data["out_of_race"] == [64]
    sizes = by_size(data)
    assert sizes[1024]["outcome"] == OUT_OF_MEMORY and "MemoryError" in sizes[1024]["error"]
    assert sizes[384]["outcome"] == OVER_BUDGET
    assert [p["status"] for p in data["points"] if p["batch_size"] == 384] == ["budget_exceeded"]
    assert all(sizes[s]["outcome"] == OK and sizes[s]["samples"] == 2 for s in (128, 256))
    assert data["recommended"]["batch_size"] == 256  # 33% below 384, which failed
    assert "MemoryError" in r.out and "passed the memory budget" in r.out


def test_auto_refines_after_an_out_of_memory_and_streams_samples(tmp_path, write_module):
    mod = write_module("costmodel", COST_MODEL)
    settings = SweepSettings(
        min_size=64, max_size=2048, seconds_per_run=0.4, params={"oom_above": "300"}
    )
    seen, started = [], []
    result = run_sweep(
        f"{mod}:costmodel",
        settings,
        on_point=seen.append,
        on_start=lambda size, phase: started.append((size, phase)),
    )
    firsts = [(p.batch_size, p.phase, p.outcome) for p in result.points if p.sample == 1]
    assert firsts == [
        (64, GROW, OK),
        (256, GROW, OK),
        (1024, GROW, OUT_OF_MEMORY),
        (128, FILL, OK),
        (512, FILL, OUT_OF_MEMORY),  # 50% below 1024: it could have been the one
    ]
    assert seen == result.points  # streamed one by one, in order
    assert started == [(p.batch_size, p.phase) for p in result.points]
    assert len(result.points) <= 6 * 3  # a full power-of-two sweep 64..2048, 3 rounds
    assert result.answer is not None and result.answer.recommended is not None
    assert result.answer.recommended.batch_size == 256
    assert result.answer.recommended.n >= 3
    assert result.pipeline == "costmodel" and not result.interrupted
    assert result.stages == ("source", "passthrough")


def test_one_item_per_batch_is_said_loudly_and_ranked_by_the_batch(tmp_path, write_module):
    mod = write_module("one_loss", ONE_LOSS)
    r = pipebench(
        "sweep",
        f"{mod}:one_loss",
        "--batch-sizes",
        "8,512",
        "--seconds-per-run",
        "0.3",
        "--gpu-memory-budget",
        "1GiB",
        "--json",
        "sweep.json",
        cwd=tmp_path,
        timeout=120,
    )
    assert r.code == 0, r.err + r.out
    data = json.loads((tmp_path / "sweep.json").read_text())
    items = data["items"]
    assert items["one_item_per_batch"] and items["stage"] == "src"
    assert items["ranked_by"] == "items of stage src" and "items=" in items["fix"]
    sizes = by_size(data)
    # Out of the chain 8 moves more values per second; counted in samples, 512 wins.
    assert sizes[8]["out_items_per_s"] > sizes[512]["out_items_per_s"]
    assert sizes[512]["items_per_s"] > sizes[8]["items_per_s"]
    assert data["recommended"]["batch_size"] == 512
    for p in data["points"]:  # each run: what the chain yields and what the ranking counts
        assert abs(p["ranked_items_per_s"] / (p["batch_size"] * p["items_per_s"]) - 1) < 0.02
    out = " ".join(r.out.split())
    assert "⚠ one item per batch: the last stage loss yields one item per batch" in out
    assert "fix: say what a value holds: stage(fn, items=...)" in out
    assert "largest that fit" not in out and data["largest_fit"] is None  # nothing failed
    states = {p["gpu_state"] for p in data["points"]}
    if all(p["gpu_peak_bytes"] is None for p in data["points"]) and states & set(NO_GPU):
        assert "could not be checked" in data["gpu_budget_unchecked"]
        assert "GPU budget of 1.00 GiB could not be checked" in out


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
    r = pipebench(
        "sweep",
        f"{mod}:nobatch",
        "--samples",
        "4",
        "--max-samples",
        "3",
        cwd=tmp_path,
        json_name=None,
    )
    assert r.code == 2 and "--max-samples 3 is below --samples 4" in r.err
    assert len(r.err.strip().splitlines()) == 1


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
