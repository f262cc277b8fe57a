"""Parallel map stages: ``stage(fn, workers=N)`` fanned out, lazily and bounded.

The main thread keeps owning the chain. It takes values from upstream itself, so the
probes charge upstream's time to upstream and a user's generator never runs on a worker
thread. On loky and threading it hands them to ``joblib.Parallel`` calls of at most
``pre_dispatch / 2`` values each, two calls at a time: while the results of one are yielded
(``return_as="generator"``, or ``"generator_unordered"``), the other is computing. On Dask
it submits them to the cluster itself (``parallel_dask``). Either way at most
``pre_dispatch`` values are in flight, memory stays bounded and the chain stays lazy.

The first values go through ``fn`` one at a time, timed where ``fn`` runs: the serial rate
that the speedup and the efficiency are measured against. With process workers (loky,
Dask) they run on one worker, so that a crash in ``fn`` (a segfault in a C extension,
``os._exit``) ends the stage with the worker's error, the stage named, rather than the
runner without a word; with threads, in the main thread. Counters live in
``ParallelStats``, one per stage, listed in ``REGISTRY`` for the runner's ``parallel``
section.
"""

from __future__ import annotations

import contextlib
import os
import re
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
    open_backend,
)
from workbench.authoring.parallel_pickle import dumps_function, local_modules
from workbench.authoring.parallel_stats import (  # noqa: F401  (re-exported)
    MEASURE_MAX,
    MEASURE_MIN,
    MEASURE_MIN_S,
    MEASURE_S,
    WARMUP_S,
    ParallelStats,
    verdict,
)
from workbench.errors import StopRun

_HOST = socket.gethostname()
#: Worker side: stage functions already unpickled, by payload (at most a few per run).
_LOADED: dict[bytes, Callable[[Any], Any]] = {}


def _load_task(payload: bytes, name: str) -> _Task:
    """Unpickle a task in a loky worker; its function is unpickled when first called."""
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
        self.__name__ = name or getattr(fn, "__name__", None) or "stage"
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


#: Every parallel stage of this process, in the order the chain was built.
REGISTRY: list[ParallelStats] = []


def fan_out(stage: Any, upstream: Iterator[Any]) -> Iterator[Any]:
    """The output of ``stage`` (a ``Stage`` with ``workers``) over ``upstream``.

    The backend is checked, the function pickled and a Dask cluster started or reached
    here, when the chain is built, so that a bad choice fails before the first item with
    one line (``UserError``). ``open_s`` in the stage's figures is the time that took.
    """
    choice = choice_from_env()
    payload = None
    if choice.name in PROCESS_BACKENDS:
        payload = dumps_function(stage.fn, choice.name, stage.name)
    t0 = time.perf_counter()
    opened = open_backend(choice, stage.workers)
    open_s = time.perf_counter() - t0
    try:
        in_flight = stage.pre_dispatch or 2 * opened.workers
        up_index = getattr(upstream, "index", None)
        scheduler = opened.cluster.address if opened.cluster is not None else None
        stats = ParallelStats(
            stage.name,
            up_index + 1 if isinstance(up_index, int) else None,
            choice.name,
            scheduler,
            opened.workers,
            stage.workers,
            stage.ordered,
            in_flight,
            {**opened.extra, "open_s": open_s},
        )
        REGISTRY.append(stats)
        dask = None
        if opened.cluster is not None:
            from workbench.authoring.parallel_dask import DaskStage

            assert payload is not None
            dask = DaskStage(opened.cluster, payload, stage.name, local_modules(), stats)
    except BaseException:
        opened.close()
        raise
    gate = threading.BoundedSemaphore(opened.workers) if choice.name == "threading" else None
    return _run(_Task(stage.fn, payload, gate), upstream, opened, stats, dask)


def _count(out: Any) -> int:
    return count_items(out)


