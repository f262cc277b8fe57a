"""The memory of a run's whole process tree, with real processes: DataLoader workers, loky
workers and a multiprocessing producer are counted and named; a memory map's pages show as
file-backed, not private; a budget on private memory holds and kills the whole tree."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import pipebench

MIB = 2**20

TREE = """
import multiprocessing as mp
import time

import numpy as np
from workbench import pipeline, stage

HELD = 60 * 2**20  # each worker or producer holds this much of its own


def _hold():
    return np.ones(HELD // 8)  # touched: resident, anonymous


def numbers(n):
    for i in range(n):
        time.sleep(0.01)
        yield [i] * 8


def _producer(q, n):
    held = _hold()
    for i in range(n):
        time.sleep(0.01)
        q.put([i] * 8)
    q.put(None)
    time.sleep(0.5)
    del held


def from_queue(n):
    q = mp.get_context("fork").Queue(maxsize=16)
    p = mp.get_context("fork").Process(target=_producer, args=(q, n), daemon=True)
    p.start()
    try:
        while (x := q.get()) is not None:
            yield x
    finally:
        p.join(5)


def _torch_source(n):
    import torch
    from torch.utils.data import DataLoader, IterableDataset

    class Held(IterableDataset):
        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            held = _hold()
            for i in range(info.id, n, info.num_workers):
                time.sleep(0.01)
                yield torch.ones(8) * i + float(held[0])

    return DataLoader(Held(), batch_size=None, num_workers=2)


def heavy(x):
    global _kept
    _kept = _hold()  # each loky worker keeps it
    time.sleep(0.01)
    return x


def passthrough(batches):
    for b in batches:
        yield b


@pipeline
def producer(n: int = 120):
    return from_queue(n), passthrough


@pipeline(requires=["torch"])
def dataloader(n: int = 120):
    return _torch_source(n), passthrough


@pipeline
def loky(n: int = 120):
    return numbers(n), stage(heavy, workers=2)


def grow(batches):
    kept = []
    for b in batches:
        kept.append(np.ones(16 * 2**20 // 8))  # 16 MiB a batch, kept
        yield b


@pipeline
def budgeted_producer(n: int = 10_000):
    return from_queue(n), grow
"""

MEMMAP = """
import time

import numpy as np
from workbench import data_file, pipeline

ROWS, DIM = 3 * 2**20, 32  # 384 MiB of float32


def _file():
    def write(tmp):
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(ROWS, DIM))
        for start in range(0, ROWS, 2**18):
            out[start:start + 2**18] = 1.0
        out.flush()
        del out
    return data_file("big.npy", write)


def batches(batch_size):
    data = np.load(_file(), mmap_mode="r")
    for i in range(0, ROWS, batch_size):
        yield data[i:i + batch_size]  # a view: its pages stay mapped


def means(it):
    for b in it:
        time.sleep(0.002)  # ~0.8 s in all: the readings see the pages come in
        yield b.mean(axis=1)


@pipeline
def streamed(batch_size: int = 8192):
    return batches(batch_size), means
"""


def rows_by_role(rep: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for p in rep["memory"]["processes"]:
        out.setdefault(p["role"], []).append(p)
    return out


def alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it is gone already)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def run(path: Path, name: str, tmp_path: Path, *extra: str) -> Any:
    return pipebench("run", f"{path}:{name}", *extra, cwd=tmp_path, timeout=240)


def test_a_multiprocessing_producer_is_counted(write_module: Any, tmp_path: Path) -> None:
    path = write_module("tree_mod", TREE)
    r = run(path, "producer", tmp_path)
    assert r.code == 0, r.err
    rep = r.report
    roles = rows_by_role(rep)
    assert "runner" in roles and "multiprocessing child" in roles, roles.keys()
    producer = roles["multiprocessing child"][0]
    assert producer["peak"]["private_bytes"] >= 55 * MIB  # its 60 MiB, measured from outside
    assert rep["memory"]["peak"]["private_bytes"] >= producer["peak"]["private_bytes"]
    assert not producer["alive"]  # ended with the run


def test_dataloader_workers_are_counted(write_module: Any, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    path = write_module("tree_mod", TREE)
    r = run(path, "dataloader", tmp_path)
    assert r.code == 0, r.err
    workers = rows_by_role(r.report).get("DataLoader worker", [])
    assert len(workers) == 2, rows_by_role(r.report).keys()
    assert all(w["peak"]["private_bytes"] >= 55 * MIB for w in workers)
    assert "DataLoader worker ×2" in r.out  # one row for the group, in the headless view


def test_loky_workers_are_counted(write_module: Any, tmp_path: Path) -> None:
    path = write_module("tree_mod", TREE)
    r = run(path, "loky", tmp_path)
    assert r.code == 0, r.err
    workers = rows_by_role(r.report).get("loky worker", [])
    assert workers and max(w["peak"]["private_bytes"] for w in workers) >= 55 * MIB


def test_a_memory_map_is_file_backed_and_not_private(write_module: Any, tmp_path: Path) -> None:
    path = write_module("memmap_mod", MEMMAP)
    r = run(path, "streamed", tmp_path, "--memory-budget", "256MiB")
    assert r.code == 0, (r.out, r.err)  # the budget is on private memory: the map is not
    m = r.report["memory"]
    assert m["rss_peak_bytes"] >= 300 * MIB  # the mapped file's pages are resident
    assert m["file_peak_bytes"] >= 300 * MIB
    assert m["private_peak_bytes"] - m["private_start_bytes"] <= 64 * MIB
    assert "file-backed" in r.out
    # The same budget on RSS is passed, and the run says by what.
    r = run(path, "streamed", tmp_path, "--memory-budget", "256MiB", "--budget-on", "rss")
    assert r.code == 1 and r.report["status"] == "budget_exceeded"
    assert r.report["stop_reason"] == "memory_budget"
    assert "rss memory" in r.report["message"]


def test_a_budget_kills_the_whole_tree(write_module: Any, tmp_path: Path) -> None:
    path = write_module("tree_mod", TREE)
    r = run(path, "budgeted_producer", tmp_path, "--memory-budget", "200MiB")
    assert r.code == 1, (r.out, r.err)
    rep = r.report
    assert rep["status"] == "budget_exceeded" and rep["stop_reason"] == "memory_budget"
    m = rep["memory"]
    assert m["budget_crossed_ns"] is not None
    assert m["private_peak_bytes"] > 200 * MIB
    assert m["private_peak_bytes"] < 200 * MIB * 1.6  # stopped, not left to grow
    pids = [p["pid"] for p in m["processes"]]
    assert len(pids) >= 2 and not any(alive(pid) for pid in pids)  # nothing left behind
    assert "most in" in rep["message"]  # which process held most


def test_the_end_figures_are_the_last_reading_of_a_tree_that_is_gone() -> None:
    """Once every process of the tree has exited, ``now`` keeps the last reading (the
    report's ``*_end_bytes``), not the zero total of no live process."""
    import subprocess
    import sys
    import time

    from workbench.engine.sections.memory import TreeSampler

    code = "import sys; x = bytearray(40 * 2**20); sys.stdin.read()"
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    try:
        tree = TreeSampler(proc.pid)
        for _ in range(500):  # until the bytearray is resident (at most 10 s)
            if tree.sample(discover=True).private >= 40 * MIB:
                break
            time.sleep(0.02)
        last = tree.now
        assert last.private >= 40 * MIB
    finally:
        proc.communicate(b"")
    tree.sample(discover=True)
    assert tree.section().processes[0].alive is False
    assert tree.now == last


SHORT_SPIKE = """
import numpy as np
from workbench import pipeline


def spike():
    held = np.ones(200 * 2**20 // 8)  # 200 MiB touched, then let go, within a few ms
    del held
    yield [1]


@pipeline
def short(prep_mib: int = 120):
    prepared = np.ones(prep_mib * 2**20 // 8)  # data preparation: before the chain
    del prepared
    return (spike(),)
"""


def test_a_spike_in_a_chain_shorter_than_a_reading_is_in_the_peak(
    tmp_path: Path, write_module
) -> None:
    """The runner resets its own VmHWM as its chain starts and reports it at its end: the
    peak holds a spike no reading saw, and the data preparation's peak is told apart."""
    mod = write_module("short_spike", SHORT_SPIKE)
    r = pipebench("run", f"{mod}:short", cwd=tmp_path)
    assert r.code == 0, r.err
    mem = r.report["memory"]
    assert mem["rss_peak_bytes"] >= 200 * MIB, mem["rss_peak_bytes"] / MIB
    assert mem["rss_peak_bytes"] < 320 * MIB  # not the preparation's peak on top
    assert mem["runner_startup_peak_rss_bytes"] >= 120 * MIB
    assert (mem["uss_peak_bytes"] or 0) <= mem["rss_peak_bytes"]


SPIKE = """
import ctypes

from workbench import pipeline

SIZE = 300 * 2**20


def once():
    yield 1


def spike(it):
    for x in it:
        # 300 MiB touched and freed inside one C call: no reading may fall inside it
        buf = ctypes.create_string_buffer(SIZE)
        del buf
        yield x


@pipeline
def spiked(batch_size: int = 1):
    return once(), spike
"""


def test_a_spike_between_two_readings_still_fails_the_budget(
    write_module: Any, tmp_path: Path
) -> None:
    """The kernel's high-water mark saw what the readings may have missed: the budget on
    RSS is a promise about the peak, so the run is budget_exceeded however short the spike."""
    path = write_module("spike_mod", SPIKE)
    r = run(path, "spiked", tmp_path, "--memory-budget", "200MiB", "--budget-on", "rss")
    assert r.code == 1, (r.out, r.err)
    assert r.report["status"] == "budget_exceeded"  # caught live, or after the fact
    assert "rss memory" in r.report["message"] and "200 MiB" in r.report["message"]
    # Without a budget the same run finishes, and its peak is the same spike.
    r = run(path, "spiked", tmp_path)
    assert r.code == 0 and r.report["memory"]["rss_peak_bytes"] >= 300 * MIB


STILL = """
import time

from workbench import pipeline, timed


def numbers(n, batch_size):
    for i in range(n):
        yield [i] * batch_size


def pause(batches):
    for b in batches:
        with timed("pause"):  # a context: the runner reads and sends its section
            time.sleep(0.03)
        yield b


@pipeline
def still(batch_size: int = 8, n: int = 15):
    return numbers(n, batch_size), pause
"""


def test_pipebench_s_own_work_in_the_runner_is_not_the_run_s_memory(
    write_module: Any, tmp_path: Path
) -> None:
    """A chain that holds nothing more after its start grows by nothing: what pipebench
    does in the runner (reading and sending its sections, its last report after the chain
    closed) is not counted as the run's memory. Each run is one chance for a reading to
    fall on that work, so several are made."""
    path = write_module("still_mod", STILL)
    for _ in range(4):
        r = run(path, "still", tmp_path)
        assert r.code == 0, r.err
        m = r.report["memory"]
        grown = {
            what: m[f"{what}_peak_bytes"] - m[f"{what}_start_bytes"] for what in ("private", "rss")
        }
        # The kernel's counters move in pages and per-CPU batches: a few hundred KiB is noise,
        # the msgspec import (~0.6 MiB private, 1.2 MiB RSS) is not.
        assert grown["private"] < 384 * 2**10, grown
        assert grown["rss"] < 768 * 2**10, grown
        assert m["runner_hwm_bytes"] - m["rss_start_bytes"] < 768 * 2**10, m


def test_a_process_seen_before_its_exec_is_named_after_it() -> None:
    """``subprocess.Popen`` forks, then runs the program: a descendant found in between
    has the runner's name and command line, and is named again once it has exec'd."""
    import subprocess
    import sys
    import time

    from workbench.engine.sections.memory import TreeSampler

    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    time.sleep(0.4)\n"
        "    os.execvp('sleep', ['sleep', '5'])\n"
        "time.sleep(5)\n"
    )
    root = subprocess.Popen([sys.executable, "-c", code])
    try:
        tree = TreeSampler(root.pid)
        deadline = time.monotonic() + 5
        while len(tree.procs) < 2 and time.monotonic() < deadline:
            tree.sample(discover=True)
        (child,) = (p for p in tree.procs.values() if p.pid != root.pid)
        assert child.name.startswith("python"), child  # seen before its exec
        time.sleep(0.8)
        tree.sample(discover=True)
        assert (child.role, child.name) == ("subprocess (sleep)", "sleep"), child
    finally:
        for p in list(tree.procs):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        root.wait()


FREED = """
from workbench import pipeline


def items():
    yield from range(3)


def spike(it):
    for x in it:
        held = b"\\x01" * (120 << 20)  # touched, then freed within the item
        del held
        yield x


@pipeline
def freed(batch_size: int = 1):
    return items(), spike
"""


def test_the_end_figures_are_after_the_chain_not_a_reading_inside_its_last_spike(
    write_module: Any, tmp_path: Path
) -> None:
    """The runner reads its own memory as its chain has closed: a parent's reading a tick
    before may have fallen inside a spike the chain then freed. The peak still has it."""
    path = write_module("freed_mod", FREED)
    for _ in range(2):
        r = run(path, "freed", tmp_path)
        assert r.code == 0, r.err
        m = r.report["memory"]
        assert m["rss_peak_bytes"] >= 120 * MIB  # the kernel's high-water mark saw it
        assert m["private_end_bytes"] - m["private_start_bytes"] < 16 * MIB, m
        assert m["rss_end_bytes"] - m["rss_start_bytes"] < 16 * MIB, m
        assert "a spike shorter than a reading shows in RSS only" in " ".join(r.out.split())


MANY_BLOCKS = """
from workbench import pipeline, timed


def numbers(n):
    for i in range(n):
        yield [i] * 8


def step(batches):
    for b in batches:
        with timed("step"):  # a context per batch, closed at once: thousands of records
            out = [x + 1 for x in b]
        yield out


@pipeline
def blocks(batch_size: int = 8, n: int = 3000):
    return numbers(n), step
"""


def test_a_context_per_batch_costs_the_runner_less_than_the_allocator_s_churn(
    write_module: Any, tmp_path: Path
) -> None:
    """The runner sends the contexts it recorded while the chain runs; what that costs it
    counts in the run's memory. Live readings hold the last few closed contexts (the
    report all that are kept), so a chain that holds nothing stays under the 1 MiB that
    ``compare`` reads as the allocator's churn (200 records a reading kept 1.3-1.8 MiB)."""
    path = write_module("blocks_mod", MANY_BLOCKS)
    for _ in range(2):
        r = run(path, "blocks", tmp_path)
        assert r.code == 0, r.err
        m = r.report["memory"]
        # Measured however short the chain: the runner's own readings at its start and end.
        assert m is not None and m["samples"] >= 2, r.out
        assert m["private_peak_bytes"] - m["private_start_bytes"] < 2**20, m
        ctx = r.report["contexts"]
        assert len(ctx["records"]) == 200 and ctx["total"] == 3000  # the report: all kept
