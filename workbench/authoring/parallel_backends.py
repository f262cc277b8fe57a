"""Which backend a parallel stage runs on, and the one-line errors when it cannot.

The backend is chosen per run, not in the pipeline's code: ``pipebench run --backend``,
``--workers``, ``--scheduler`` and ``--dask-dashboard`` set ``PIPEBENCH_BACKEND``,
``PIPEBENCH_WORKERS``, ``PIPEBENCH_DASK_SCHEDULER`` and ``PIPEBENCH_DASK_DASHBOARD`` in the
environment the runner child inherits. Everything here is checked when the chain is built,
before the first item, so a bad choice ends the run at once with one line. loky and
threading run through joblib; Dask through its own client (``parallel_dask``).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import UserError

BACKEND_ENV = "PIPEBENCH_BACKEND"
SCHEDULER_ENV = "PIPEBENCH_DASK_SCHEDULER"
WORKERS_ENV = "PIPEBENCH_WORKERS"
DASHBOARD_ENV = "PIPEBENCH_DASK_DASHBOARD"
BACKENDS = ("loky", "threading", "dask")
DEFAULT_BACKEND = "loky"
#: Backends whose workers are other processes: the stage function must be picklable.
PROCESS_BACKENDS = frozenset({"loky", "dask"})
#: Where ``--dask-dashboard`` serves the local cluster's dashboard unless told otherwise.
DEFAULT_DASHBOARD = "127.0.0.1:8787"

_ADDRESS = re.compile(
    r"^(?P<proto>[a-z][a-z0-9+.-]*://)?(?P<host>\[[^\]]+\]|[^:/\s]+):(?P<port>\d{1,5})$"
)
_HOST_PORT = re.compile(r"^(?:(?P<host>\[[^\]]+\]|[^:/\s]+):)?(?P<port>\d{1,5})$")
_lock = threading.Lock()


def check_backend(name: str) -> str:
    """The backend's name, or a ``UserError`` saying why it cannot be used."""
    low = name.strip().lower()
    if low == "multiprocessing":
        raise UserError(
            "the multiprocessing backend cannot stream results (joblib cannot return them "
            "as a generator), so a parallel stage cannot use it; use --backend loky "
            "(processes) or --backend threading"
        )
    if low not in BACKENDS:
        raise UserError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    return low


def check_scheduler(address: str) -> str:
    """A scheduler address as ``tcp://HOST:PORT`` (``HOST:PORT`` gets ``tcp://``)."""
    text = address.strip()
    m = _ADDRESS.match(text)
    if not m or not 0 < int(m["port"]) < 65536:
        raise UserError(
            f"{address!r} is not a Dask scheduler address: give tcp://HOST:PORT, "
            "e.g. tcp://127.0.0.1:8786"
        )
    return text if m["proto"] else f"tcp://{text}"


def check_workers(text: str) -> int:
    """A worker count: a whole number from 1 up."""
    try:
        n = int(text.strip())
    except ValueError:
        n = 0
    if n < 1:
        raise UserError(f"{text!r} is not a number of workers: give a whole number from 1 up")
    return n


def check_dashboard(text: str) -> str:
    """Where to serve the dashboard: ``HOST:PORT``, or ``PORT`` on 127.0.0.1."""
    m = _HOST_PORT.match(text.strip())
    if not m or int(m["port"]) >= 65536:
        raise UserError(
            f"{text!r} is not a dashboard address: give PORT or HOST:PORT, e.g. {DEFAULT_DASHBOARD}"
        )
    return f"{m['host'] or '127.0.0.1'}:{int(m['port'])}"


@dataclass(frozen=True)
class BackendChoice:
    """The backend a run's parallel stages use.

    ``workers`` overrides the stages' ``workers=`` (and sizes a local Dask cluster);
    ``scheduler`` is the Dask cluster to attach to (None: pipebench starts a local one);
    ``dashboard`` is where that local cluster serves its dashboard (None: no dashboard).
    """

    name: str = DEFAULT_BACKEND
    scheduler: str | None = None
    workers: int | None = None
    dashboard: str | None = None


