"""The private classes and attributes of other libraries that pipebench leans on still
exist with the shape it was written for. pyproject.toml pins each library to the range
these tests were run with; when a new release changes one of them, this file fails first,
naming the class and the attribute, instead of a count going quietly wrong at run time.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest


def params(fn: Any) -> list[str]:
    return list(inspect.signature(fn).parameters)


def expect(owner: Any, attr: str, parameters: list[str] | None, used_by: str) -> None:
    """``owner.attr`` exists (and takes ``parameters``, when given)."""
    where = f"{getattr(owner, '__module__', '')}.{getattr(owner, '__qualname__', owner)}"
    value = inspect.getattr_static(owner, attr, None)
    assert value is not None, f"{where}.{attr} is gone; {used_by} relies on it"
    if parameters is not None:
        found = params(getattr(owner, attr))
        assert found[: len(parameters)] == parameters, (
            f"{where}.{attr} takes {found}, not {parameters}; {used_by} overrides it"
        )


JOBLIB_COUNTING = "workbench/authoring/joblib_counting.py (hits and misses of joblib caches)"


@pytest.mark.parametrize(
    ("attr", "parameters"),
    [
        ("_cached_call", ["self", "args", "kwargs", "shelving"]),
        ("_is_in_cache_and_valid", ["self", "call_id"]),
        ("_call", ["self", "call_id", "args", "kwargs", "shelving"]),
        ("_load_item", ["self", "call_id", "metadata"]),
        ("_check_previous_func_code", None),
        ("clear", ["self", "warn"]),
        ("warn", ["self", "msg"]),
        ("__getstate__", ["self"]),
    ],
)
def test_joblib_memorized_func_methods(attr, parameters):
    from joblib.memory import MemorizedFunc

    expect(MemorizedFunc, attr, parameters, JOBLIB_COUNTING)


def test_joblib_clears_through_check_previous_func_code():
    from joblib.memory import AsyncMemorizedFunc, MemorizedFunc

    source = inspect.getsource(MemorizedFunc._check_previous_func_code)
    assert "self.clear(" in source, (
        "joblib.memory.MemorizedFunc._check_previous_func_code no longer calls self.clear(); "
        f"{JOBLIB_COUNTING} counts invalidations there"
    )
    assert issubclass(AsyncMemorizedFunc, MemorizedFunc), (
        "joblib.memory.AsyncMemorizedFunc is no longer a MemorizedFunc"
    )


def test_joblib_counting_counts_a_real_cache(tmp_path):
    """The behaviour behind the names: a miss returns (output, metadata with a duration)
    from ``MemorizedFunc._call``, a hit goes through ``_cached_call`` alone."""
    from joblib import Memory

    from workbench.authoring.joblib_counting import count_calls

    memorized = Memory(tmp_path, verbose=0).cache(lambda x: x * 2)
    stats, why = count_calls(memorized, "double")
    assert stats is not None, why
    assert memorized(3) == 6 and memorized(3) == 6
    assert (stats.misses, stats.hits) == (1, 1), (
        "joblib.memory.MemorizedFunc._call/_cached_call changed: counted "
        f"{stats.misses} miss(es) and {stats.hits} hit(s) for one of each"
    )
    assert stats.durations, "joblib.memory.MemorizedFunc._call returns no metadata['duration']"
    assert memorized.store_backend.get_metadata(next(iter(stats.durations)))["duration"] >= 0
    assert memorized.func_id, "joblib.memory.MemorizedFunc.func_id is gone"


def test_joblib_dask_backend_collect_loop():
    pytest.importorskip("distributed")
    from joblib._dask import DaskDistributedBackend

    used_by = "workbench/authoring/parallel_backends.py (ReportingDaskBackend)"
    collect = inspect.getattr_static(DaskDistributedBackend, "_collect", None)
    assert collect is not None and inspect.iscoroutinefunction(collect), (
        f"joblib._dask.DaskDistributedBackend._collect is no longer a coroutine; {used_by} "
        "overrides it"
    )
    source = inspect.getsource(DaskDistributedBackend)
    for attr in ("_continue", "waiting_futures", "_results", "_callbacks"):
        assert f"self.{attr}" in source, (
            f"joblib._dask.DaskDistributedBackend.{attr} is gone; {used_by} reads it"
        )


def test_loky_executor_and_resource_tracker():
    from joblib.externals.loky import reusable_executor
    from joblib.externals.loky.backend import resource_tracker

    used_by = "workbench/authoring/parallel_backends.py (_release_loky)"
    assert hasattr(reusable_executor, "_executor"), (
        f"joblib.externals.loky.reusable_executor._executor is gone; {used_by} stops it"
    )
    assert params(resource_tracker.unregister) == ["name", "rtype"], (
        f"joblib.externals.loky.backend.resource_tracker.unregister changed; {used_by}"
    )


def test_numba_compile_events_reach_a_listener():
    from numba import njit
    from numba.core import event
    from numba.core.errors import NumbaError

    assert issubclass(NumbaError, Exception)
    seen: list[str] = []

    class Listener(event.Listener):  # as workbench/engine/kernels/timing.py does
        def on_start(self, ev: Any) -> None:
            seen.append("start")

        def on_end(self, ev: Any) -> None:
            seen.append("end")

    listener = Listener()
    event.register("numba:compile", listener)
    try:
        njit(lambda x: x + 1)(1)
    finally:
        event.unregister("numba:compile", listener)
    assert seen[:1] == ["start"] and "end" in seen, (
        "numba.core.event 'numba:compile' no longer reaches a numba.core.event.Listener; "
        "workbench/engine/kernels/timing.py (CompileWatch) times compilation with it"
    )


def test_line_profiler_keys_and_pausing():
    from line_profiler import LineProfiler

    from workbench.engine.lines.tracers import code_key

    def work() -> int:
        return sum(range(10))

    prof = LineProfiler()
    prof.add_function(work)
    prof.enable_by_count()
    work()
    prof.disable_by_count()
    timings = prof.get_stats().timings
    (key,) = timings
    assert key == code_key(work.__code__), (
        f"line_profiler.LineStats.timings keys are {key!r}, not {code_key(work.__code__)!r} "
        "(filename, first line, qualified name); workbench/engine/lines/tracers.py reads them"
    )
    assert sum(hits for _, hits, _ in timings[key]) >= 1


def test_lru_cache_wrapper_type():
    import functools

    assert isinstance(functools.lru_cache(maxsize=2)(len), functools._lru_cache_wrapper), (
        "functools._lru_cache_wrapper is gone; workbench/engine/sections/caches.py finds "
        "lru_cache functions by it"
    )
