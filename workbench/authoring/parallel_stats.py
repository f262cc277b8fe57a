"""A parallel stage's counters, its figures as JSON-able data, and the verdict on them.

``ParallelStats`` is written by the runner's main thread (the stage's loop) and read by
the sampler thread of the ``parallel`` section; ``verdict`` turns the figures into one line
on what limits the stage and whether fanning it out pays at all.
"""

from __future__ import annotations

import time
from typing import Any

#: The serial measurement, on one worker, one value at a time (see ``parallel``): values
#: until WARMUP_S in ``fn`` (at least one) are a warm-up (imports, caches, a CPU clock still
#: ramping up), then values are measured until a second in ``fn``, or 3 values and 0.3 s,
#: or MEASURE_MAX values. The serial rate is from the median time per item, so a slow
#: outlier does not flatter the efficiency.
WARMUP_S = 0.2
MEASURE_S, MEASURE_MIN, MEASURE_MIN_S, MEASURE_MAX = 1.0, 3, 0.3, 20
#: Workers listed one by one in a snapshot (the busiest first); the rest are counted.
MAX_WORKERS_LISTED = 64


def _median(xs: list[float]) -> float | None:
    if not xs:
        return None
    ys = sorted(xs)
    mid = len(ys) // 2
    return ys[mid] if len(ys) % 2 else (ys[mid - 1] + ys[mid]) / 2


class Transfer:
    """What moving values to the workers and results back cost (Dask stages, where
    pipebench pickles them itself): bytes, and seconds on each side."""

    def __init__(self) -> None:
        self.function_bytes = 0  # the stage's function, pickled once, sent with each task
        self.sent = self.sent_bytes = 0  # values pickled in the main thread
        self.sent_pickle_s = self.sent_unpickle_s = 0.0  # main thread / workers
        self.received = self.received_bytes = 0  # results pickled on the workers
        self.received_pickle_s = self.received_unpickle_s = 0.0  # workers / main thread
        self.submit_s = 0.0  # main thread handing tasks to the Dask client
        self.overhead_s: list[float] = []  # serial phase: round trip less the worker's time

    def snapshot(self) -> dict[str, Any]:
        """Totals, and per task means (``*_per_task``); seconds and bytes."""
        n, m = self.sent, self.received
        main = self.sent_pickle_s + self.received_unpickle_s + self.submit_s
        return {
            "function_bytes": self.function_bytes,
            "sent_values": n,
            "sent_bytes": self.sent_bytes,
            "sent_pickle_s": self.sent_pickle_s,
            "sent_unpickle_s": self.sent_unpickle_s,
            "received_results": m,
            "received_bytes": self.received_bytes,
            "received_pickle_s": self.received_pickle_s,
            "received_unpickle_s": self.received_unpickle_s,
            "submit_s": self.submit_s,
            "main_thread_s": main,
            "bytes_per_task": (self.sent_bytes + self.received_bytes) / m if m else None,
            "main_thread_s_per_task": main / m if m else None,
            "task_overhead_s": _median(self.overhead_s),
        }


