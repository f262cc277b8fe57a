"""Which joblib backend a parallel stage runs on, and the one-line errors when it cannot.

The backend is chosen per run, not in the pipeline's code: ``pipebench run --backend``
sets ``PIPEBENCH_BACKEND`` (and ``--scheduler`` sets ``PIPEBENCH_DASK_SCHEDULER``) in the
environment the runner child inherits. Everything here is checked when the chain is built,
before the first item, so a bad choice ends the run at once with one line.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import sysconfig
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from workbench.errors import UserError

BACKEND_ENV = "PIPEBENCH_BACKEND"
SCHEDULER_ENV = "PIPEBENCH_DASK_SCHEDULER"
BACKENDS = ("loky", "threading", "dask")
DEFAULT_BACKEND = "loky"
#: Backends whose workers are other processes: the stage function must be picklable.
PROCESS_BACKENDS = frozenset({"loky", "dask"})
#: How long to try to reach a Dask scheduler, and to wait for its first worker.
CONNECT_TIMEOUT_S = 3.0
WORKERS_TIMEOUT_S = 10.0

_ADDRESS = re.compile(
    r"^(?P<proto>[a-z][a-z0-9+.-]*://)?(?P<host>\[[^\]]+\]|[^:/\s]+):(?P<port>\d{1,5})$"
)


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


@dataclass(frozen=True)
class BackendChoice:
    """The backend a run's parallel stages use, and the Dask scheduler for ``dask``."""

    name: str = DEFAULT_BACKEND
    scheduler: str | None = None


def choice_from_env(env: dict[str, str] | None = None) -> BackendChoice:
    """The run's choice, from ``PIPEBENCH_BACKEND`` and ``PIPEBENCH_DASK_SCHEDULER``."""
    import os

    env = dict(os.environ) if env is None else env
    name = check_backend(env.get(BACKEND_ENV) or DEFAULT_BACKEND)
    scheduler = env.get(SCHEDULER_ENV) or None
    if name != "dask":
        return BackendChoice(name)
    if not scheduler:
        raise UserError(
            "the dask backend needs a scheduler: pass --scheduler tcp://HOST:PORT "
            f"or set {SCHEDULER_ENV}"
        )
    return BackendChoice(name, check_scheduler(scheduler))


# ---- Dask clients, one per scheduler per process ----------------------------------------
_clients: dict[str, Any] = {}
_users: dict[str, int] = {}
_lock = threading.Lock()


def connect(address: str) -> Any:
    """A ``distributed.Client`` on ``address`` with at least one worker, or a UserError."""
    with _lock:
        if address in _clients:
            _users[address] += 1
            return _clients[address]
    try:
        from distributed import Client
    except ImportError:
        raise UserError(
            "the dask backend needs dask.distributed, which is not installed here: "
            "pip install 'dask[distributed]'"
        ) from None
    logger = logging.getLogger("distributed")  # its connection retries stay out of the log
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        why = str(exc).split("\n")[0] or type(exc).__name__
        raise UserError(
            f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT_S:g} s "
            f"({why}); start one with `dask scheduler` and pass its address"
        ) from None
    finally:
        logger.setLevel(level)
    if not client.ncores():
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        except (OSError, TimeoutError):
            client.close()
            raise UserError(
                f"the Dask scheduler at {address} has no workers (waited "
                f"{WORKERS_TIMEOUT_S:g} s): start some with `dask worker {address}`"
            ) from None
    with _lock:
        _clients[address] = client
        _users[address] = 1
    return client


def release(address: str) -> None:
    """One stage is done with the client; the last one closes it."""
    with _lock:
        _users[address] = _users.get(address, 1) - 1
        if _users[address] > 0:
            return
        client = _clients.pop(address, None)
        _users.pop(address, None)
    if client is not None:
        with contextlib.suppress(Exception):
            client.close(timeout=2)


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
    import os
    import shutil
    import tempfile

    from joblib.externals.loky.backend import resource_tracker

    roots = {os.environ.get("JOBLIB_TEMP_FOLDER") or "", "/dev/shm", tempfile.gettempdir()}
    for root in filter(None, roots):
        for path in Path(root).glob(f"joblib_memmapping_folder_{os.getpid()}_*"):
            with contextlib.suppress(OSError):
                shutil.rmtree(path)
                resource_tracker.unregister(str(path), "folder")


# ---- pickling the stage function for process workers ------------------------------------
def _library_roots() -> list[Path]:
    paths = sysconfig.get_paths()
    return [
        Path(paths[k]).resolve()
        for k in ("stdlib", "platstdlib", "purelib", "platlib")
        if k in paths
    ]


def ships_by_value(module: ModuleType | None, backend: str) -> bool:
    """Whether a function of ``module`` must travel as code rather than as a name.

    loky workers import by name from the same ``sys.path``: only a module pipebench had to
    load under a made-up name needs its code shipped. Dask workers run elsewhere and have
    installed packages but not the user's files: any module outside the installed
    libraries (and outside pipebench) is shipped by value.
    """
    if module is None or module.__name__ == "__main__":
        return False  # cloudpickle ships __main__ by value by itself
    name = module.__name__
    if backend == "loky":
        return name.startswith("_pipebench_")
    if name.split(".")[0] == "workbench":
        return False
    file = getattr(module, "__file__", None)
    if not file:
        return False
    path = Path(file).resolve()
    return not any(path.is_relative_to(root) for root in _library_roots())


