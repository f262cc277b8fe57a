"""Parallel stages on a Dask cluster: a local one pipebench starts, or one it attaches to.

``--backend dask`` alone starts a ``distributed.LocalCluster`` in the runner child, for the
run: worker processes (one thread each) on 127.0.0.1, speaking TLS with credentials made
for this run (so other users of the machine cannot hand it work either), no dashboard
unless asked; a task whose worker dies is not retried (``allowed-failures`` 0): the run
fails as it does when a loky worker dies. ``--scheduler ADDRESS`` attaches to a running
cluster instead, which keeps its own settings.

The stage talks to the cluster through ``distributed.Client`` itself, not joblib's Dask
backend, so that it can pickle values and results with the user's modules by value
(``parallel_pickle``), time and count what moving them costs, and end a wait that would
never end: a lost scheduler or a cluster left with no workers fails the stage with one
line within seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import re
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from workbench.errors import UserError

#: How long to try to reach a Dask scheduler, and to wait for its first worker.
CONNECT_TIMEOUT_S = 3.0
WORKERS_TIMEOUT_S = 10.0
#: How long a local cluster may take to start its workers (slow, loaded machines).
LOCAL_START_TIMEOUT_S = 60.0
#: While waiting for a result: how often the cluster's health is checked; how long the
#: client may be disconnected, or the cluster have no worker, before the stage fails.
POLL_S = 0.2
LOST_S = CONNECT_TIMEOUT_S
NO_WORKERS_S = WORKERS_TIMEOUT_S
#: How long one wait for a finished task's result lasts before the other tasks and the
#: cluster's health are looked at again.
FETCH_POLL_S = 1.0
#: How often the scheduler is asked for its workers' memory (from a thread of its own).
INFO_EVERY_S = 1.0
#: How long a local cluster is given to close, before and after its workers are killed
#: (twice this is within the runner's grace period after a stop).
LOCAL_CLOSE_S = 1.0


class DaskClusterLost(RuntimeError):
    """The scheduler, or every worker, went away while a stage waited on it."""


# ---- what runs on a worker ----------------------------------------------------------------
_FUNCTIONS: dict[bytes, Callable[[Any], Any]] = {}


def run_task(payload: bytes, blob: bytes) -> tuple[bytes, float, float, float, float, str]:
    """On a worker: the stage's function (``payload``) on one value (``blob``), both
    pickled by the runner. Returns the result pickled here, the seconds in the function
    (wall, and CPU of this thread), the seconds spent unpickling the value and pickling
    the result, and this worker's address."""
    t0 = time.perf_counter()
    fn = _FUNCTIONS.get(payload)
    if fn is None:
        fn = pickle.loads(payload)
        if len(_FUNCTIONS) >= 32:
            _FUNCTIONS.pop(next(iter(_FUNCTIONS)))
        _FUNCTIONS[payload] = fn
    value = pickle.loads(blob)
    t1, c1 = time.perf_counter(), time.thread_time()
    out = fn(value)
    t2, c2 = time.perf_counter(), time.thread_time()
    import cloudpickle  # classes of by-value modules are dynamic here: cloudpickle sends them

    result = cloudpickle.dumps(out)
    t3 = time.perf_counter()
    from distributed import get_worker

    return result, t2 - t1, c2 - c1, t1 - t0, t3 - t2, get_worker().address