class ParallelStats:
    """One parallel stage's counters: written by the main thread, read by the sampler."""

    def __init__(
        self,
        name: str,
        index: int | None,
        backend: str,
        scheduler: str | None,
        workers: int,
        requested: int,
        ordered: bool,
        max_in_flight: int,
        extra: dict[str, Any] | None = None,
    ):
        self.name, self.index, self.ordered = name, index, ordered
        self.backend, self.scheduler = backend, scheduler
        self.workers, self.requested = workers, requested
        self.extra = dict(extra or {})
        self.max_in_flight = max_in_flight
        self.state = "serial"  # serial -> parallel -> done | failed | closed
        self.error: str | None = None
        self.items = self.batches = 0
        self.serial_values = self.serial_items = 0  # measured, the warm-up excluded
        self.serial_s = self.warmup_s = 0.0
        self.warmup_values = 0
        self.serial_where = "main thread"  # or "one worker"
        self.serial_per_item: list[float] = []
        self.serial_per_value: list[float] = []
        self.dispatched = self.completed = self.peak_in_flight = 0
        self.parallel_items = 0
        self.busy_s = self.cpu_s = self.wait_s = 0.0
        self.first_task: float | None = None  # the first value handed to fn, monotonic
        self.started: float | None = None  # first dispatch, monotonic
        self.first_result: float | None = None
        self.first_items = 0
        self.first_busy = self.first_wait = self.first_cpu = 0.0
        self.ended: float | None = None
        self.per_worker: dict[str, list[float]] = {}  # worker -> [tasks, busy s, cpu s]
        self.transfer: Transfer | None = None  # Dask stages
        #: Dask: the cluster's latest figures per worker address (see parallel_dask).
        self.worker_memory: Any = None

    @property
    def workers_seen(self) -> set[str]:
        return set(self.per_worker)

    def task_done(self, worker: str, busy: float, cpu: float) -> None:
        """Count one task that ran on ``worker`` (serial phase included)."""
        w = self.per_worker.get(worker)
        if w is None:
            w = self.per_worker[worker] = [0, 0.0, 0.0]
        w[0] += 1
        w[1] += busy
        w[2] += cpu

    def serial_value(self, items: int, seconds: float) -> bool:
        """Count one value run serially; True once the serial rate is measured."""
        if self.warmup_values == 0 or self.warmup_s < WARMUP_S:
            self.warmup_values += 1
            self.warmup_s += seconds
            return False
        self.serial_values += 1
        self.serial_items += items
        self.serial_s += seconds
        self.serial_per_value.append(seconds)
        if items:
            self.serial_per_item.append(seconds / items)
        n, t = self.serial_values, self.serial_s
        return t >= MEASURE_S or n >= MEASURE_MAX or (n >= MEASURE_MIN and t >= MEASURE_MIN_S)

    def _workers(self) -> tuple[list[dict[str, Any]], int]:
        memory = self.worker_memory() if callable(self.worker_memory) else {}
        rows = []
        for i, (wid, (tasks, busy, cpu)) in enumerate(list(self.per_worker.items())):
            mem = memory.get(wid) or {}
            rows.append(
                {
                    "worker": _worker_label(self.backend, wid, i),
                    "tasks": int(tasks),
                    "busy_s": busy,
                    "cpu_s": cpu,
                    "memory_bytes": mem.get("memory_bytes"),
                    "memory_peak_bytes": mem.get("memory_peak_bytes"),
                    "memory_limit_bytes": mem.get("memory_limit_bytes"),
                }
            )
        for wid, mem in memory.items():  # workers of the cluster that ran nothing yet
            if wid not in self.per_worker:
                rows.append(
                    {
                        "worker": wid,
                        "tasks": 0,
                        "busy_s": 0.0,
                        "cpu_s": 0.0,
                        "memory_bytes": mem.get("memory_bytes"),
                        "memory_peak_bytes": mem.get("memory_peak_bytes"),
                        "memory_limit_bytes": mem.get("memory_limit_bytes"),
                    }
                )
        rows.sort(key=lambda r: (-int(r["tasks"] or 0), str(r["worker"])))
        return rows[:MAX_WORKERS_LISTED], max(0, len(rows) - MAX_WORKERS_LISTED)

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
        workers, not_listed = self._workers()
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
            "serial_where": self.serial_where,
            "serial_items_per_s": serial_rate,
            "speedup": speedup,
            "efficiency": speedup / self.workers if speedup else None,
            "busy_s": self.busy_s,
            "wait_s": self.wait_s,
            "parallel_s": wall,
            "stage_s": end - self.first_task if self.first_task is not None else 0.0,
            "utilization": min(1.0, busy) if busy is not None else None,
            "waiting": min(1.0, waiting) if waiting is not None else None,
            "cpu_s": self.cpu_s,
            "cpu_share": cpu_share,
            "task_s": task_s,
            "serial_task_s": _median(self.serial_per_value),
            "startup_s": (
                self.first_result - self.started
                if self.first_result is not None and self.started is not None
                else None
            ),
            "workers_seen": len(self.per_worker),
            "per_worker": workers,
            "workers_not_listed": not_listed,
            "transfer": self.transfer.snapshot() if self.transfer is not None else None,
            **self.extra,
        }
        d["verdict"] = verdict(d)
        return d


def _worker_label(backend: str, wid: str, i: int) -> str:
    """A worker as shown: its address on Dask, ``pid N`` for loky, ``thread N`` else."""
    if backend == "dask":
        return wid
    parts = wid.split(":")
    if backend == "loky" and len(parts) >= 2:
        return f"pid {parts[-2]}"
    return f"thread {i + 1}"


def _ms(s: float | None) -> str:
    return "?" if s is None else f"{1000 * s:.1f} ms"


def _kib(n: float | None) -> str:
    from workbench.units import format_bytes

    return "?" if n is None else format_bytes(n)


def _shipping(d: dict[str, Any]) -> str:
    """What moving one task costs, from the transfer figures ("" without them)."""
    t = d.get("transfer") or {}
    if not t.get("received_results"):
        return ""
    parts = [f"each task moves {_kib(t.get('bytes_per_task'))}"]
    parts.append(f"costs the main thread {_ms(t.get('main_thread_s_per_task'))} to hand over")
    if t.get("task_overhead_s") is not None:
        parts.append(f"and {_ms(t['task_overhead_s'])} round trip beyond its compute")
    return f" ({', '.join(parts)}, against {_ms(d.get('serial_task_s'))} of compute)"


def verdict(d: dict[str, Any]) -> str:
    """One line on what limits a parallel stage, from its figures (after start-up), and
    whether fanning it out pays: its rate against the same stage on one worker alone."""
    if d["state"] == "failed":
        return f"failed: {d['error']}"
    if d["completed"] < 2 * d["workers"]:
        if d["state"] == "serial":
            where = d.get("serial_where") or "main thread"
            return f"measuring the serial rate (the first values run one at a time, {where})"
        return "too few parallel results yet to judge"
    util, eff = d["utilization"] or 0.0, d["efficiency"] or 0.0
    waiting = d["waiting"] or 0.0
    task_ms = 1000 * (d["task_s"] or 0.0)
    speedup = d.get("speedup")
    if speedup is not None and speedup < 1.0:
        return (
            f"scale-out does not pay: {speedup:.2f}x the rate of one worker alone"
            f"{_shipping(d)}; run this stage serially, or give each task more work "
            "(larger batches)"
        )
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
        how = _shipping(d) or (
            f" ({task_ms:.1f} ms a task): moving values and results between processes "
            "and joblib's dispatch cost more than the compute"
        )
        return (
            f"overhead-bound: the main thread waited {waiting:.0%} of the time while the "
            f"workers were {util:.0%} busy{how}; larger batches or smaller results help, "
            "more workers would not"
        )
    return (
        f"fed too slowly: workers {util:.0%} busy and the main thread waited only "
        f"{waiting:.0%} of the time: the other stages on the main thread (upstream, "
        "downstream) set the pace; more workers would not help"
    )