def _modules_of(fn: Any) -> list[ModuleType]:
    out = []
    for obj in (fn, getattr(fn, "func", None), type(fn)):
        mod = sys.modules.get(getattr(obj, "__module__", None) or "")
        if mod is not None and mod not in out:
            out.append(mod)
    return out


def dumps_function(fn: Callable[..., Any], backend: str, stage_name: str) -> bytes:
    """``fn`` pickled for ``backend``'s workers, or a UserError that says it cannot be."""
    import cloudpickle

    registered = set(cloudpickle.list_registry_pickle_by_value())
    added = [
        m for m in _modules_of(fn) if ships_by_value(m, backend) and m.__name__ not in registered
    ]
    for m in added:
        cloudpickle.register_pickle_by_value(m)
    try:
        return cloudpickle.dumps(fn)  # type: ignore[no-any-return]
    except Exception as exc:
        why = str(exc).split("\n")[0]
        raise UserError(
            f"stage {stage_name}: its function cannot be pickled to send to {backend} "
            f"worker processes ({type(exc).__name__}: {why}); define it at module level "
            "without unpicklable state (open files, locks, generators), or run with "
            "--backend threading"
        ) from None
    finally:
        for m in added:
            cloudpickle.unregister_pickle_by_value(m)


@dataclass
class Opened:
    """A backend ready for one stage: how to make its ``Parallel`` and its parallelism."""

    choice: BackendChoice
    workers: int  # tasks that can run at once
    client: Any = None
    extra: dict[str, Any] = field(default_factory=dict)  # shown with the stage's figures
    holds_loky: bool = False

    def parallel(self, ordered: bool) -> Any:
        """A new ``joblib.Parallel`` with its own backend instance, results as a generator."""
        from joblib import Parallel, parallel_config

        kwargs: dict[str, Any] = dict(
            n_jobs=self.workers,
            return_as="generator" if ordered else "generator_unordered",
            pre_dispatch="all",
            batch_size=1,
        )
        if self.choice.name != "dask":
            return Parallel(backend=self.choice.name, **kwargs)
        backend = _dask_backend_class()
        if backend is not None:
            return Parallel(backend=backend(client=self.client), **kwargs)
        with parallel_config(backend="dask", client=self.client):
            return Parallel(**kwargs)

    def close(self) -> None:
        """The stage is over: release the Dask client, or the loky workers if no other
        parallel stage of this process still uses them."""
        if self.client is not None and self.choice.scheduler:
            release(self.choice.scheduler)
            self.client = None
        if self.holds_loky:
            self.holds_loky = False
            _release_loky()


_DASK_BACKEND: list[Any] = []


def _dask_backend_class() -> Any:
    """joblib's dask backend, made to report a task that failed outside the function (its
    worker died: ``KilledWorker``). joblib 1.6 sets that error on a future nobody reads and
    never calls back, so a streaming ``Parallel`` would wait forever. None if joblib's
    internals are not the ones this was written for (the plain backend is used then)."""
    if _DASK_BACKEND:
        return _DASK_BACKEND[0]
    try:
        from joblib._dask import DaskDistributedBackend
    except ImportError:
        DaskDistributedBackend = None  # noqa: N806
    if DaskDistributedBackend is None or not hasattr(DaskDistributedBackend, "_collect"):
        _DASK_BACKEND.append(None)
        return None

    class ReportingDaskBackend(DaskDistributedBackend):  # type: ignore[misc, valid-type]
        """Calls joblib back with the error of a failed task, so that it is raised."""

        async def _collect(self) -> None:
            import asyncio

            while self._continue:
                async for future, result in self.waiting_futures:
                    cf_future = self._results.pop(future)
                    callback = self._callbacks.pop(future)
                    if future.status == "error":
                        _typ, exc, _tb = result
                        cf_future.set_exception(exc)
                        callback(exc)  # joblib registers it as the task's error
                    else:
                        cf_future.set_result(result)
                        callback(result)
                await asyncio.sleep(0.01)

    _DASK_BACKEND.append(ReportingDaskBackend)
    return ReportingDaskBackend


def open_backend(choice: BackendChoice, workers: int) -> Opened:
    """Make ``choice`` ready for a stage asking for ``workers`` (a Dask cluster uses all of
    its threads, as joblib's dask backend does)."""
    if choice.name == "loky":
        global _loky_users
        with _lock:
            _loky_users += 1
        return Opened(choice, workers, holds_loky=True)
    if choice.name != "dask":
        return Opened(choice, workers)
    assert choice.scheduler
    client = connect(choice.scheduler)
    threads = sum(client.ncores().values()) or 1
    return Opened(choice, threads, client, {"cluster_workers": len(client.ncores())})
