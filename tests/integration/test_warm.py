"""Warm starts with real processes: a runner forked from a server that imported the module
once measures the same run, starts sooner, follows the file when it changes, and falls back
to a cold start, saying why, where forking would be unsafe."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from workbench.engine.follow import follow_run
from workbench.engine.runner import RunOptions
from workbench.engine.session import RunState, report
from workbench.engine.warm import POOL

SLOW_IMPORT = """
import time
time.sleep(1.5)  # a heavy import (torch takes about this long here)
from workbench import pipeline

VERSION = {version}

def numbers(n):
    for i in range(n):
        yield [i] * 8

def tag(batches):
    for b in batches:
        yield [x + VERSION for x in b]

@pipeline
def p(batch_size: int = 8, n: int = 200):
    return numbers(n), tag
"""

THREADED = """
import threading, time
from workbench import pipeline

threading.Thread(target=time.sleep, args=(60,), daemon=True, name="poller").start()

@pipeline
def p(batch_size: int = 1):
    return iter(range(10)), lambda it: iter(it)
"""


def ready(target: str) -> None:
    """Wait for the module's warm server (the first warm run starts it, and runs cold)."""
    POOL.server(target, None, wait=True)


def run(target: str, **options: Any) -> tuple[RunState, float]:
    """The run's final state and the seconds from asking to its first batch."""
    asked = time.monotonic_ns()
    state = follow_run(target, RunOptions(max_seconds=60, **options))
    first = report(state)["timing"]["first_batch_ns"]
    return state, (first - asked) / 1e9


def notes(state: RunState) -> list[str]:
    return [line for line in state.log_tail if line.startswith("[pipebench]")]


def test_a_warm_run_skips_the_import_and_measures_the_same(write_module: Any) -> None:
    path = write_module("slow_mod", SLOW_IMPORT.format(version=1))
    target = f"{path}:p"
    cold, cold_s = run(target)
    first, first_s = run(target, warm=True)  # starts the server, and runs cold meanwhile
    assert first_s > 1.5 and first.log_tail == cold.log_tail
    ready(target)
    warm, warm_s = run(target, warm=True)
    assert cold.status == warm.status == "finished"
    assert cold_s > 1.5 > warm_s  # the 1.5 s import is gone from the restart
    assert report(warm)["items"] == report(cold)["items"] == 1600
    assert [r["batches"] for r in report(warm)["stages"]] == [200, 200]
    assert not notes(warm)
    # The runner is a child of the warm server, not of pipebench: forked, not spawned.
    assert warm.hello is not None and warm.hello.pid != cold.hello.pid


def test_the_server_follows_the_file_when_it_changes(write_module: Any, tmp_path: Path) -> None:
    path = write_module("changing_mod", SLOW_IMPORT.format(version=1))
    target = f"{path}:p"
    run(target, warm=True)
    ready(target)
    before, _ = run(target, warm=True)
    write_module("changing_mod", SLOW_IMPORT.format(version=1000))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    after, after_s = run(target, warm=True)
    assert after_s > 1.5  # a new server imported the new file
    assert before.status == after.status == "finished"


def test_python_threads_at_import_mean_a_cold_start_said_so(write_module: Any) -> None:
    path = write_module("threaded_mod", THREADED)
    run(f"{path}:p", warm=True)  # cold: the server is started
    ready(f"{path}:p")
    state, _ = run(f"{path}:p", warm=True)
    assert state.status == "finished"
    said = notes(state)
    assert any("started cold" in n and "poller" in n for n in said), said


TWO_PIPELINES = """
from workbench import pipeline


def numbers(n):
    for i in range(n):
        yield [i] * 8


@pipeline
def light(batch_size: int = 8, n: int = 200):
    return (numbers(n),)


@pipeline(requires=["torch"])
def heavy(batch_size: int = 8, n: int = 200):
    import torch

    return numbers(n), lambda it: (torch.tensor(b) for b in it)
"""


def test_a_warm_run_holds_the_memory_of_a_cold_run_of_its_pipeline(write_module: Any) -> None:
    """The warm server of ``light`` does not import what ``heavy`` requires (torch, over
    100 MiB): a forked ``light`` run starts with the memory a cold one has."""
    path = write_module("two_pipes", TWO_PIPELINES)
    target = f"{path}:light"
    cold, _ = run(target)
    run(target, warm=True)
    ready(target)
    warm, _ = run(target, warm=True)
    assert warm.hello is not None and cold.hello is not None
    assert warm.hello.pid != cold.hello.pid and not notes(warm)  # forked, in fact
    cold_start = report(cold)["memory"]["private_start_bytes"]
    warm_start = report(warm)["memory"]["private_start_bytes"]
    assert abs(warm_start - cold_start) < 20 * 2**20, (cold_start, warm_start)
