"""How a Dask stage names a failed task whose future's status lags its error: seen on a
real cluster under load (tests/integration/test_parallel_dask.py), where the race cannot be
forced; here a stand-in future raises as Dask's does."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("distributed")

from distributed import KilledWorker  # noqa: E402

from workbench.authoring.parallel_dask import DaskClusterLost, DaskStage  # noqa: E402


class Future:
    def __init__(self, status: str, error: BaseException):
        self.status, self.key, self.error = status, "pipebench-st-1", error

    def result(self, timeout: float | None = None) -> Any:
        raise self.error


def stage() -> DaskStage:
    st = object.__new__(DaskStage)
    st.pending = {"pipebench-st-1"}
    st.cluster = SimpleNamespace(address="tcp://127.0.0.1:1", check=lambda waiting: None)
    st.client = SimpleNamespace(status="running")
    return st


def test_a_worker_death_raised_before_the_status_says_error_is_killed_worker() -> None:
    died = KilledWorker("pipebench-st-1", SimpleNamespace(address="tcp://127.0.0.1:2"), 0)
    with pytest.raises(KilledWorker):
        stage().collect(Future("finished", died))


def test_a_broken_connection_is_the_cluster_lost() -> None:
    with pytest.raises(DaskClusterLost, match="connection closed mid-run"):
        stage().collect(Future("finished", OSError("connection reset")))