# ---- the cluster of this process, shared by the run's Dask stages -------------------------
class Cluster:
    """A ``distributed.Client`` on the cluster of this run, and the scheduler's latest
    figures per worker (memory: the worker process's RSS at its last heartbeat)."""

    def __init__(
        self,
        kind: str,
        client: Any,
        local: Any = None,
        folder: str | None = None,
        dashboard: str | None = None,
        security: str = "none",
    ):
        self.kind, self.client, self.local, self.folder = kind, client, local, folder
        self.address: str = client.scheduler.address
        self.dashboard, self.security = dashboard, security
        self.users = 0
        self._memory: dict[str, dict[str, Any]] = {}
        self._n_workers: int | None = None
        self._no_workers_since: float | None = None
        self._disconnected_since: float | None = None
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="pipebench-dask", daemon=True)
        self.refresh()
        self._poller.start()

    def threads(self) -> int:
        """Tasks the cluster runs at once: its workers' threads."""
        return sum(self.client.nthreads().values()) or 1

    def n_workers(self) -> int:
        return len(self.client.nthreads())

    def refresh(self) -> None:
        """Read the workers' figures from the scheduler (one request)."""
        try:
            info = self.client.scheduler_info(n_workers=-1)
        except Exception:
            return
        memory = {}
        for address, w in (info.get("workers") or {}).items():
            rss = (w.get("metrics") or {}).get("memory")
            old = self._memory.get(address) or {}
            peak = max(filter(None, (rss, old.get("memory_peak_bytes"))), default=None)
            memory[address] = {
                "memory_bytes": rss,
                "memory_peak_bytes": peak,
                "memory_limit_bytes": w.get("memory_limit") or None,
            }
        self._memory, self._n_workers = memory, len(memory)

    def _poll(self) -> None:
        while not self._stop.wait(INFO_EVERY_S):
            self.refresh()

    def worker_memory(self) -> dict[str, dict[str, Any]]:
        """Address -> ``memory_bytes``, ``memory_peak_bytes`` (the highest reading seen,
        one a second), ``memory_limit_bytes``; as the scheduler last reported them."""
        return self._memory

    def check(self, waiting: int) -> None:
        """Raise ``DaskClusterLost`` if the client has been disconnected for ``LOST_S``,
        or the cluster has had no worker for ``NO_WORKERS_S`` with tasks ``waiting``."""
        now = time.monotonic()
        if self.client.status != "running":
            self._disconnected_since = self._disconnected_since or now
            if now - self._disconnected_since >= LOST_S:
                raise DaskClusterLost(
                    f"lost the Dask scheduler at {self.address}: no connection for "
                    f"{LOST_S:g} s ({waiting} tasks were waiting)"
                )
        else:
            self._disconnected_since = None
        if self._n_workers == 0 and waiting:
            self._no_workers_since = self._no_workers_since or now
            if now - self._no_workers_since >= NO_WORKERS_S:
                raise DaskClusterLost(
                    f"the Dask cluster at {self.address} has had no workers for "
                    f"{NO_WORKERS_S:g} s with {waiting} tasks waiting: its workers died or left"
                )
        else:
            self._no_workers_since = None

    def info(self) -> dict[str, Any]:
        """For the parallel section: which cluster, and how it is reached."""
        return {
            "kind": self.kind,
            "scheduler": self.address,
            "workers": self._n_workers,
            "dashboard": self.dashboard,
            "security": self.security,
        }

    def close(self) -> None:
        """Close the client and, for a local cluster, stop its workers and remove its
        folder. A local worker still running a task (a stage stopped while a call hangs)
        is killed after ``LOCAL_CLOSE_S``: a stop must end within pipebench's grace period,
        and Dask would wait for that task for seconds more."""
        self._stop.set()
        local = self.local
        pids = [getattr(n, "pid", None) for n in local.workers.values()] if local else []
        with contextlib.suppress(Exception):
            self.client.close(timeout=1)
        if local is not None:

            def close_local() -> None:
                with contextlib.suppress(Exception):
                    local.close(timeout=5)

            closing = threading.Thread(target=close_local, name="pipebench-dask-close")
            closing.daemon = True
            closing.start()
            closing.join(LOCAL_CLOSE_S)
            if closing.is_alive():
                for pid in pids:
                    if isinstance(pid, int):
                        with contextlib.suppress(OSError):
                            os.kill(pid, signal.SIGKILL)
                closing.join(LOCAL_CLOSE_S)
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)


