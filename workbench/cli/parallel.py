"""``pipebench run --backend/--scheduler``: where a run's parallel stages run.

The choice reaches the runner child through the environment it inherits
(``PIPEBENCH_BACKEND``, ``PIPEBENCH_DASK_SCHEDULER``), the same variables a user can set
instead of the options; the child checks it again when it builds a parallel stage.
"""

from __future__ import annotations

import argparse
import os

from workbench.authoring.parallel_backends import (
    BACKEND_ENV,
    BACKENDS,
    SCHEDULER_ENV,
    check_backend,
    check_scheduler,
)
from workbench.errors import UserError


def _backend(text: str) -> str:
    try:
        return check_backend(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _scheduler(text: str) -> str:
    try:
        return check_scheduler(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``pipebench run`` for parallel stages."""
    p.add_argument(
        "--backend",
        type=_backend,
        metavar="{" + ",".join(BACKENDS) + "}",
        help=f"where stage(fn, workers=N) stages run (default loky, or ${BACKEND_ENV})",
    )
    p.add_argument(
        "--scheduler",
        type=_scheduler,
        metavar="tcp://HOST:PORT",
        help=f"the Dask scheduler for --backend dask (or ${SCHEDULER_ENV})",
    )


def apply(args: argparse.Namespace) -> None:
    """Hand the choice to the runner child through the environment it inherits."""
    backend = args.backend
    if args.scheduler:
        if backend not in (None, "dask"):
            raise UserError(f"--scheduler is for --backend dask, not --backend {backend}")
        backend = "dask"
        os.environ[SCHEDULER_ENV] = args.scheduler
    if backend == "dask" and not os.environ.get(SCHEDULER_ENV):
        raise UserError(
            f"--backend dask needs --scheduler tcp://HOST:PORT (or {SCHEDULER_ENV}); start a "
            "scheduler with `dask scheduler`"
        )
    if backend:
        os.environ[BACKEND_ENV] = backend
