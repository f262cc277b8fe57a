"""``pipebench run --backend/--workers/--scheduler/--dask-dashboard``: where a run's
parallel stages run.

The choice reaches the runner child through the environment it inherits
(``PIPEBENCH_BACKEND``, ``PIPEBENCH_WORKERS``, ``PIPEBENCH_DASK_SCHEDULER``,
``PIPEBENCH_DASK_DASHBOARD``), the same variables a user can set instead of the options;
the child checks it again when it builds a parallel stage.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from collections.abc import Callable

from workbench.authoring.parallel_backends import (
    BACKEND_ENV,
    BACKENDS,
    DASHBOARD_ENV,
    DEFAULT_DASHBOARD,
    SCHEDULER_ENV,
    WORKERS_ENV,
    check_backend,
    check_dashboard,
    check_scheduler,
    check_workers,
)
from workbench.errors import UserError


def _arg_type(check: Callable[[str], object]) -> Callable[[str], object]:
    def convert(text: str) -> object:
        try:
            return check(text)
        except UserError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None

    convert.__name__ = check.__name__.removeprefix("check_")
    return convert


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``pipebench run`` for parallel stages."""
    p.add_argument(
        "--backend",
        type=_arg_type(check_backend),
        metavar="{" + ",".join(BACKENDS) + "}",
        help=(
            f"where stage(fn, workers=N) stages run (default loky, or ${BACKEND_ENV}); "
            "dask alone starts a local Dask cluster on 127.0.0.1 for the run"
        ),
    )
    p.add_argument(
        "--workers",
        type=_arg_type(check_workers),
        metavar="N",
        help=(
            "workers of every parallel stage, instead of the workers= in the code: loky "
            f"processes, threads, or the local Dask cluster's worker processes (or ${WORKERS_ENV})"
        ),
    )
    p.add_argument(
        "--scheduler",
        type=_arg_type(check_scheduler),
        metavar="tcp://HOST:PORT",
        help=f"attach to this running Dask cluster instead (implies --backend dask; or ${SCHEDULER_ENV})",
    )
    p.add_argument(
        "--dask-dashboard",
        nargs="?",
        const=DEFAULT_DASHBOARD,
        type=_arg_type(check_dashboard),
        metavar="[HOST:]PORT",
        help=(
            f"serve the local Dask cluster's dashboard (default {DEFAULT_DASHBOARD}; needs "
            f"bokeh; or ${DASHBOARD_ENV}); off unless asked"
        ),
    )


def apply(args: argparse.Namespace) -> None:
    """Hand the choice to the runner child through the environment it inherits."""
    backend = args.backend
    if args.scheduler:
        if backend not in (None, "dask"):
            raise UserError(f"--scheduler is for --backend dask, not --backend {backend}")
        backend = "dask"
        os.environ[SCHEDULER_ENV] = args.scheduler
    if args.dask_dashboard:
        if backend not in (None, "dask"):
            raise UserError(f"--dask-dashboard is for --backend dask, not --backend {backend}")
        if args.scheduler or os.environ.get(SCHEDULER_ENV):
            raise UserError(
                "--dask-dashboard is for the local cluster pipebench starts; an attached "
                "cluster serves its own dashboard"
            )
        if importlib.util.find_spec("bokeh") is None:
            raise UserError(
                "--dask-dashboard needs bokeh, which is not installed: pip install bokeh"
            )
        backend = "dask"
        os.environ[DASHBOARD_ENV] = args.dask_dashboard
    if args.workers:
        os.environ[WORKERS_ENV] = str(args.workers)
    if backend:
        os.environ[BACKEND_ENV] = backend