_cluster: list[Cluster] = []
_last_info: list[dict[str, Any]] = []  # the run's cluster as it was when closed
_lock = threading.Lock()
_log_levels: dict[str, int] = {}


def _quiet_logs() -> None:
    """Dask's own log lines (reconnection attempts, workers restarting) stay out of the
    run's log: what matters reaches it as the stage's one-line error."""
    for name in ("distributed", "tornado"):
        logger = logging.getLogger(name)
        _log_levels.setdefault(name, logger.level)
        logger.setLevel(logging.CRITICAL)


def _restore_logs() -> None:
    for name, level in _log_levels.items():
        logging.getLogger(name).setLevel(level)
    _log_levels.clear()


def open_cluster(choice: Any, workers: int) -> Cluster:
    """The run's cluster (started or reached on first use), or a ``UserError``."""
    with _lock:
        if _cluster:
            _cluster[0].users += 1
            return _cluster[0]
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise UserError(
                "the dask backend needs dask.distributed, which is not installed here: "
                "pip install 'pipebench[dask]'"
            ) from None
        _quiet_logs()
        try:
            if choice.scheduler:
                cluster = _attach(choice.scheduler)
            else:
                cluster = _start_local(workers, choice.dashboard)
        except BaseException:
            _restore_logs()
            raise
        cluster.users = 1
        _cluster.append(cluster)
        _last_info.clear()
        return cluster


def release() -> None:
    """One stage is done with the cluster; the last one closes it."""
    with _lock:
        if not _cluster:
            return
        cluster = _cluster[0]
        cluster.users -= 1
        if cluster.users > 0:
            return
        _cluster.clear()
        _last_info[:] = [cluster.info()]
    cluster.close()
    _restore_logs()


def cluster_info() -> dict[str, Any] | None:
    """The run's cluster for the parallel section (as it was when closed, once it is),
    or None before (or without) one."""
    if _cluster:
        return _cluster[0].info()
    return _last_info[0] if _last_info else None


def _attach(address: str) -> Cluster:
    from distributed import Client

    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        why = str(exc).split("\n")[0] or type(exc).__name__
        raise UserError(
            f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT_S:g} s "
            f"({why}); start one with `dask scheduler`, or drop --scheduler to let pipebench "
            "start a local cluster"
        ) from None
    if not client.nthreads():
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        except (OSError, TimeoutError):
            client.close()
            raise UserError(
                f"the Dask scheduler at {address} has no workers (waited "
                f"{WORKERS_TIMEOUT_S:g} s): start some with `dask worker {address}`"
            ) from None
    return Cluster("attached", client)


def _start_local(workers: int, dashboard: str | None) -> Cluster:
    import dask
    from distributed import Client, LocalCluster

    try:
        import cryptography  # noqa: F401  (TLS credentials for this run)

        security: Any = True
    except ImportError:
        security = None
    config: dict[str, Any] = {
        "distributed.scheduler.allowed-failures": 0,  # a worker death fails the stage
        "distributed.worker.http.routes": ["distributed.http.health"],
    }
    if dashboard is None:
        config["distributed.scheduler.http.routes"] = ["distributed.http.health"]
    folder = tempfile.mkdtemp(prefix="pipebench-dask-")
    local = None
    try:
        with dask.config.set(config):
            local = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,  # pure-Python stages hold the GIL: processes scale
                processes=True,
                host="127.0.0.1",
                scheduler_port=0,
                dashboard_address=dashboard,
                worker_dashboard_address=None,
                # Without a dashboard the scheduler still serves a health check: on a free
                # port of 127.0.0.1, not 8787 (which may be another cluster's).
                scheduler_kwargs=None
                if dashboard
                else {"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                security=security,
                local_directory=folder,
                silence_logs=logging.CRITICAL,
                timeout=LOCAL_START_TIMEOUT_S,
            )
            client = Client(local, set_as_default=False, timeout=LOCAL_START_TIMEOUT_S)
    except Exception as exc:
        if local is not None:
            with contextlib.suppress(Exception):
                local.close(timeout=5)
        shutil.rmtree(folder, ignore_errors=True)
        why = str(exc).split("\n")[0] or type(exc).__name__
        raise UserError(
            f"could not start a local Dask cluster of {workers} workers ({why}); "
            "or attach to a running one with --scheduler tcp://HOST:PORT"
        ) from None
    link = local.dashboard_link if dashboard else None
    return Cluster(
        "local",
        client,
        local,
        folder,
        link,
        "TLS, credentials made for this run" if security else "none (no cryptography)",
    )


