"""The run's "parallel" section: per parallel stage, its workers, tasks in flight,
throughput and parallel efficiency, per worker its tasks, busy time and (Dask) memory, and
what moving values and results costs; live and in the report.

The stages keep their own counters (``workbench.authoring.parallel_stats.ParallelStats``);
this sampler only reads them, and the Dask cluster's figures the stage's own thread polls
from the scheduler (``parallel_sampler``). The section is in every run's report, with the
backend the run's parallel stages would use and an empty ``stages`` list when there are none
(such a run sends it once, as its chain has closed); ``cluster`` says which Dask cluster ran
them (``kind`` "local": started by pipebench for the run; "attached").
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from workbench.engine.sections.json_form import JsonForm
from workbench.engine.sections.parallel_sampler import stage_registry


@dataclass(frozen=True)
class WorkerRow(JsonForm):
    """One worker of a parallel stage: ``worker`` (its address on Dask, "pid N" for loky,
    "thread N" for threads), the ``tasks`` it ran, its ``busy_s`` (wall seconds in the
    stage's function) and ``cpu_s`` (CPU seconds in it); on Dask, its process's memory as
    the scheduler last reported it (RSS now, the highest reading seen, its limit; bytes)."""

    worker: str
    tasks: int
    busy_s: float
    cpu_s: float
    memory_bytes: int | None = None
    memory_peak_bytes: int | None = None
    memory_limit_bytes: int | None = None


@dataclass(frozen=True)
class TransferFigures(JsonForm):
    """What moving values to the workers and results back cost a Dask stage (pipebench
    pickles them itself), in bytes and seconds.

    ``function_bytes``: the stage's function, pickled once and sent with each task;
    ``sent_values``/``sent_bytes``: the values pickled on the main thread
    (``sent_pickle_s``) and unpickled on the workers (``sent_unpickle_s``);
    ``received_results``/``received_bytes``: the results pickled on the workers
    (``received_pickle_s``) and unpickled on the main thread (``received_unpickle_s``);
    ``submit_s``: the main thread handing tasks to the Dask client; ``main_thread_s``: the
    main thread's share of all that. Per task: ``bytes_per_task``,
    ``main_thread_s_per_task``, and ``task_overhead_s``, the median round trip beyond the
    worker's compute, measured on the serial values (None: not measured yet).
    """

    function_bytes: int
    sent_values: int
    sent_bytes: int
    sent_pickle_s: float
    sent_unpickle_s: float
    received_results: int
    received_bytes: int
    received_pickle_s: float
    received_unpickle_s: float
    submit_s: float
    main_thread_s: float
    bytes_per_task: float | None = None
    main_thread_s_per_task: float | None = None
    task_overhead_s: float | None = None


@dataclass(frozen=True)
class ParallelStage(JsonForm):
    """One parallel stage (``stage(fn, workers=N)``): its counters, rates and the verdict
    on them (``workbench.authoring.parallel_stats``).

    ``stage``/``index``: its name and position in the chain (None: not known);
    ``backend`` ("loky", "threading", "dask") and, on Dask, its ``scheduler``'s address;
    ``state``: "serial" (measuring the serial rate), "parallel", "done", "failed" (see
    ``error``) or "closed". ``workers``: tasks run at once (``requested_workers``: asked for
    in the module). ``max_in_flight`` values are handed out ahead (``in_flight`` now,
    ``peak_in_flight``); ``dispatched``/``completed`` count tasks; ``items``/``batches``
    the stage's output, ``parallel_items`` those computed in parallel.

    Rates in items per second: ``items_per_s`` from the first parallel result on
    (start-up excluded), ``serial_items_per_s`` from the median time per item of the
    serial values (``serial_batches`` measured after ``warmup_batches``, run on
    ``serial_where``: "main thread" or "one worker"); ``speedup`` is their ratio and
    ``efficiency`` speedup / workers. Seconds: ``busy_s`` (worker time in the function),
    ``wait_s`` (the main thread waiting for results), ``parallel_s`` (since the first
    dispatch), ``stage_s`` (since its first value), ``cpu_s`` (workers' CPU time),
    ``task_s``/``serial_task_s`` (mean time per task in parallel, median serially),
    ``startup_s`` (first dispatch to first result), ``open_s`` (starting or reaching the
    backend when the chain was built). Shares, 0 to 1: ``utilization`` (busy / (workers ×
    time)), ``waiting`` (of the main thread), ``cpu_share`` (CPU / busy). ``per_worker``:
    the busiest 64 workers (``workers_not_listed``: the rest; ``workers_seen``: all that
    ran a task). ``transfer``: Dask only. ``cluster_workers``: Dask's worker processes.
    ``verdict``: one line on what limits the stage.
    """

    stage: str
    index: int | None
    backend: str
    scheduler: str | None
    state: str
    error: str | None
    workers: int
    requested_workers: int
    ordered: bool
    max_in_flight: int
    in_flight: int
    peak_in_flight: int
    dispatched: int
    completed: int
    items: int
    batches: int
    parallel_items: int
    items_per_s: float | None
    serial_batches: int
    warmup_batches: int
    serial_where: str
    serial_items_per_s: float | None
    speedup: float | None
    efficiency: float | None
    busy_s: float
    wait_s: float
    parallel_s: float
    stage_s: float
    utilization: float | None
    waiting: float | None
    cpu_s: float
    cpu_share: float | None
    task_s: float | None
    serial_task_s: float | None
    startup_s: float | None
    workers_seen: int
    per_worker: tuple[WorkerRow, ...]
    workers_not_listed: int
    transfer: TransferFigures | None
    verdict: str
    open_s: float | None = None
    cluster_workers: int | None = None


@dataclass(frozen=True)
class ClusterInfo(JsonForm):
    """The Dask cluster that ran the run's parallel stages: ``kind`` "local" (started by
    pipebench for the run) or "attached" (``--scheduler``), its ``scheduler`` address, its
    ``workers`` (None: not known yet), its ``dashboard`` address (None: off) and how it is
    secured (``security``)."""

    kind: str
    scheduler: str
    workers: int | None = None
    dashboard: str | None = None
    security: str | None = None


@dataclass(frozen=True)
class WorkersMemory(JsonForm):
    """The memory of the run's processes of one worker ``role`` ("loky worker", "Dask
    worker", "multiprocessing child"), read from /proc by the parent: how many
    ``processes``, their private memory now and at peak, and their peak RSS (bytes)."""

    role: str
    processes: int
    private_bytes: int
    peak_private_bytes: int
    peak_rss_bytes: int


@dataclass(frozen=True)
class ParallelSection(JsonForm):
    """Section "parallel" (runner child, with ``workers_memory`` from the parent): the
    ``backend`` the run's parallel stages use (the ``--backend`` choice), its ``scheduler``
    (Dask) and ``cluster``, one entry per parallel stage (``stages``, empty when there is
    none), ``problem``: why the backend chosen cannot be used (fatal only once a stage is
    parallel), and ``workers_memory``: the worker processes' memory per role."""

    backend: str | None = None
    scheduler: str | None = None
    cluster: ClusterInfo | None = None
    stages: tuple[ParallelStage, ...] = ()
    problem: str | None = None
    workers_memory: tuple[WorkersMemory, ...] = ()

    def stage_at(self, index: int, names: tuple[str, ...]) -> ParallelStage | None:
        """The parallel stage at position ``index`` of the chain (stage ``names``, the source
        first), by its index where it is known, else by its name."""
        for s in self.stages:
            same = (
                s.index == index
                if s.index is not None
                else (index < len(names) and names[index] == s.stage)
            )
            if same:
                return s
        return None


def section_now(backend: str | None, scheduler: str | None, problem: str | None) -> ParallelSection:
    """The section now: ``backend`` and ``scheduler`` as the run chose them, the Dask
    cluster's figures (where a Dask stage ran) and each parallel stage's, read from its own
    counters."""
    dask = sys.modules.get("workbench.authoring.parallel_dask")  # imported by a Dask stage
    cluster = dask.cluster_info() if dask is not None else None
    return ParallelSection(
        backend=backend,
        scheduler=cluster["scheduler"] if cluster else scheduler,
        cluster=ClusterInfo.from_json(cluster) if cluster else None,
        stages=tuple(ParallelStage.from_json(s.snapshot()) for s in list(stage_registry())),
        problem=problem or None,
    )