def _run(
    task: _Task, upstream: Iterator[Any], opened: Opened, stats: ParallelStats, dask: Any
) -> Iterator[Any]:
    chunks: deque[list[Any]] = deque()  # joblib calls in flight: [results, values left]
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(_close_all, chunks)  # last: once the Parallel objects have ended
            pool: list[Any] = []
            if dask is not None:
                serial = dask.call
                stats.serial_where = "one worker"
            elif task.payload is not None:  # loky: the serial values on one worker too
                pool = _enter_pool(stack, opened, stats)
                serial = _one_task(pool[0], task, stats)
                stats.serial_where = "one worker"
            else:
                serial = task.run
            for value in upstream:
                stats.first_task = stats.first_task or time.monotonic()
                out, busy, _cpu, _ = serial(value)
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
            if dask is not None:
                yield from _fan_dask(dask, upstream, stats)
            else:
                pool = pool or _enter_pool(stack, opened, stats)
                yield from _fan(task, upstream, pool, chunks, stats)
            stats.state = "done"
    except (GeneratorExit, StopRun):
        stats.state = "closed" if stats.state != "done" else "done"
        raise
    except BaseException as exc:
        short = _one_line(exc)
        stats.state, stats.error = "failed", f"{type(exc).__name__}: {short or exc}".split("\n")[0]
        if short is not None:
            raise type(exc)(short) from exc
        raise
    finally:
        stats.ended = stats.ended or time.monotonic()
        opened.close()


def _one_line(exc: BaseException) -> str | None:
    """loky's message for a worker that died, in one line (it takes five); None for any
    other error."""
    if type(exc).__name__ != "TerminatedWorkerError":
        return None
    codes = re.search(r"exit codes of the workers are (\{[^}]*\})", str(exc))
    return (
        "a worker process died while running this stage's function"
        + (f" (exit codes {codes.group(1)})" if codes else "")
        + ": a crash in C code (segfault), os._exit, or the OS killing it for memory"
    )


def _enter_pool(stack: contextlib.ExitStack, opened: Opened, stats: ParallelStats) -> list[Any]:
    """Two ``Parallel`` objects, each running one call at a time and keeping its pool
    between calls. Leaving them before closing a call still running stops its tasks
    without starting a fresh pool (joblib restarts the pool of a Parallel still entered)."""
    return [stack.enter_context(opened.parallel(stats.ordered)) for _ in range(2)]


def _one_task(
    parallel: Any, task: _Task, stats: ParallelStats
) -> Callable[[Any], tuple[Any, float, float, str]]:
    """``fn(value)`` on one worker of ``parallel``'s pool, alone: a call of one task."""
    from joblib import delayed

    call = delayed(task)

    def run(value: Any) -> tuple[Any, float, float, str]:
        results = parallel([call(value)])
        out = next(results)
        for _ in results:
            pass
        stats.task_done(out[3], out[1], out[2])
        return out  # type: ignore[no-any-return]

    return run


def _record(stats: ParallelStats, out: Any, busy: float, cpu: float, wait: float) -> int:
    """Count one parallel result; returns its items."""
    stats.wait_s += wait
    n = _count(out)
    stats.completed += 1
    stats.items += n
    stats.batches += 1
    stats.parallel_items += n
    stats.busy_s += busy
    stats.cpu_s += cpu
    if stats.first_result is None:
        stats.first_result, stats.first_items = time.monotonic(), n
        stats.first_busy, stats.first_cpu = busy, cpu
        stats.first_wait = stats.wait_s
    return n


def _fan_dask(dask: Any, upstream: Iterator[Any], stats: ParallelStats) -> Iterator[Any]:
    for (out, busy, cpu, _worker), wait in dask.stream(upstream, stats.ordered):
        _record(stats, out, busy, cpu, wait)
        yield out
    stats.ended = time.monotonic()


def _fan(
    task: _Task,
    upstream: Iterator[Any],
    pool: list[Any],
    chunks: deque[list[Any]],
    stats: ParallelStats,
) -> Iterator[Any]:
    from joblib import delayed

    size = max(1, -(-stats.max_in_flight // 2))
    call = delayed(task)
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

    try:
        submit()
        while chunks:
            results, left = chunks[0]
            t0 = time.perf_counter()
            out, busy, cpu, worker = next(results)
            _record(stats, out, busy, cpu, time.perf_counter() - t0)
            stats.task_done(worker, busy, cpu)
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