# ---- one stage's tasks --------------------------------------------------------------------
def _key_prefix(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:40] or "stage"
    return f"pipebench-{safe}-{uuid.uuid4().hex[:8]}"


class DaskStage:
    """Submits one stage's values to the cluster and hands back its results, counting
    what moving them costs in ``stats.transfer``."""

    def __init__(
        self, cluster: Cluster, payload: bytes, name: str, by_value: list[ModuleType], stats: Any
    ):
        from workbench.authoring.parallel_stats import Transfer

        self.cluster, self.client = cluster, cluster.client
        self.payload, self.by_value = payload, by_value
        self.prefix, self.seq = _key_prefix(name), 0
        self.stats = stats
        self.tr = stats.transfer = Transfer()
        self.tr.function_bytes = len(payload)
        stats.worker_memory = cluster.worker_memory
        self.done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.pending: set[str] = set()

    def submit(self, value: Any) -> Any:
        """Pickle ``value`` (main thread, timed) and hand it to the scheduler."""
        from workbench.authoring.parallel_pickle import dumps

        tr = self.tr
        t0 = time.perf_counter()
        blob = dumps(value, self.by_value)
        t1 = time.perf_counter()
        self.seq += 1
        try:
            fut = self.client.submit(
                run_task, self.payload, blob, key=f"{self.prefix}-{self.seq}", pure=False
            )
        except Exception as exc:
            if self.client.status == "running":
                raise
            raise DaskClusterLost(
                f"lost the Dask scheduler at {self.cluster.address}: the client closed "
                f"({type(exc).__name__})"
            ) from None
        tr.submit_s += time.perf_counter() - t1
        tr.sent_pickle_s += t1 - t0
        tr.sent += 1
        tr.sent_bytes += len(blob) + len(self.payload)
        self.pending.add(fut.key)
        fut.add_done_callback(self.done.put)  # from Dask's callback thread
        return fut

    def next_done(self) -> Any:
        """The next future that ended (finished, failed or cancelled), checking the
        cluster's health while waiting."""
        while True:
            try:
                return self.done.get(timeout=POLL_S)
            except queue.Empty:
                self.cluster.check(len(self.pending))

    def collect(self, fut: Any) -> tuple[Any, float, float, str]:
        """The result of a future that ended: (value, busy s, CPU s, worker); raises the
        task's error (``KilledWorker`` when its worker died) or ``DaskClusterLost``."""
        self.pending.discard(fut.key)
        if fut.status == "error":
            fut.result()  # raises the task's own error, with the worker's traceback
        try:
            if fut.status == "cancelled":
                raise RuntimeError("cancelled")
            packed = self._fetch(fut)
        except DaskClusterLost:
            raise
        except Exception as exc:
            from distributed import KilledWorker

            if fut.status == "error" or isinstance(exc, KilledWorker):
                # It failed after all: its worker died while running it or holding its
                # result (the future's status may not say so yet when the error is raised).
                raise
            raise self._lost(fut, exc) from None
        blob, busy, cpu, unpickle_s, pickle_s, worker = packed
        t0 = time.perf_counter()
        out = pickle.loads(blob)
        tr = self.tr
        tr.received_unpickle_s += time.perf_counter() - t0
        tr.received += 1
        tr.received_bytes += len(blob)
        tr.sent_unpickle_s += unpickle_s
        tr.received_pickle_s += pickle_s
        fut.release()
        self.stats.task_done(worker, busy, cpu)
        return out, busy, cpu, worker

    def _fetch(self, fut: Any) -> Any:
        """The result of a finished task, fetched from the worker that holds it. A fetch
        can stall (that worker just died, and the scheduler retries it for its connect
        timeout): meanwhile, a task that failed, or a cluster that is gone, ends the wait."""
        while True:
            try:
                return fut.result(timeout=FETCH_POLL_S)
            except TimeoutError:
                self._raise_failed()
                self.cluster.check(len(self.pending))

    def _raise_failed(self) -> None:
        """Raise the error of any task that ended in error since the last look (without
        waiting); the others stay queued."""
        ended = []
        try:
            while True:
                ended.append(self.done.get_nowait())
        except queue.Empty:
            pass
        for other in ended:
            self.done.put(other)
        for other in ended:
            if other.status == "error":
                self.pending.discard(other.key)
                other.result()  # raises its error

    def _lost(self, fut: Any, exc: BaseException) -> DaskClusterLost:
        """The error for a task whose result cannot be had although it did not fail: the
        scheduler went away (its tasks are cancelled, a fetch breaks off), or someone
        cancelled it."""
        why = ""
        if fut.status == "cancelled":
            try:
                fut.result(timeout=1)
            except Exception as cancelled:
                why = str(cancelled)
        else:
            why = f"{type(exc).__name__}: {exc}"
        where = self.cluster.address
        lost = isinstance(exc, OSError) or "connection" in why.lower()
        if lost or self.client.status != "running":
            return DaskClusterLost(
                f"lost the Dask scheduler at {where}: the connection closed mid-run "
                f"({len(self.pending) + 1} tasks were out)"
            )
        reason = why.split("\n")[0] or "no reason given"
        return DaskClusterLost(f"the Dask scheduler at {where} cancelled a task ({reason})")

    def call(self, value: Any) -> tuple[Any, float, float, str]:
        """``fn(value)`` on one worker, alone (the serial phase); the round trip beyond
        the function's own time is kept as the per-task overhead."""
        t0 = time.perf_counter()
        fut = self.submit(value)
        while True:
            done = self.next_done()
            if done.key == fut.key:
                break
        out = self.collect(fut)
        self.tr.overhead_s.append(time.perf_counter() - t0 - out[1])
        return out

    def stream(self, upstream: Iterator[Any], ordered: bool) -> Iterator[tuple[Any, float]]:
        """(result, main-thread wait s) for each value of ``upstream``, with at most
        ``stats.max_in_flight`` tasks out at once; in order unless ``ordered`` is False."""
        stats = self.stats
        window: deque[Any] = deque()  # futures in submission order
        ended: dict[str, Any] = {}  # futures that ended, not yet handed on (ordered)
        exhausted = False
        try:
            while True:
                while not exhausted and len(window) < stats.max_in_flight:
                    try:
                        value = next(upstream)  # the main thread pulls upstream
                    except StopIteration:
                        exhausted = True
                        break
                    if stats.started is None:
                        stats.started = time.monotonic()
                    window.append(self.submit(value))
                    stats.dispatched += 1
                    stats.peak_in_flight = max(
                        stats.peak_in_flight, stats.dispatched - stats.completed
                    )
                if not window:
                    return
                t0 = time.perf_counter()
                if ordered:
                    head = window[0]
                    while head.key not in ended:
                        fut = self.next_done()
                        ended[fut.key] = fut
                    fut = ended.pop(head.key)
                    window.popleft()
                else:
                    fut = self.next_done()
                    with contextlib.suppress(ValueError):
                        window.remove(fut)
                out = self.collect(fut)
                yield out, time.perf_counter() - t0
        finally:
            self.cancel(window)

    def cancel(self, futures: Any) -> None:
        """Drop tasks still out (the stage stopped or failed)."""
        futures = [f for f in futures if not f.done()]
        if futures:
            with contextlib.suppress(Exception):
                self.client.cancel(futures)
