"""Parallel map stages: ``stage(fn, workers=N)`` fanned out with joblib, lazily and bounded.

The main thread keeps owning the chain. It takes values from upstream itself, so the
probes charge upstream's time to upstream and a user's generator never runs on a joblib
thread (joblib's own streaming would pull its input from a callback thread). It hands them
to ``joblib.Parallel`` calls of at most ``pre_dispatch / 2`` values each, two calls at a
time: while the results of one are yielded (``return_as="generator"``, or
``"generator_unordered"``), the other is computing. So at most ``pre_dispatch`` values are
in flight, memory stays bounded and the chain stays lazy.

The first values go through ``fn`` in the main thread: that is the serial rate the parallel
efficiency is measured against. Counters live in ``ParallelStats``, one per stage, listed in
``REGISTRY`` for the runner's ``parallel`` section.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from workbench.authoring.items import count_items
from workbench.authoring.parallel_backends import (
    PROCESS_BACKENDS,
    Opened,
    choice_from_env,
    dumps_function,
    open_backend,
)

#: The serial measurement, in the main thread: values until WARMUP_S in ``fn`` (at least
#: one) are a warm-up (imports, caches, a CPU clock still ramping up), then values are
#: measured until a second in ``fn``, or 3 values and 0.3 s, or MEASURE_MAX values. The
#: serial rate is from the median time per item, so a slow outlier does not flatter the
#: efficiency.
WARMUP_S = 0.2
MEASURE_S, MEASURE_MIN, MEASURE_MIN_S, MEASURE_MAX = 1.0, 3, 0.3, 20

_HOST = socket.gethostname()
#: Worker side: stage functions already unpickled, by payload (at most a few per run).
_LOADED: dict[bytes, Callable[[Any], Any]] = {}


def _load_task(payload: bytes, name: str) -> _Task:
    """Unpickle a task; its function is unpickled when first called (so that a Dask
    scheduler, which unpickles and re-pickles tasks, never needs the stage's imports)."""
    return _Task(None, payload, name=name)


class _Task:
    """Runs the stage function on one value, timed where it runs: (result, wall s, CPU s of
    its thread, worker)."""

    def __init__(
        self,
        fn: Callable[[Any], Any] | None,
        payload: bytes | None = None,
        gate: threading.BoundedSemaphore | None = None,
        name: str | None = None,
    ):
        self.fn = fn
        self.__name__ = name or getattr(fn, "__name__", None) or "stage"  # in Dask's task names
        self.payload = payload  # the function pickled for process workers
        self.gate = gate  # threading: at most `workers` calls at once over both pools

    def __reduce__(self) -> Any:
        if self.payload is None:
            raise TypeError("this stage function was not prepared for a process backend")
        return (_load_task, (self.payload, self.__name__))

    def __call__(self, value: Any) -> tuple[Any, float, float, str]:
        if self.gate is None:
            return self.run(value)
        with self.gate:
            return self.run(value)

    def run(self, value: Any) -> tuple[Any, float, float, str]:
        fn = self.fn if self.fn is not None else self._load()
        t0, c0 = time.perf_counter(), time.thread_time()
        out = fn(value)
        return (
            out,
            time.perf_counter() - t0,
            time.thread_time() - c0,
            f"{_HOST}:{os.getpid()}:{threading.get_ident()}",
        )

    def _load(self) -> Callable[[Any], Any]:
        assert self.payload is not None
        fn = _LOADED.get(self.payload)
        if fn is None:
            import pickle

            fn = pickle.loads(self.payload)
            if len(_LOADED) >= 32:
                _LOADED.pop(next(iter(_LOADED)))
            _LOADED[self.payload] = fn
        self.fn = fn
        return fn


class ParallelStats:
    """One parallel stage's counters: written by the main thread, read by the sampler."""

    def __init__(
        self,
        name: str,
        index: int | None,
        opened: Opened,
        requested: int,
        ordered: bool,
        max_in_flight: int,
    ):
        self.name, self.index, self.ordered = name, index, ordered
        self.backend = opened.choice.name
        self.scheduler = opened.choice.scheduler
        self.workers, self.requested = opened.workers, requested
        self.extra = dict(opened.extra)
        self.max_in_flight = max_in_flight
        self.state = "serial"  # serial -> parallel -> done | failed | closed
        self.error: str | None = None
        self.items = self.batches = 0
        self.serial_values = 0  # measured, the warm-up excluded
        self.serial_s = self.warmup_s = 0.0
        self.warmup_values = 0
        self.serial_per_item: list[float] = []
        self.serial_per_value: list[float] = []
        self.dispatched = self.completed = self.peak_in_flight = 0
        self.parallel_items = 0
        self.busy_s = self.cpu_s = self.wait_s = 0.0
        self.started: float | None = None  # first dispatch, monotonic
        self.first_result: float | None = None
        self.first_items = 0
        self.first_busy = self.first_wait = self.first_cpu = 0.0
        self.ended: float | None = None
        self.workers_seen: set[str] = set()

    def serial_value(self, items: int, seconds: float) -> bool:
        """Count one value run serially; True once the serial rate is measured."""
        if self.warmup_values == 0 or self.warmup_s < WARMUP_S:
            self.warmup_values += 1
            self.warmup_s += seconds
            return False
        self.serial_values += 1
        self.serial_s += seconds
        self.serial_per_value.append(seconds)
        if items:
            self.serial_per_item.append(seconds / items)
        n, t = self.serial_values, self.serial_s
        return t >= MEASURE_S or n >= MEASURE_MAX or (n >= MEASURE_MIN and t >= MEASURE_MIN_S)

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """The stage's figures now, as JSON-able data (see ``verdict``)."""
        end = self.ended or now or time.monotonic()
        per_item = _median(self.serial_per_item)
        serial_rate = 1.0 / per_item if per_item else None
        wall = end - self.started if self.started is not None else 0.0
        steady_s = end - self.first_result if self.first_result is not None else 0.0
        steady_items = self.parallel_items - self.first_items
        rate = steady_items / steady_s if steady_s > 0 and steady_items > 0 else None
        busy = (self.busy_s - self.first_busy) / (self.workers * steady_s) if steady_s > 0 else None
        waiting = (self.wait_s - self.first_wait) / steady_s if steady_s > 0 else None
        busy_after = self.busy_s - self.first_busy
        cpu_share = (self.cpu_s - self.first_cpu) / busy_after if busy_after > 0 else None
        speedup = rate / serial_rate if rate and serial_rate else None
        task_s = self.busy_s / self.completed if self.completed else None
        serial_task_s = _median(self.serial_per_value)
        d: dict[str, Any] = {
            "stage": self.name,
            "index": self.index,
            "backend": self.backend,
            "scheduler": self.scheduler,
            "state": self.state,
            "error": self.error,
            "workers": self.workers,
            "requested_workers": self.requested,
            "ordered": self.ordered,
            "max_in_flight": self.max_in_flight,
            "in_flight": self.dispatched - self.completed,
            "peak_in_flight": self.peak_in_flight,
            "dispatched": self.dispatched,
            "completed": self.completed,
            "items": self.items,
            "batches": self.batches,
            "parallel_items": self.parallel_items,
            "items_per_s": rate,
            "serial_batches": self.serial_values,
            "warmup_batches": self.warmup_values,
            "serial_items_per_s": serial_rate,
            "speedup": speedup,
            "efficiency": speedup / self.workers if speedup else None,
            "busy_s": self.busy_s,
            "wait_s": self.wait_s,
            "parallel_s": wall,
            "utilization": min(1.0, busy) if busy is not None else None,
            "waiting": min(1.0, waiting) if waiting is not None else None,
            "cpu_s": self.cpu_s,
            "cpu_share": cpu_share,
            "task_s": task_s,
            "serial_task_s": serial_task_s,
            "startup_s": (
                self.first_result - self.started
                if self.first_result is not None and self.started is not None
                else None
            ),
            "workers_seen": len(self.workers_seen),
            **self.extra,
        }
        d["verdict"] = verdict(d)
        return d


def _median(xs: list[float]) -> float | None:
    if not xs:
        return None
    ys = sorted(xs)
    mid = len(ys) // 2
    return ys[mid] if len(ys) % 2 else (ys[mid - 1] + ys[mid]) / 2


def verdict(d: dict[str, Any]) -> str:
    """One line on what limits a parallel stage, from its figures (after start-up)."""
    if d["state"] == "failed":
        return f"failed: {d['error']}"
    if d["completed"] < 2 * d["workers"]:
        if d["state"] == "serial":
            return "measuring the serial rate (the first values run in the main thread)"
        return "too few parallel results yet to judge"
    util, eff = d["utilization"] or 0.0, d["efficiency"] or 0.0
    waiting = d["waiting"] or 0.0
    task_ms = 1000 * (d["task_s"] or 0.0)
    if util >= 0.75:
        if eff >= 0.75:
            return (
                f"compute-bound: workers {util:.0%} busy, {eff:.0%} efficient; more "
                "workers would raise its rate"
            )
        slow = (d["task_s"] or 0.0) / (d["serial_task_s"] or 1.0)
        share = d.get("cpu_share")
        if share is not None and share < 0.8:
            return (
                f"workers {util:.0%} busy but running on a CPU only {share:.0%} of that "
                f"time (a task takes {slow:.1f}x its serial time): the cores are taken, by "
                "other processes, more workers than cores or (threading) the GIL"
            )
        return (
            f"workers {util:.0%} busy but a task takes {slow:.1f}x its serial time: they "
            "contend for caches or memory bandwidth, or pay a cold start"
        )
    if waiting >= 0.5:
        return (
            f"overhead-bound: the main thread waited {waiting:.0%} of the time while the "
            f"workers were {util:.0%} busy ({task_ms:.1f} ms a task): moving values and "
            "results between processes and joblib's dispatch cost more than the "
            "compute; larger batches or smaller results help, more workers would not"
        )
    return (
        f"fed too slowly: workers {util:.0%} busy and the main thread waited only "
        f"{waiting:.0%} of the time: the other stages on the main thread (upstream, "
        "downstream) set the pace; more workers would not help"
    )


#: Every parallel stage of this process, in the order the chain was built.
REGISTRY: list[ParallelStats] = []


def fan_out(stage: Any, upstream: Iterator[Any]) -> Iterator[Any]:
    """The output of ``stage`` (a ``Stage`` with ``workers``) over ``upstream``.

    The backend is checked, the function pickled and a Dask scheduler reached here, when
    the chain is built, so that a bad choice fails before the first item with one line.
    """
    choice = choice_from_env()
    payload = None
    if choice.name in PROCESS_BACKENDS:
        payload = dumps_function(stage.fn, choice.name, stage.name)
    opened = open_backend(choice, stage.workers)
    in_flight = stage.pre_dispatch or 2 * opened.workers
    up_index = getattr(upstream, "index", None)
    stats = ParallelStats(
        stage.name,
        up_index + 1 if isinstance(up_index, int) else None,
        opened,
        stage.workers,
        stage.ordered,
        in_flight,
    )
    REGISTRY.append(stats)
    gate = threading.BoundedSemaphore(opened.workers) if choice.name == "threading" else None
    return _run(_Task(stage.fn, payload, gate), upstream, opened, stats)


def _count(out: Any) -> int:
    return count_items(out)


def _run(
    task: _Task, upstream: Iterator[Any], opened: Opened, stats: ParallelStats
) -> Iterator[Any]:
    try:
        for value in upstream:
            out, busy, _cpu, _ = task.run(value)
            n = _count(out)
            stats.items += n
            stats.batches += 1
            measured = stats.serial_value(n, busy)
            yield out
            if measured:
                break
        else:
            stats.state = "done"
            return
        stats.state = "parallel"
        yield from _fan(task, upstream, opened, stats)
        stats.state = "done"
    except GeneratorExit:
        stats.state = "closed" if stats.state != "done" else "done"
        raise
    except BaseException as exc:
        stats.state, stats.error = "failed", f"{type(exc).__name__}: {exc}".split("\n")[0]
        raise
    finally:
        stats.ended = stats.ended or time.monotonic()
        opened.close()


def _fan(
    task: _Task, upstream: Iterator[Any], opened: Opened, stats: ParallelStats
) -> Iterator[Any]:
    from joblib import delayed

    size = max(1, -(-stats.max_in_flight // 2))
    call = delayed(task)
    chunks: deque[list[Any]] = deque()  # [results generator, values left in it]
    exhausted = False
    turn = 0

    def submit() -> None:
        nonlocal exhausted, turn
        while not exhausted and len(chunks) < 2:
            values = list(islice(upstream, size))  # the main thread pulls upstream
            exhausted = len(values) < size
            if not values:
                return
            if stats.started is None:
                stats.started = time.monotonic()
            chunks.append([pool[turn](call(v) for v in values), len(values)])
            turn ^= 1
            stats.dispatched += len(values)
            stats.peak_in_flight = max(stats.peak_in_flight, stats.dispatched - stats.completed)

    with contextlib.ExitStack() as stack:
        stack.callback(_close_all, chunks)  # last: once the Parallel objects have ended
        # Two Parallel objects, each running one call at a time and keeping its pool between
        # calls. Leaving them before closing a call still running stops its tasks without
        # starting a fresh pool (joblib restarts the pool of a Parallel still entered).
        pool = [stack.enter_context(opened.parallel(stats.ordered)) for _ in range(2)]
        try:
            submit()
            while chunks:
                results, left = chunks[0]
                t0 = time.perf_counter()
                out, busy, cpu, worker = next(results)
                stats.wait_s += time.perf_counter() - t0
                n = _count(out)
                stats.completed += 1
                stats.items += n
                stats.batches += 1
                stats.parallel_items += n
                stats.busy_s += busy
                stats.cpu_s += cpu
                stats.workers_seen.add(worker)
                if stats.first_result is None:
                    stats.first_result, stats.first_items = time.monotonic(), n
                    stats.first_busy, stats.first_cpu = busy, cpu
                    stats.first_wait = stats.wait_s
                chunks[0][1] = left - 1
                if left == 1:  # that call is done: free its Parallel, start the next values
                    for _ in results:
                        pass
                    chunks.popleft()
                    submit()
                yield out
            stats.ended = time.monotonic()
        except GeneratorExit:
            _drain(chunks)  # the chain was closed: let the few calls in flight finish
            raise


def _drain(chunks: deque[list[Any]]) -> None:
    """Finish the calls in flight, dropping their results: stopping them instead would kill
    loky's workers mid-task, which its executor thread does not always survive cleanly.
    A call whose task fails is left for ``_close_all``."""
    while chunks:
        try:
            for _ in chunks[0][0]:
                pass
        except Exception:
            return
        chunks.popleft()


def _close_all(chunks: deque[list[Any]]) -> None:
    """End the calls still running (the run stopped or failed): their tasks are dropped
    and their workers stopped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joblib warns that their results go unused
        while chunks:
            with contextlib.suppress(BaseException):
                chunks.popleft()[0].close()
