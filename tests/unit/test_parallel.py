"""Parallel stages in this process: outputs, bounded look-ahead, counters, refusals."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import numpy as np
import pytest

from workbench import PipelineDefinitionError, stage
from workbench.authoring.parallel import REGISTRY, verdict
from workbench.authoring.parallel_backends import (
    BackendChoice,
    check_dashboard,
    check_scheduler,
    choice_from_env,
)
from workbench.authoring.parallel_stats import ParallelStats
from workbench.engine.sections.parallel import ParallelSection
from workbench.errors import UserError
from workbench.views.parallel import parallel_view


def work(x: int) -> int:
    """Deterministic, with uneven durations so that completion order differs from input."""
    time.sleep(0.004 * (x % 4))
    return x * x + 1


def expected(n: int) -> list[int]:
    return [work(x) for x in range(n)]


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch):
    def use(name: str, scheduler: str | None = None) -> None:
        monkeypatch.setenv("PIPEBENCH_BACKEND", name)
        if scheduler:
            monkeypatch.setenv("PIPEBENCH_DASK_SCHEDULER", scheduler)
        else:
            monkeypatch.delenv("PIPEBENCH_DASK_SCHEDULER", raising=False)

    return use


def test_threading_gives_the_serial_outputs_in_order(backend) -> None:
    backend("threading")
    assert list(stage(work, workers=3)(iter(range(150)))) == expected(150)
    stats = REGISTRY[-1].snapshot()
    assert stats["state"] == "done" and stats["in_flight"] == 0
    assert stats["completed"] > 0 and stats["serial_batches"] >= 3
    assert stats["completed"] + stats["serial_batches"] + stats["warmup_batches"] == 150
    assert stats["items"] == 150 and stats["workers"] == 3


def test_unordered_gives_the_same_multiset(backend) -> None:
    backend("threading")
    out = list(stage(work, workers=3, ordered=False)(iter(range(150))))
    assert sorted(out) == sorted(expected(150))


def test_loky_gives_the_serial_outputs_in_order(backend) -> None:
    backend("loky")
    assert list(stage(work, workers=2)(iter(range(150)))) == expected(150)
    stats = REGISTRY[-1].snapshot()
    assert stats["workers_seen"] == 2 and stats["backend"] == "loky"
    assert stats["serial_items_per_s"] > 0 and stats["items_per_s"] > 0


def test_upstream_is_pulled_lazily_and_in_the_main_thread(backend) -> None:
    backend("threading")
    pulled: list[int] = []
    threads: set[int] = set()

    def source():
        for x in range(150):
            pulled.append(x)
            threads.add(threading.get_ident())
            yield x

    chain = stage(work, workers=2, pre_dispatch=4)(source())
    for i, _ in enumerate(chain):
        assert len(pulled) - (i + 1) <= 4  # never more than pre_dispatch ahead
    assert threads == {threading.get_ident()}
    assert REGISTRY[-1].peak_in_flight <= 4


def test_an_error_in_the_function_ends_the_stage_with_it(backend) -> None:
    backend("threading")

    def bad(x: int) -> int:
        if x == 120:
            raise ValueError("item 120 is bad")
        return work(x)

    out = []
    with pytest.raises(ValueError, match="item 120 is bad"):
        for v in stage(bad, workers=2)(iter(range(200))):
            out.append(v)
    # joblib raises as soon as a task fails: results of its call not yet handed out are lost
    assert out == expected(len(out)) and len(out) >= 120 - 4
    assert REGISTRY[-1].snapshot()["state"] == "failed"


def test_closing_early_stops_the_workers(backend) -> None:
    backend("loky")
    chain = stage(work, workers=2)(iter(range(1000)))
    got = [next(chain) for _ in range(100)]
    chain.close()  # type: ignore[attr-defined]
    assert got == expected(100) and REGISTRY[-1].completed > 0
    assert REGISTRY[-1].snapshot()["state"] == "closed"


def test_a_function_that_cannot_be_pickled_is_refused_for_processes(backend) -> None:
    backend("loky")
    lock = threading.Lock()

    def locked(x: int) -> int:
        with lock:
            return x

    with pytest.raises(UserError, match="cannot be pickled.*--backend threading"):
        stage(locked, workers=2)(iter(range(3)))
    backend("threading")  # threads need no pickling
    assert list(stage(locked, workers=2)(iter(range(300)))) == list(range(300))


def test_multiprocessing_is_refused_with_the_reason(backend) -> None:
    backend("multiprocessing")
    with pytest.raises(UserError, match="cannot stream results"):
        stage(work, workers=2)(iter(range(3)))


def test_dask_alone_means_a_local_cluster_and_options_are_checked(backend, monkeypatch) -> None:
    backend("dask")
    assert choice_from_env() == BackendChoice("dask", None, None, None)  # a local cluster
    monkeypatch.setenv("PIPEBENCH_WORKERS", "3")
    monkeypatch.setenv("PIPEBENCH_DASK_DASHBOARD", "8788")
    assert choice_from_env() == BackendChoice("dask", None, 3, "127.0.0.1:8788")
    monkeypatch.setenv("PIPEBENCH_DASK_SCHEDULER", "127.0.0.1:8786")
    with pytest.raises(UserError, match="an attached cluster serves its own dashboard"):
        choice_from_env()
    monkeypatch.setenv("PIPEBENCH_WORKERS", "0")
    with pytest.raises(UserError, match="not a number of workers"):
        choice_from_env()
    assert check_scheduler("127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    assert check_scheduler("tcp://host.example:1") == "tcp://host.example:1"
    assert check_scheduler("tls://127.0.0.1:1") == "tls://127.0.0.1:1"
    with pytest.raises(UserError, match="not a Dask scheduler address"):
        check_scheduler("localhost")
    assert check_dashboard("0.0.0.0:80") == "0.0.0.0:80"
    with pytest.raises(UserError, match="not a dashboard address"):
        check_dashboard("http://x")


def test_an_unreachable_scheduler_fails_within_seconds_naming_it(backend) -> None:
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    backend("dask", address)
    t0 = time.monotonic()
    with pytest.raises(UserError, match=f"cannot reach the Dask scheduler at {address}"):
        stage(work, workers=2)(iter(range(3)))
    assert time.monotonic() - t0 < 8


def test_workers_must_be_a_positive_whole_number() -> None:
    with pytest.raises(PipelineDefinitionError, match="workers must be"):
        stage(work, workers=0)
    with pytest.raises(PipelineDefinitionError, match="pre_dispatch must be"):
        stage(work, workers=2, pre_dispatch=-1)
    assert stage(work).workers is None  # no workers: an ordinary stage


def test_the_example_twin_computes_what_the_serial_stage_does() -> None:
    from pipelines.numpy_batches import random_features, random_features_batch

    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((64, 8)).astype(np.float32) for _ in range(3)]
    for a, b in zip(random_features(iter(batches)), batches, strict=True):
        np.testing.assert_allclose(a, random_features_batch(b), rtol=1e-5, atol=1e-5)


def test_verdicts_and_view() -> None:
    base = {
        "state": "parallel",
        "error": None,
        "completed": 50,
        "workers": 2,
        "efficiency": 0.9,
        "utilization": 0.95,
        "waiting": 0.9,
        "task_s": 0.05,
        "serial_task_s": 0.05,
    }
    assert verdict(base).startswith("compute-bound")
    assert verdict({**base, "utilization": 0.2, "waiting": 0.8}).startswith("overhead-bound")
    assert verdict({**base, "utilization": 0.2, "waiting": 0.1}).startswith("fed too slowly")
    assert parallel_view(ParallelSection(backend="loky")) is None
    row = {
        **stage_figures(),
        **base,
        "stage": "f",
        "backend": "loky",
        "in_flight": 1,
        "max_in_flight": 4,
        "items_per_s": 10.0,
        "serial_items_per_s": 6.0,
        "speedup": 1.7,
        "serial_batches": 3,
        "wait_s": 1.0,
        "startup_s": 0.5,
        "verdict": "ok",
    }
    section = ParallelSection.from_json({"backend": "loky", "scheduler": None, "stages": [row]})
    assert parallel_view(section) is not None


def stage_figures() -> dict[str, Any]:
    """Every figure of a parallel stage, as a stage that ran nothing yet has them."""
    return ParallelStats("f", 1, "loky", None, 2, 2, True, 4).snapshot()


def _dask_section(
    stage: str = "[bold]feat[/]", worker: str = "tls://127.0.0.1:1[/x]"
) -> ParallelSection:
    row = {
        **stage_figures(),
        "stage": stage,
        "index": 1,
        "backend": "dask",
        "state": "parallel",
        "error": None,
        "workers": 2,
        "in_flight": 2,
        "max_in_flight": 4,
        "completed": 40,
        "items_per_s": 50.0,
        "serial_items_per_s": 100.0,
        "speedup": 0.5,
        "efficiency": 0.25,
        "utilization": 0.3,
        "waiting": 0.9,
        "task_s": 0.004,
        "serial_task_s": 0.004,
        "serial_batches": 5,
        "serial_where": "one worker",
        "wait_s": 1.5,
        "startup_s": 0.1,
        "open_s": 2.5,
        "stage_s": 4.0,
        "workers_not_listed": 0,
        "per_worker": [
            {
                "worker": worker,
                "tasks": 30,
                "busy_s": 0.12,
                "cpu_s": 0.1,
                "memory_bytes": 70 * 2**20,
                "memory_peak_bytes": 72 * 2**20,
                "memory_limit_bytes": 2**33,
            }
        ],
        "transfer": {
            "function_bytes": 600,
            "sent_values": 45,
            "sent_bytes": 45 * 700,
            "sent_pickle_s": 0.01,
            "sent_unpickle_s": 0.002,
            "received_results": 45,
            "received_bytes": 45 * 100,
            "received_pickle_s": 0.002,
            "received_unpickle_s": 0.003,
            "submit_s": 0.05,
            "main_thread_s": 0.063,
            "bytes_per_task": 800.0,
            "main_thread_s_per_task": 0.0014,
            "task_overhead_s": 0.011,
        },
    }
    row["verdict"] = verdict(row)
    cluster = {
        "kind": "local",
        "scheduler": "tls://127.0.0.1:4000",
        "workers": 2,
        "dashboard": None,
        "security": "TLS, credentials made for this run",
    }
    return ParallelSection.from_json(
        {
            "backend": "dask",
            "scheduler": cluster["scheduler"],
            "cluster": cluster,
            "stages": [row],
        }
    )


def test_scale_out_that_does_not_pay_says_so_with_what_moving_data_costs() -> None:
    row = _dask_section().stages[0]
    assert row.verdict.startswith("scale-out does not pay: 0.50x the rate of one worker")
    assert "each task moves 800 B" in row.verdict
    assert "11.0 ms round trip beyond its compute" in row.verdict


def test_views_show_workers_and_transfer_and_keep_user_text_as_text() -> None:
    from rich.console import Console

    from workbench.ui.widgets.parallel_panel import parallel_text

    data = _dask_section()
    console = Console(width=140, record=True, color_system=None)
    console.print(parallel_view(data))
    shown = console.export_text()
    assert "local cluster at tls://127.0.0.1:4000" in shown and "dashboard: off" in shown
    assert "[bold]feat[/]" in shown and "tls://127.0.0.1:1[/x]" in shown  # not markup
    assert "70.0 MiB" in shown and "moving data: 45 values" in shown
    panel = parallel_text(data).plain
    assert "[bold]feat[/]" in panel and "tls://127.0.0.1:1[/x] 30 tasks · busy 3%" in panel
    assert "moving data: 800 B" in panel
    evil = _dask_section("\x1b]0;title\x07\x1b[2Jname", "w\x1b[31m")
    console = Console(width=140, record=True, color_system=None)
    console.print(parallel_view(evil))
    assert "\x1b" not in console.export_text() and "\x1b" not in parallel_text(evil).plain