def choice_from_env(env: dict[str, str] | None = None) -> BackendChoice:
    """The run's choice, from the ``PIPEBENCH_*`` variables (see the module docstring)."""
    env = dict(os.environ) if env is None else env
    name = check_backend(env.get(BACKEND_ENV) or DEFAULT_BACKEND)
    workers = check_workers(env[WORKERS_ENV]) if env.get(WORKERS_ENV) else None
    if name != "dask":
        return BackendChoice(name, workers=workers)
    scheduler = env.get(SCHEDULER_ENV) or None
    dashboard = env.get(DASHBOARD_ENV) or None
    if scheduler and dashboard:
        raise UserError(
            "--dask-dashboard is for the local cluster pipebench starts; an attached "
            "cluster serves its own dashboard"
        )
    return BackendChoice(
        name,
        check_scheduler(scheduler) if scheduler else None,
        workers,
        check_dashboard(dashboard) if dashboard else None,
    )


# ---- loky's reusable executor, stopped when the last loky stage ends ---------------------
_loky_users = 0


def _release_loky() -> None:
    """Stop loky's workers once no stage uses them, removing their semaphores and temporary
    folders (in /dev/shm): the runner child ends with ``os._exit``, which would leave them
    for loky's resource tracker to find and warn about."""
    global _loky_users
    with _lock:
        _loky_users -= 1
        if _loky_users > 0:
            return
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)
    if executor is not None:
        with contextlib.suppress(Exception):
            stop = getattr(executor, "terminate", None)  # joblib's: also removes its folders
            if stop is not None:
                stop(kill_workers=True)
            else:
                executor.shutdown(wait=True, kill_workers=True)
    _remove_orphan_folders()


def _remove_orphan_folders() -> None:
    """joblib makes an (empty) temporary folder each time a ``Parallel`` reuses the running
    executor, and leaves it to an atexit hook the runner child never runs: remove this
    process's, now that no worker can use them, and tell loky's resource tracker."""
    import shutil
    import tempfile

    from joblib.externals.loky.backend import resource_tracker

    roots = {os.environ.get("JOBLIB_TEMP_FOLDER") or "", "/dev/shm", tempfile.gettempdir()}
    for root in filter(None, roots):
        for path in Path(root).glob(f"joblib_memmapping_folder_{os.getpid()}_*"):
            with contextlib.suppress(OSError):
                shutil.rmtree(path)
                resource_tracker.unregister(str(path), "folder")


@dataclass
class Opened:
    """A backend ready for one stage: how many tasks run at once, and what to release."""

    choice: BackendChoice
    workers: int  # tasks that can run at once
    cluster: Any = None  # parallel_dask.Cluster for the dask backend
    extra: dict[str, Any] = field(default_factory=dict)  # shown with the stage's figures
    holds_loky: bool = False

    def parallel(self, ordered: bool) -> Any:
        """A new ``joblib.Parallel`` (loky, threading), results as a generator."""
        from joblib import Parallel

        return Parallel(
            backend=self.choice.name,
            n_jobs=self.workers,
            return_as="generator" if ordered else "generator_unordered",
            pre_dispatch="all",
            batch_size=1,
        )

    def close(self) -> None:
        """The stage is over: release the Dask cluster, or the loky workers, once no other
        parallel stage of this process still uses them."""
        if self.cluster is not None:
            from workbench.authoring.parallel_dask import release

            self.cluster = None
            release()
        if self.holds_loky:
            self.holds_loky = False
            _release_loky()


def open_backend(choice: BackendChoice, workers: int) -> Opened:
    """Make ``choice`` ready for a stage asking for ``workers`` (``--workers`` wins). A
    Dask stage runs on every thread of its cluster."""
    workers = choice.workers or workers
    if choice.name == "loky":
        global _loky_users
        with _lock:
            _loky_users += 1
        return Opened(choice, workers, holds_loky=True)
    if choice.name != "dask":
        return Opened(choice, workers)
    from workbench.authoring.parallel_dask import open_cluster

    cluster = open_cluster(choice, workers)
    return Opened(choice, cluster.threads(), cluster, {"cluster_workers": cluster.n_workers()})
